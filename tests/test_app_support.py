"""Helpers for the editor's tests: a fake filler that follows the engine API of CONTRACTS.md.

The fake is deterministic and fast: it emits ``steps`` frames (a few slots committed per
step, with fixed confidences and elapsed times), honours ``cancel`` and can be held at a
step with a gate, so tests can look at the UI mid-fill. No model, no torch work.
"""

from __future__ import annotations

import threading
import time

from infill.errors import Cancelled
from infill.fills import Candidate, Fill, FillerLike, FillResult, ModelInfo, make_candidate
from infill.markers import Span
from infill.options import FillOptions
from infill.trajectory import KEPT, MASKED, NEW, Frame, Slot


# A small module the editor's tests open and edit.
SOURCE = '''def add(a, b):
    return a + b


def scale(values, factor):
    result = []
    for v in values:
        result.append(v * factor)
    return result
'''

FAKE_INFO = ModelInfo("fake-model", "fake", "fake", "cpu", 0, 1024, {})


def _is_filler(filler: FillerLike) -> FillerLike:  # the fake must satisfy the engine's protocol
    return filler


def _tokens(text: str) -> list[str]:
    return [text[i:i + 3] for i in range(0, len(text), 3)]


class FakeFiller:
    """Fills span i with ``fills[i]`` (or ``fill{i}``); candidate k appends ``  # k``."""

    def __init__(self, fills: list[str] | None = None, steps: int = 4, delay: float = 0.0,
                 nulls: int = 2) -> None:
        self.info = FAKE_INFO
        self.fills = fills or []
        self.steps = steps
        self.delay = delay
        self.nulls = nulls
        self.calls: list[dict] = []
        self.hold_at: int | None = None       # block before emitting this step...
        self.release = threading.Event()      # ...until this is set
        self.reached = threading.Event()      # set when the fill is held

    def _fill_for(self, i: int, k: int, seed: int) -> str:
        base = self.fills[i] if i < len(self.fills) else f"fill{i}"
        if seed:
            base = f"{base}_s{seed}"
        return base if k == 0 else f"{base}_c{k}"

    def fill_spans(self, text, spans, language=None, seed=0, *, path=None, options=None,
                   on_frame=None, cancel=None) -> FillResult:
        options = options or FillOptions()
        self.calls.append({"text": text, "spans": tuple(spans), "seed": seed, "options": options})
        ordered = sorted(spans, key=lambda s: (s.start, s.end))
        k_count = options.candidate_count()
        tokens = [_tokens(self._fill_for(i, 0, seed)) for i in range(len(ordered))]
        layout = [(i, j) for i, toks in enumerate(tokens) for j in range(len(toks) + self.nulls)]
        order = sorted(range(len(layout)), key=lambda n: (n * 7) % len(layout)) if layout else []
        per_step = max(1, -(-len(layout) // self.steps))
        committed_at: dict[int, int] = {}
        frames = []
        for step in range(1, self.steps + 1):
            for n in order[(step - 1) * per_step: step * per_step]:
                committed_at[n] = step
            slots = []
            for n, (i, j) in enumerate(layout):
                when = committed_at.get(n)
                null = j >= len(tokens[i])
                if when is None:
                    slots.append(Slot(i, "", MASKED, 0.0))
                else:
                    confidence = (0.95, 0.6, 0.3)[n % 3]
                    slots.append(Slot(i, "" if null else tokens[i][j], NEW if when == step else KEPT,
                                      confidence, null))
            frame = Frame(step, tuple(slots), 0, round(0.1 * step, 3))
            if self.hold_at == step:
                self.reached.set()
                while not self.release.wait(0.02):
                    if cancel is not None and cancel.is_set():
                        break
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            frames.append(frame)
            if on_frame is not None:
                on_frame(frame)
            if self.delay:
                time.sleep(self.delay)
        candidates = [self._candidate(text, ordered, k, seed) for k in range(k_count)]
        best = candidates[0]
        return FillResult(best.text, best.spans, tuple(candidates[1:]), tuple(frames), best.score,
                          None, self.steps, 0.5, language or "python")

    def _candidate(self, text: str, ordered: list[Span], k: int, seed: int) -> Candidate:
        """Spliced and located by the engine's own fill stage (no offset arithmetic here)."""
        fills = [Fill(fill, (0.95, 0.6, 0.3)[i % 3], -0.5 - k, 1, len(_tokens(fill)), False)
                 for i, fill in enumerate(self._fill_for(i, k, seed) for i in range(len(ordered)))]
        return make_candidate(text, ordered, range(len(ordered)), fills, lambda new_text: None)


async def accept_anyway(app, pilot) -> None:
    """Enter accepts; the tiny model writes noise, so the quality guard may ask for a second
    enter first (the editor lets the user accept anyway)."""
    await pilot.press("enter")
    await pilot.pause()
    if app.state == "review":
        assert app.fill_run.refusals()
        await pilot.press("enter")
        await pilot.pause()
