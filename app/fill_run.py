"""One fill, from the generate key to accept or reject: its input, frames, result and view.

Plain state, no Textual: the worker thread appends frames, the UI reads them. The candidates
of a result are the best one (``result`` itself) then ``result.candidates``, best first.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from infill.guard import caution_fills, guard_fills
from infill.markers import Span
from infill.options import FillOptions
from infill.trajectory import REMASKED, Frame

from .options import EditorOptions
from .painting import Painted, paint_frame, paint_result, span_marks


@dataclass
class FillRun:
    id: int
    text: str                       # the buffer when generate was pressed
    spans: tuple[Span, ...]         # sorted by start: frame slots index this order
    seed: int
    options: EditorOptions
    language: str | None = None
    overrides: dict = field(default_factory=dict)  # e.g. a temperature for regenerate
    cancel: threading.Event = field(default_factory=threading.Event)
    frames: list[Frame] = field(default_factory=list)
    result: Any = None
    choice: int = 0                 # 0: the best candidate; i: result.candidates[i - 1]
    replay: int | None = None       # a frame index while replaying, None: the final result
    started: float = field(default_factory=time.perf_counter)
    first_shown: float | None = None  # seconds from generate to the first frame on screen
    _revised: set[int] = field(default_factory=set)
    _seen: int = 0                  # frames scanned for re-masked slots
    guard_warned: int | None = None  # the candidate whose guard warning the user has seen

    def fill_options(self) -> FillOptions:
        return self.options.fill_options().with_(**self.overrides)

    # -- while it runs ---------------------------------------------------------------------

    def latest(self) -> Frame | None:
        return self.frames[-1] if self.frames else None

    def paint_latest(self) -> Painted:
        frame = self.latest()
        if frame is None:
            return Painted(self.text, span_marks(self.spans))
        return self.paint(frame, self.frames)

    def paint(self, frame: Frame, frames: list[Frame] | tuple[Frame, ...]) -> Painted:
        if frames is self.frames:
            for earlier in frames[self._seen:]:
                self._revised.update(i for i, s in enumerate(earlier.slots) if s.state == REMASKED)
            self._seen = len(frames)
            revised = frozenset(self._revised)
        else:
            upto = frames[:frames.index(frame) + 1] if frame in frames else frames
            revised = frozenset(i for f in upto for i, s in enumerate(f.slots) if s.state == REMASKED)
        return paint_frame(self.text, self.spans, frame, revised)

    # -- under review ----------------------------------------------------------------------

    @property
    def candidates(self) -> list[Any]:
        if self.result is None:
            return []
        return [self.result, *self.result.candidates]

    @property
    def chosen(self) -> Any:
        return self.candidates[self.choice]

    def trajectory(self) -> tuple[Frame, ...]:
        """Frames to replay: the engine's trajectory of the returned candidate."""
        if self.result is None:
            return ()
        return tuple(self.result.trajectory) or tuple(self.frames)

    def paint_review(self) -> Painted:
        if self.replay is not None:
            frames = self.trajectory()
            return self.paint(frames[self.replay], frames)
        frames = self.trajectory()
        final = frames[-1] if frames and self.choice == 0 else None
        return paint_result(self.chosen.text, self.chosen.spans, final)

    def next_candidate(self) -> int:
        self.choice = (self.choice + 1) % max(len(self.candidates), 1)
        self.replay = None
        return self.choice

    def step_replay(self, delta: int) -> None:
        """Move the replay by ``delta`` frames; past the last frame is the final result."""
        frames = self.trajectory()
        if not frames:
            return
        last = len(frames) - 1
        position = last + 1 if self.replay is None else self.replay
        position = min(max(position + delta, 0), last + 1)
        self.replay = None if position > last else position
        if self.replay is not None:
            self.choice = 0

    def refusals(self) -> list:
        """What the quality guard says against the chosen candidate (``infill.guard``)."""
        return self._judged(guard_fills)

    def cautions(self) -> list:
        """What the guard says about the chosen candidate's fills that it would still write
        (``guard.caution_fills``: names nothing in view binds, code cut off, repeats)."""
        return self._judged(caution_fills)

    def _judged(self, judge) -> list:
        if self.result is None:
            return []
        language = getattr(self.result, "language", None) or self.language
        fills = [span.text for span in self.chosen.spans]
        if len(fills) != len(self.spans):
            return []
        return judge(self.text, self.spans, fills, language)

    def mean_confidence(self) -> float:
        spans = self.chosen.spans
        return sum(s.confidence for s in spans) / len(spans) if spans else 0.0
