"""What the preview shows: the buffer with its spans replaced by a frame or a result.

The document itself is never edited while a fill runs (that would be slow and would flood the
undo history); instead each frame is painted into a read-only preview as plain text plus
*marks*: character ranges with a style name that the code view draws over the syntax colours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from infill.markers import Span
from infill.trajectory import KEPT, MASK_GLYPH, MASKED, NEW, REMASKED, Frame

# Style names, looked up in ``code_view.MARK_STYLES``.
HOLE_MARK = "infill.hole"
REWRITE_MARK = "infill.rewrite"
MASKED_MARK = "infill.masked"
REMASKED_MARK = "infill.remasked"
REVISED_MARK = "infill.revised"


@dataclass(frozen=True)
class Painted:
    """Text for the preview, and ``(start, end, style)`` character ranges to draw over it."""

    text: str
    marks: tuple[tuple[int, int, str], ...] = ()


def confidence_mark(confidence: float, new: bool) -> str:
    """The style for a committed token: its confidence band, bold when new this step."""
    band = "high" if confidence >= 0.8 else "mid" if confidence >= 0.5 else "low"
    return f"infill.{'new' if new else 'kept'}.{band}"


def span_marks(spans: Sequence[Span]) -> tuple[tuple[int, int, str], ...]:
    """Marks for spans in the editor: a hole marks the one cell it sits before."""
    marks = []
    for span in spans:
        if span.start == span.end:
            marks.append((span.start, span.start + 1, HOLE_MARK))
        else:
            marks.append((span.start, span.end, REWRITE_MARK if span.kind == "rewrite" else HOLE_MARK))
    return tuple(marks)


def revised_slots(frames: Sequence[Frame]) -> frozenset[int]:
    """Indexes of slots that were committed, then re-masked, in any of ``frames``."""
    return frozenset(i for frame in frames for i, slot in enumerate(frame.slots)
                     if slot.state == REMASKED)


def paint_frame(text: str, spans: Sequence[Span], frame: Frame,
                revised: frozenset[int] = frozenset()) -> Painted:
    """``text`` with each span replaced by its slots in ``frame``.

    Masked slots are drawn as one dim glyph each; committed tokens are coloured by confidence
    (bold when new at this step); a revised token (committed again after a re-mask) is
    underlined; a committed null slot ("nothing here") is drawn as nothing.
    """
    by_span: dict[int, list[tuple[int, object]]] = {}
    for index, slot in enumerate(frame.slots):
        by_span.setdefault(slot.span, []).append((index, slot))
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
    pieces: list[str] = []
    marks: list[tuple[int, int, str]] = []
    size = cursor = 0
    for i in order:
        span = spans[i]
        before = text[cursor:span.start]
        pieces.append(before)
        size += len(before)
        for index, slot in by_span.get(i, ()):
            if slot.state in (MASKED, REMASKED):
                piece, style = MASK_GLYPH, REMASKED_MARK if slot.state == REMASKED else MASKED_MARK
            elif slot.null or not slot.text:
                continue
            else:
                piece = slot.text
                style = confidence_mark(slot.confidence, slot.state == NEW)
                if index in revised and slot.state in (NEW, KEPT):
                    marks.append((size, size + len(piece), REVISED_MARK))
            marks.append((size, size + len(piece), style))
            pieces.append(piece)
            size += len(piece)
        cursor = span.end
    pieces.append(text[cursor:])
    return Painted("".join(pieces), tuple(marks))


def paint_result(text: str, fills: Sequence[object], final: Frame | None = None) -> Painted:
    """A finished candidate: ``text`` with each fill (``start``/``end``/``confidence``) marked.

    When the final frame's tokens spell the fill exactly, each token gets its own confidence
    colour; otherwise the fill is coloured by its mean confidence.
    """
    marks: list[tuple[int, int, str]] = []
    for i, fill in enumerate(fills):
        start, end = fill.start, fill.end
        tokens = [s for s in final.slots if s.span == i and not s.null and s.text] if final else []
        if tokens and "".join(s.text for s in tokens) == text[start:end]:
            at = start
            for slot in tokens:
                marks.append((at, at + len(slot.text), confidence_mark(slot.confidence, False)))
                at += len(slot.text)
        elif start == end:
            marks.append((start, start + 1, HOLE_MARK))
        else:
            marks.append((start, end, confidence_mark(fill.confidence, False)))
    return Painted(text, tuple(marks))


def committed_tokens(frame: Frame) -> int:
    """Tokens written so far in ``frame`` (nulls count: the model decided them too)."""
    return sum(slot.state in (NEW, KEPT) for slot in frame.slots)


def tokens_per_second(frame: Frame) -> float:
    return committed_tokens(frame) / frame.elapsed if frame.elapsed > 0 else 0.0
