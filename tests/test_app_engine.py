"""A slice of the editor's flow against the real engine (the tiny random-weight model), so
that the editor's offsets, frames and candidates are the engine's own, not a fake's.

The tiny model's fills are noise: the tests check structure (what is kept outside the spans,
which frames exist, which candidate is applied), never the text of a fill.
"""

from __future__ import annotations

import threading

import pytest

from infill.app import make_app
from infill.markers import REWRITE
from infill.trajectory import MASK_GLYPH
from test_app_flow import MARKED, wait_for
from test_app_support import SOURCE, accept_anyway

pytestmark = pytest.mark.anyio


class Held:
    """The real filler, paused at its first frame until ``release`` is set."""

    def __init__(self, filler) -> None:
        self.filler = filler
        self.info = filler.info
        self.reached = threading.Event()
        self.release = threading.Event()

    def fill_spans(self, *args, on_frame=None, **kwargs):
        def held(frame) -> None:
            on_frame(frame)
            if not self.reached.is_set():
                self.reached.set()
                self.release.wait(30)

        return self.filler.fill_spans(*args, on_frame=held, **kwargs)


def _outside(text: str, spans) -> list[str]:
    """The pieces of ``text`` around ``spans`` (SpanFill or Span offsets)."""
    pieces, at = [], 0
    for s in sorted(spans, key=lambda s: s.start):
        pieces.append(text[at:s.start])
        at = s.end
    return pieces + [text[at:]]


async def test_candidates_and_replay_come_from_the_engine(tmp_path, tiny_filler):
    path = tmp_path / "sample.py"
    path.write_text(SOURCE)
    app = make_app(str(path), filler=tiny_filler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.set_options(app.options.with_(candidates=3, steps=4))
        app.editor.move_cursor((1, 11))
        await pilot.press("shift+end", "ctrl+f", "ctrl+g")
        await wait_for(pilot, lambda: app.state == "review", timeout=60)
        run = app.fill_run
        count = 1 + len(run.result.candidates)
        assert f"candidate 1/{count}" in app.status.detail
        assert run.frames[-1].masked == 0  # the live frames reached the end
        if count > 1:
            await pilot.press("ctrl+k")
            assert f"candidate 2/{count}" in app.status.detail
            assert run.chosen is run.result.candidates[0]
        frames = run.trajectory()
        await pilot.press("left")
        assert run.replay == len(frames) - 1
        assert f"replay step {len(frames)}/{len(frames)}" in app.status.detail
        if frames[0].masked:
            for _ in frames[1:]:
                await pilot.press("left")
            assert run.replay == 0 and MASK_GLYPH in app.preview.text
        await pilot.press(*["right"] * len(frames))
        assert run.replay is None
        chosen = run.chosen

        await accept_anyway(app, pilot)
        assert app.editor.text == chosen.text
        at = SOURCE.index("a + b")
        assert _outside(app.editor.text, chosen.spans) == [SOURCE[:at], SOURCE[at + 5:]]


async def test_a_rewrite_below_full_strength_is_scored_first_and_keeps_its_neighbours(
        tmp_path, tiny_filler):
    path = tmp_path / "marked.py"
    path.write_text(MARKED)
    app = make_app(str(path), filler=tiny_filler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        spans = app.editor.spans
        before = app.editor.text
        assert [s.kind for s in spans] == ["hole", REWRITE] and spans[1].strength == 0.5
        app.set_options(app.options.with_(steps=5))
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review", timeout=60)
        result = app.fill_run.result
        assert app.fill_run.frames[0].step == 0  # the scoring pass, live
        assert result.trajectory[0].step == 0
        assert _outside(result.text, result.spans) == _outside(before, spans)
        await accept_anyway(app, pilot)
        assert app.editor.text == result.text and app.editor.spans == ()
        assert _outside(app.editor.text, result.spans) == _outside(before, spans)


async def test_cancel_stops_the_real_engine_and_keeps_the_buffer(tmp_path, tiny_filler):
    path = tmp_path / "marked.py"
    path.write_text(MARKED)
    filler = Held(tiny_filler)
    app = make_app(str(path), filler=filler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        before, spans = app.editor.text, app.editor.spans
        await pilot.press("ctrl+g")
        await wait_for(pilot, filler.reached.is_set, timeout=60)
        # Held after the scoring pass of the strength-0.5 rewrite: slots are still masked,
        # so the engine must reach its next step and see the cancel there.
        await pilot.press("escape")
        filler.release.set()
        await wait_for(pilot, lambda: app.state == "edit", timeout=60)
        assert app.status.state == "cancelled"
        assert app.editor.text == before and app.editor.spans == spans
        assert path.read_text() == MARKED
