"""Messages the editor's workers and widgets post: dataclasses with past-tense names.

Workers run in threads and only ever talk to the UI through these. ``run`` identifies the fill
a message belongs to, so that a late message from a cancelled or replaced fill is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual.message import Message

from infill.markers import Span


@dataclass
class ModelLoaded(Message):
    filler: Any


@dataclass
class ModelLoadFailed(Message):
    error: str


@dataclass
class FrameArrived(Message):
    """A new frame is in the run's list; only the latest one needs drawing."""

    run: int

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, FrameArrived) and message.run == self.run


@dataclass
class FillFinished(Message):
    run: int
    result: Any


@dataclass
class FillFailed(Message):
    run: int
    error: str


@dataclass
class FillCancelled(Message):
    run: int


@dataclass
class SpansChanged(Message):
    """The editor's spans changed (marked, removed, or moved by an edit)."""

    spans: tuple[Span, ...]


@dataclass
class SpanPicked(Message):
    """The user picked a span in the span list: to jump to it, remove it, or change the
    strength of a rewrite by ``strength``."""

    index: int
    remove: bool = False
    strength: float = 0.0


@dataclass
class DiffItemPicked(Message):
    """The user picked a file (``hunk`` None) or one of its hunks in diff mode's file list."""

    file: int
    hunk: int | None = None
