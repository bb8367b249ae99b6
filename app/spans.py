"""Keeping the editor's marked spans in step with the text as the user edits it.

Spans are ``infill.markers.Span``s: character offsets into the buffer text. The TextArea
reports a change only as "the text changed", and undo/redo replay batches of edits, so spans
are re-anchored by comparing the text before and after (common prefix and suffix). That is
one pass over the text per edit, cheap next to the tree-sitter re-parse the TextArea does
anyway, and it is right for typing, pasting, undo and redo alike.
"""

from __future__ import annotations

from dataclasses import replace

from infill.markers import HOLE, REWRITE, Span

ADDED = "added"  # the tag of diff mode's regions over added lines (a "+" in the gutter)


def changed_region(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: ``old[start:old_end]`` became ``new[start:new_end]``."""
    limit = min(len(old), len(new))
    lo, hi = 0, limit  # the common prefix length lies in [lo, hi]
    while lo < hi:  # binary search with slice compares: C speed on large texts
        mid = (lo + hi + 1) // 2
        if old[:mid] == new[:mid]:
            lo = mid
        else:
            hi = mid - 1
    prefix = lo
    lo, hi = 0, limit - prefix
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if old[len(old) - mid:] == new[len(new) - mid:]:
            lo = mid
        else:
            hi = mid - 1
    suffix = lo
    return prefix, len(old) - suffix, len(new) - suffix


def remap_spans(spans: tuple[Span, ...], old: str, new: str) -> tuple[Span, ...]:
    """Move ``spans`` from ``old`` to ``new``.

    Typing inside a span grows it, typing at a span's start or at a hole pushes it along;
    an edit across a boundary trims the span; a span whose text was replaced is dropped.
    """
    if old == new or not spans:
        return spans
    start, old_end, new_end = changed_region(old, new)
    delta = new_end - old_end
    out: list[Span] = []
    for span in spans:
        moved = _remap_one(span, start, old_end, new_end, delta)
        if moved is not None:
            out.append(moved)
    return tuple(out)


def remap_regions(regions: tuple[tuple[int, int, str], ...], old: str,
                  new: str) -> tuple[tuple[int, int, str], ...]:
    """Move tagged ``(start, end, tag)`` ranges from ``old`` to ``new``, as spans move."""
    if old == new or not regions:
        return regions
    start, old_end, new_end = changed_region(old, new)
    out = []
    for first, last, tag in regions:
        moved = _remap_one(Span(first, last, REWRITE), start, old_end, new_end, new_end - old_end)
        if moved is not None:
            out.append((moved.start, moved.end, tag))
    return tuple(out)


def _remap_one(span: Span, start: int, old_end: int, new_end: int, delta: int) -> Span | None:
    s, e = span.start, span.end
    if s == e:  # a hole
        if s < start or (s == start and start < old_end):
            return span
        if s >= old_end:
            return replace(span, start=s + delta, end=e + delta)
        return None
    if e <= start:
        return span
    if s >= old_end:
        return replace(span, start=s + delta, end=e + delta)
    if s <= start and old_end <= e:
        return replace(span, end=e + delta)
    if start <= s and e <= old_end:
        return None
    if start < s:  # the edit covered the span's start
        return replace(span, start=new_end, end=e + delta)
    return replace(span, end=start)  # the edit covered the span's end


def add_span(spans: tuple[Span, ...], span: Span) -> tuple[Span, ...]:
    """``spans`` plus ``span``, replacing any span it overlaps (or a hole at the same place)."""
    def clashes(other: Span) -> bool:
        if other.start == other.end or span.start == span.end:
            return other.start == span.start or span.start < other.start < span.end \
                or other.start < span.start < other.end
        return other.start < span.end and span.start < other.end

    kept = [s for s in spans if not clashes(s)]
    return tuple(sorted([*kept, span], key=lambda s: (s.start, s.end)))


def span_at(spans: tuple[Span, ...], offset: int) -> int | None:
    """The index of the span under ``offset`` (a hole counts at its own offset)."""
    for i, span in enumerate(spans):
        if span.start <= offset <= span.end if span.start == span.end else span.start <= offset < span.end:
            return i
    return None


def make_span(text: str, start: int, end: int, kind: str, strength: float = 1.0) -> Span:
    """A span over ``text[start:end]``; whole lines make a block span (DESIGN section 4)."""
    line = text.count("\n", 0, start) + 1
    whole_lines = (start < end and (start == 0 or text[start - 1] == "\n")
                   and (end == len(text) or text[end - 1] == "\n"))
    return Span(start, end, kind, strength=strength if kind == REWRITE else 1.0,
                block=whole_lines and kind == REWRITE, line=line)


def number_lines(text: str, spans: tuple[Span, ...]) -> tuple[Span, ...]:
    """The spans with ``line`` (1-based) recomputed for ``text``."""
    return tuple(replace(s, line=text.count("\n", 0, s.start) + 1) for s in spans)


def describe_span(text: str, span: Span) -> str:
    """A short label for the span list: ``L12 hole``, ``L20-24 rewrite 0.5``."""
    first = text.count("\n", 0, span.start) + 1
    last = text.count("\n", 0, max(span.start, span.end - 1)) + 1
    where = f"L{first}" if last == first else f"L{first}-{last}"
    if span.kind == HOLE and span.start == span.end:
        cap = f" ≤{span.max_lines} line{'s' * (span.max_lines != 1)}" if span.max_lines else ""
        return f"{where} hole{cap}"
    if span.kind == HOLE:
        return f"{where} fill"
    return f"{where} rewrite {span.strength:g}"
