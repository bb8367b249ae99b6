"""Canvas planning: text and spans become token rows with mask slots.

Layout (docs/CONTRACTS.md): ``[bos] [header] ctx_0 slots_0 ctx_1 slots_1 … ctx_n [eos]``.
Each context segment is tokenized on its own, so no BPE merge crosses a span boundary, and
the context is never decoded again: the final text is the original context characters with
the fills spliced in, which is what keeps every byte outside the spans exact.

When the spans and their context do not fit ``max_context`` tokens, spans are grouped into
windows that do, each cropped around its spans; the windows are filled as one batch.
Pure code: token ids are plain ints and the tokenizer is anything with ``encode``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, Sequence

from infill.markers import REWRITE, Span

# Characters of context kept per token of budget before tokenizing: cropping the text first
# keeps a fill in a 1 MB file from tokenizing the whole file.
_CHARS_PER_TOKEN = 8


class Encoder(Protocol):
    def encode(self, text: str) -> list[int]: ...


@dataclass(frozen=True)
class Layout:
    """The special ids a backend wants around a canvas (None: not used)."""

    mask_id: int
    bos_id: int | None = None
    eos_id: int | None = None
    header_id: int | None = None
    max_context: int = 512

    @property
    def fixed(self) -> list[int]:
        return [i for i in (self.bos_id, self.header_id) if i is not None]


@dataclass(frozen=True)
class SlotGroup:
    """Where one span's slots sit in a canvas row."""

    span: int          # index into the request's spans
    offset: int        # first slot position in ``Canvas.ids``
    length: int        # number of slots (the budget)
    prefill: tuple[int, ...] = ()  # old tokens shown in the slots (rewrite strength < 1)
    kept: bool = False  # filled in an earlier round: ``prefill`` is its fill, shown as context


@dataclass(frozen=True)
class Canvas:
    """One row for the model: ids with ``mask_id`` in every slot."""

    ids: tuple[int, ...]
    groups: tuple[SlotGroup, ...]

    def __len__(self) -> int:
        return len(self.ids)


def plan_canvases(
    text: str,
    spans: Sequence[Span],
    budgets: Sequence[int],
    encoder: Encoder,
    layout: Layout,
    prefills: Sequence[Sequence[int]] | None = None,
    kept: Sequence[bool] | None = None,
) -> list[Canvas]:
    """Rows that together hold every span of ``text`` with its budget of slots.

    ``spans`` must be sorted and disjoint; ``budgets[i]`` is the slot count of span i;
    ``prefills[i]`` (optional) are token ids placed in span i's first slots instead of masks;
    ``kept[i]`` marks span i as already filled (its prefill is its whole fill: context now).
    """
    if len(spans) != len(budgets):
        raise ValueError("one budget per span")
    for a, b in zip(spans, spans[1:]):
        if b.start < a.end:
            raise ValueError("spans must be sorted and must not overlap")
    overhead = len(layout.fixed) + (layout.eos_id is not None)
    room = layout.max_context - overhead
    budgets = [max(1, min(b, room // 2)) for b in budgets]
    prefills = prefills or [() for _ in spans]

    # Inner context between consecutive spans, tokenized (cropped by characters first only
    # when it is far too long to share a window anyway).
    inner = [_encode_limited(text[a.end:b.start], encoder, room) for a, b in zip(spans, spans[1:])]
    inner_len = [len(t) if t is not None else room + 1 for t in inner]

    windows: list[list[int]] = [[0]] if spans else []
    used = budgets[0] if spans else 0
    for i in range(1, len(spans)):
        cost = inner_len[i - 1] + budgets[i]
        # Keep at least a quarter of the window for the context around the group.
        if used + cost <= room * 3 // 4:
            windows[-1].append(i)
            used += cost
        else:
            windows.append([i])
            used = budgets[i]

    canvases = []
    for members in windows:
        first, last = spans[members[0]], spans[members[-1]]
        body = sum(budgets[i] for i in members) + sum(inner_len[i - 1] for i in members[1:])
        spare = max(0, room - body)
        before_text = text[max(0, first.start - spare * _CHARS_PER_TOKEN):first.start]
        after_text = text[last.end:last.end + spare * _CHARS_PER_TOKEN]
        before, after = encoder.encode(before_text), encoder.encode(after_text)
        anchor = enclosing_definition(text, first.start, len(before_text))
        want = len(encoder.encode(text[anchor:first.start])) if anchor is not None else 0
        n_before, n_after = _split_room(len(before), len(after), spare, want)
        ids: list[int] = list(layout.fixed)
        ids.extend(before[len(before) - n_before:])
        groups = []
        for pos, i in enumerate(members):
            if pos:
                ids.extend(inner[i - 1] or ())
            fill = list(prefills[i])[:budgets[i]]
            groups.append(SlotGroup(i, len(ids), budgets[i], tuple(fill), bool(kept and kept[i])))
            ids.extend(fill + [layout.mask_id] * (budgets[i] - len(fill)))
        ids.extend(after[:n_after])
        if layout.eos_id is not None:
            ids.append(layout.eos_id)
        canvases.append(Canvas(tuple(ids), tuple(groups)))
    return canvases


def _encode_limited(text: str, encoder: Encoder, room: int) -> list[int] | None:
    """The tokens of an inner context, or None when it is too long to share a window."""
    if len(text) > room * _CHARS_PER_TOKEN * 4:
        return None
    ids = encoder.encode(text)
    return ids if len(ids) <= room else None


def _split_room(n_before: int, n_after: int, spare: int, want_before: int = 0) -> tuple[int, int]:
    """Share ``spare`` tokens between the context before and after: half each, and what one
    side does not need goes to the other. ``want_before``: tokens back to the enclosing
    definition, which the context before keeps when that leaves at least a quarter of
    ``spare`` (or all it needs) to the context after."""
    half = spare // 2
    keep_after = min(n_after, spare // 4)
    half = max(half, min(want_before, spare - keep_after))
    take_before = min(n_before, max(half, spare - n_after))
    take_after = min(n_after, spare - take_before)
    return take_before, take_after


# A line that opens a definition: optional modifiers, then a keyword of one of the languages.
_DEFINITION = re.compile(
    r"[ \t]*(?:(?:pub(?:\([^)]*\))?|export|default|async|static|public|private|protected|"
    r"unsafe|inline|extern)[ \t]+)*(?:def|class|fn|func|function|impl|struct|enum|trait|"
    r"interface|module|namespace)\b")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def enclosing_definition(text: str, pos: int, max_chars: int) -> int | None:
    """Offset of the line that opens the definition around ``pos`` (a ``def``, ``class``,
    ``fn``, ``func``, ``function`` ... line indented less than the code at ``pos``), looking
    back at most ``max_chars``; None when there is none. Indentation and keywords only, so it
    works for every language and for code that does not parse (it has a hole)."""
    line_start = text.rfind("\n", 0, pos) + 1
    level = next((_indent(line) for line in text[line_start:pos + 2000].split("\n") if line.strip()), None)
    if level is None:
        return None
    limit = max(0, pos - max_chars)
    limit = text.find("\n", limit - 1) + 1 if limit else 0  # whole lines only
    offset = line_start
    for line in reversed(text[limit:line_start].split("\n")[:-1]):
        offset -= len(line) + 1
        if line.strip() and _indent(line) < level:
            if _DEFINITION.match(line):
                return offset
            level = _indent(line)
            if level == 0:
                return None
    return None


HOLE_BUDGET = 48      # slots for a hole on a line of its own
LINE_BUDGET = 24      # slots for a hole inside a line, and per line of __FILL_N__


def slot_budget(text: str, span: Span, encoder: Encoder, *, elastic: bool,
                hole_budget: int = HOLE_BUDGET, line_budget: int = LINE_BUDGET,
                override: int | None = None) -> int:
    """How many slots span ``span`` of ``text`` gets (docs/CONTRACTS.md, slot budgets).

    A rewrite gets its old token count, plus a quarter (at least 4, at least
    ``line_budget`` in all) when the model can leave slots empty (``elastic``); a hole gets
    ``override``, else ``line_budget`` per line of a ``__FILL_N__`` cap, else
    ``line_budget`` beside text on its line and ``hole_budget`` on a line of its own."""
    if span.kind == REWRITE:
        old = len(encoder.encode(text[span.start:span.end]))
        if not elastic:
            return max(1, old)
        return max(line_budget, old + max(4, old // 4))
    if override:
        return int(override)
    if span.max_lines:
        return line_budget * span.max_lines
    line_start = text.rfind("\n", 0, span.start) + 1
    line_end = text.find("\n", span.end)
    line_end = len(text) if line_end < 0 else line_end
    inline = text[line_start:span.start].strip() or text[span.end:line_end].strip()
    return line_budget if inline else hole_budget
