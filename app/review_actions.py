"""Review keys of the editor: accept, reject, regenerate, candidates, replay.

A part of ``EditorApp`` (a mixin), kept apart so each file reads in one sitting. While a
result is under review the preview shows the chosen candidate and the diff view its patch;
the buffer changes only on accept, as one undoable edit.
"""

from __future__ import annotations

import os

from .diff_view import DiffView
from .files import diff_text
from .keys import REVIEW
from .spans import changed_region

REGENERATE_TEMPERATURE = 0.7  # a new seed changes nothing at temperature 0
REPLAY_INTERVAL = 0.15        # seconds per frame when the replay plays


def _steps(run) -> str:
    """The steps of the shown result, counted as the replay counts them (the last round)."""
    count = len(run.trajectory()) or run.result.forward_passes
    return f"{count} step{'s' * (count != 1)}"


class ReviewActions:
    """Accept, reject, regenerate, next candidate and replay, for ``EditorApp``."""

    _replay_timer = None

    def _show_review(self) -> None:
        run = self.fill_run
        self.preview.show(run.paint_review())
        chosen = run.chosen
        patch_text = diff_text(run.text, chosen.text, self.path)
        self.query_one("#diff", DiffView).show_diff(patch_text, os.path.basename(self.path))
        count = len(run.candidates)
        self.status.state = "review"
        if run.replay is not None:
            frames = run.trajectory()
            self.status.detail = f"replay step {run.replay + 1}/{len(frames)} · → forward"
        else:
            result = run.result
            said = run.refusals() or run.cautions()
            warning = (f" · ⚠ line {said[0].line}: {said[0].reason.split(';')[0]}"
                       if said else "")
            self.status.detail = (f"candidate {run.choice + 1}/{count} · conf "
                                  f"{run.mean_confidence():.2f} · {_steps(run)} · "
                                  f"{result.elapsed:.2f} s{warning}")

    def action_accept(self) -> None:
        run = self.fill_run
        if run is None or not self._need(REVIEW):
            return
        editor = self.editor
        if editor.text != run.text:  # cannot happen from the keys: the buffer is hidden
            self.notify("The buffer changed since generate: nothing applied.", severity="error")
            self._back_to_editor("rejected")
            return
        refusals = run.refusals()
        if refusals and run.guard_warned != run.choice:
            # The quality guard would keep this out of a file; here the user decides.
            run.guard_warned = run.choice
            reasons = "; ".join(f"line {r.line}: {r.reason.split(';')[0]}" for r in refusals)
            self.notify(f"{reasons}. Press enter again to accept anyway, escape to reject.",
                        severity="warning", timeout=8)
            return
        new_text = run.chosen.text
        editor.remember_spans(run.text, editor.spans)
        editor.remember_spans(new_text, ())
        start, old_end, new_end = changed_region(run.text, new_text)
        editor.history.checkpoint()
        editor.replace(new_text[start:new_end], editor.location_of(start), editor.location_of(old_end))
        editor.history.checkpoint()
        editor.set_spans(())
        self._back_to_editor("accepted")
        # Once the buffer is shown again: the cursor after the fill, the view where it was.
        end, scroll = editor.location_of(new_end), self.preview.scroll_offset
        editor.call_after_refresh(editor.move_cursor, end)
        editor.call_after_refresh(editor.scroll_to, *scroll, animate=False, immediate=True)
        self.notify(f"Accepted {len(run.spans)} fill{'s' * (len(run.spans) != 1)} "
                    "(ctrl+z undoes).", timeout=3)

    def action_reject(self) -> None:
        if self._need(REVIEW):
            self._back_to_editor("rejected")

    def action_regenerate(self) -> None:
        if not self._need(REVIEW):
            return
        self.seed += 1
        overrides = {}
        temperature = self.options.temperature
        if temperature is None:
            defaults = getattr(getattr(self.filler, "info", None), "defaults", {}) or {}
            temperature = defaults.get("temperature", 0.0)
        if not temperature:
            overrides["temperature"] = REGENERATE_TEMPERATURE
        self._start_fill(self.seed, overrides)
        self.status.detail = f"seed {self.seed}"

    def action_next_candidate(self) -> None:
        if not self._need(REVIEW):
            return
        if len(self.fill_run.candidates) < 2:
            self.notify("Only one candidate: set more in F4 settings (candidates).")
            return
        self.fill_run.next_candidate()
        self._show_review()

    def action_replay_back(self) -> None:
        self._replay(-1)

    def action_replay_forward(self) -> None:
        self._replay(1)

    def _replay(self, delta: int) -> None:
        if self.fill_run is None or not self._need(REVIEW):
            return
        self._stop_replay_timer()
        self.fill_run.step_replay(delta)
        self._show_review()

    def action_replay_play(self) -> None:
        if self.fill_run is None or not self._need(REVIEW) or not self.fill_run.trajectory():
            return
        self._stop_replay_timer()
        self.fill_run.replay = 0
        self.fill_run.choice = 0
        self._show_review()
        self._replay_timer = self.set_interval(REPLAY_INTERVAL, self._replay_tick)

    def _replay_tick(self) -> None:
        if self.state != REVIEW or self.fill_run is None or self.fill_run.replay is None:
            self._stop_replay_timer()
            return
        self.fill_run.step_replay(1)
        self._show_review()

    def _stop_replay_timer(self) -> None:
        if self._replay_timer is not None:
            self._replay_timer.stop()
            self._replay_timer = None
