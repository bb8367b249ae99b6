"""The fill stage: from the sampler's final ids to texts, ranked candidates and frames.

Pure functions over plain values (token ids as lists of ints, spans, step records), so each
is testable on its own: ``read_fill`` turns one span's slots into text and scores,
``make_candidate`` splices a candidate's fills into the text, ``rank_candidates`` orders
candidates (parse errors, blanks, faults with names, cut-off code and stutters, then mean
log-probability), and ``make_frame`` / ``replay_frames`` build the trajectory from step
records (DESIGN section 6). No torch: the engine converts tensors to lists before calling
in; tokenizer and grammar are passed as functions.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Protocol, Sequence

from infill.canvas import SlotGroup
from infill.markers import HOLE, Span, splice
from infill.options import FillOptions
from infill.trajectory import KEPT, MASKED, NEW, REMASKED, Frame, Slot


@dataclass(frozen=True)
class SpanFill:
    """What went into one span. ``start``/``end`` locate the fill in ``FillResult.text``."""

    text: str
    confidence: float
    start: int
    end: int
    kind: str
    line: int
    tokens: int


@dataclass(frozen=True)
class Candidate:
    text: str
    spans: tuple[SpanFill, ...]
    score: float                # mean log-probability of the committed tokens
    parse_errors: int | None    # tree-sitter ERROR/MISSING nodes; None without a grammar
    undefined: int | None = None  # names the fills read that nothing in view binds
                                  # (``names.undefined_names``); None: cannot be told
    unbound: int = 0              # names the code after a hole needs bound that its fill
                                  # leaves unbound (``names.unbound_count``), and missing
                                  # returns
    lint: int = 0                 # code the fills cut off and words they stutter
                                  # (``lint.count``)


@dataclass(frozen=True)
class Faults:
    """What a judge finds in a candidate's fills besides parse errors (``Candidate``'s
    fields of the same names)."""

    undefined: int | None = None
    unbound: int = 0
    lint: int = 0


# Counts a candidate's faults: (its text, each fill's (start, end) in it, the caller's order).
FaultCounter = Callable[[str, list[tuple[int, int]]], Faults]


@dataclass(frozen=True)
class FillResult:
    text: str
    spans: tuple[SpanFill, ...]
    candidates: tuple[Candidate, ...]
    trajectory: tuple[Frame, ...]
    score: float
    parse_errors: int | None
    forward_passes: int
    elapsed: float
    language: str


@dataclass(frozen=True)
class ModelInfo:
    name: str
    path: str
    backend: str
    device: str
    parameters: int
    max_context: int
    defaults: dict


class FillerLike(Protocol):
    """What the front doors need of a filler: ``infill.engine.Filler``, or a test's fake.
    Pure, so the editor can name the type without importing torch."""

    info: ModelInfo

    def fill_spans(self, text: str, spans: Sequence[Span], language: str | None = None,
                   seed: int = 0, *, path: str | None = None, options: FillOptions | None = None,
                   on_frame: Callable[[Frame], None] | None = None,
                   cancel: Any = None) -> FillResult: ...


@dataclass(frozen=True)
class Fill:
    """One span's slots read back: its text and scores."""

    text: str
    confidence: float
    logp_sum: float
    n: int
    tokens: int
    full: bool  # every slot held a token: the budget may have been too small


def read_fill(token_ids: Sequence[int], confidence: Sequence[float], logprob: Sequence[float],
              span: Span, null_id: int | None, decode: Callable[[list[int]], str],
              whole_line: bool = False) -> Fill:
    """The text of one span's slots (nulls dropped, the span's line cap and block newline
    applied) and its scores: confidence is the mean over text tokens (over every slot when
    there are none), ``logp_sum`` is over every slot, nulls included. ``whole_line``: the
    span stands for whole lines (``is_whole_line``), so a fill ends with its newline."""
    kept = [i for i, t in enumerate(token_ids) if t != null_id]
    text = shape_text(decode([token_ids[i] for i in kept]), span, whole_line)
    if kept:
        mean = sum(confidence[i] for i in kept) / len(kept)
    else:
        mean = sum(confidence) / len(confidence) if confidence else 0.0
    return Fill(text, mean, sum(logprob), len(logprob), len(kept),
                bool(token_ids) and token_ids[-1] != null_id)


def is_whole_line(text: str, span: Span) -> bool:
    """A hole that stands for whole lines: it starts a line and the text after it starts the
    next line (or the file ends), so its fill must be complete lines, newline included."""
    if span.kind != HOLE or span.start != span.end:
        return False
    at_line_start = span.start == 0 or text[span.start - 1] == "\n"
    return at_line_start and span.start > 0 and (span.end == len(text) or text[span.end] not in "\r\n")


def shape_text(text: str, span: Span, whole_line: bool = False) -> str:
    """Apply the span's line cap, and end a block fill (or a whole-line hole's fill) with
    its newline: ``__FILL_1__`` where a whole line goes gives one complete line."""
    if whole_line:
        lines = text.rstrip("\r\n").split("\n")
        if span.max_lines:
            # The lines asked for are lines of text: blank lines the model wrote first
            # would take their place (a one-line hole filled with nothing but a newline).
            while len(lines) > 1 and not lines[0].strip():
                lines.pop(0)
            lines = lines[:span.max_lines]
        body = "\n".join(lines)
        return body + "\n" if body.strip() else ""
    if span.max_lines:
        lines = text.split("\n")
        text = "\n".join(lines[:span.max_lines])
        if span.max_lines == 1:
            text = text.rstrip("\n")
    if span.block:
        text = text.rstrip("\n")
        text = text + "\n" if text else ""
    return text


def make_candidate(text: str, spans: Sequence[Span], order: Sequence[int], fills: Sequence[Fill],
                   count_errors: Callable[[str], int | None],
                   count_faults: FaultCounter | None = None) -> Candidate:
    """``fills`` (one per span of the sorted ``spans``) spliced into ``text``; the spans are
    reported in the caller's order (``order[i]`` is the caller's index of sorted span i).
    ``count_faults(new_text, fill_ranges)`` tells the names the fills invent or leave
    unbound, the code they cut off and the words they stutter (none when omitted)."""
    new_text = splice(text, spans, [f.text for f in fills])
    located, shift = [], 0
    for s, f in zip(spans, fills):
        start = s.start + shift
        located.append(SpanFill(f.text, f.confidence, start, start + len(f.text), s.kind, s.line,
                                f.tokens))
        shift += len(f.text) - (s.end - s.start)
    n = sum(f.n for f in fills)
    score = sum(f.logp_sum for f in fills) / n if n else 0.0
    inverse = {orig: pos for pos, orig in enumerate(order)}
    spans_out = tuple(located[inverse[i]] for i in range(len(order)))
    return _judged(new_text, spans_out, score, count_errors, count_faults)


def replace_fill(candidate: Candidate, index: int, new: str, score: float,
                 count_errors: Callable[[str], int | None],
                 count_faults: FaultCounter | None = None) -> Candidate:
    """``candidate`` with span ``index``'s fill (caller's order) replaced by ``new``; the
    other fills keep their text and move with it. ``score`` is the new candidate's."""
    old = candidate.spans[index]
    shift = len(new) - (old.end - old.start)

    def moved(i: int, f: SpanFill) -> SpanFill:
        if i == index:
            return replace(f, text=new, end=f.start + len(new))
        return replace(f, start=f.start + shift, end=f.end + shift) if f.start >= old.end else f

    spans = tuple(moved(i, f) for i, f in enumerate(candidate.spans))
    text = candidate.text[:old.start] + new + candidate.text[old.end:]
    return _judged(text, spans, score, count_errors, count_faults)


def _judged(text: str, spans: tuple[SpanFill, ...], score: float,
            count_errors: Callable[[str], int | None],
            count_faults: FaultCounter | None) -> Candidate:
    """The candidate with its parse errors and faults counted."""
    faults = Faults() if count_faults is None else count_faults(
        text, [(f.start, f.end) for f in spans])
    return Candidate(text, spans, score, count_errors(text), faults.undefined, faults.unbound,
                     faults.lint)


def _parses_worse(candidate: Candidate, base_errors: int | None) -> bool:
    errors = candidate.parse_errors
    return errors is not None and base_errors is not None and errors > base_errors


def _blanks(candidate: Candidate, code_expected: Sequence[bool]) -> int:
    return sum(1 for i, f in enumerate(candidate.spans)
               if i < len(code_expected) and code_expected[i] and not f.text.strip())


def standing(candidate: Candidate, base_errors: int | None,
             code_expected: Sequence[bool] = ()) -> tuple[bool, int, int, int]:
    """What ranks a candidate before its score, smaller first: it parses worse than the
    original (``base_errors``: the original with a plausible placeholder in each hole), the
    spans where code is expected that it leaves blank (``code_expected[i]`` for span i, in
    the caller's order), its parse errors (where the original has some too, fewer is
    better), its faults: names it reads that nothing in view binds, names the code after a
    hole needs bound that it leaves unbound (and missing returns), code it cuts off and
    words it stutters (``lint``)."""
    return (_parses_worse(candidate, base_errors), _blanks(candidate, code_expected),
            candidate.parse_errors or 0,
            (candidate.undefined or 0) + candidate.unbound + candidate.lint)


def falls_short(candidate: Candidate, base_errors: int | None,
                code_expected: Sequence[bool] = ()) -> bool:
    """The candidate parses worse than the original (with a placeholder in each hole),
    leaves blank a span where code is expected, reads a name nothing in view binds, cuts
    code off or stutters (``lint``): what makes the engine sample more (``retries``). A
    needed name left unbound ranks a candidate lower but is not a reason to sample again:
    the engine asks for the binding itself (``Filler``, step 7)."""
    return (_parses_worse(candidate, base_errors) or _blanks(candidate, code_expected) > 0
            or bool(candidate.undefined) or candidate.lint > 0)


def rank_candidates(candidates: Sequence[Candidate], base_errors: int | None,
                    code_expected: Sequence[bool] = ()) -> list[int]:
    """Indices of the distinct candidates, best first: a candidate that parses worse than
    the original (``base_errors``: the original with a plausible placeholder in each hole)
    ranks below every one that does not; then one that leaves blank a span where code is
    expected (``code_expected[i]`` for span i, in the caller's order) ranks below one that
    writes text there; then one with more parse errors, then one with more faults
    (``standing``) ranks below one with fewer; then by mean log-probability. Of identical
    texts the better-ranked one is kept."""
    ranked = sorted(range(len(candidates)),
                    key=lambda k: (*standing(candidates[k], base_errors, code_expected),
                                   -candidates[k].score))
    unique: list[int] = []
    for k in ranked:
        if all(candidates[k].text != candidates[j].text for j in unique):
            unique.append(k)
    return unique


@dataclass(frozen=True)
class FrameRow:
    """One sampler row seen by the frame builder: its slot groups and current state."""

    groups: tuple[SlotGroup, ...]
    ids: Sequence[int]
    confidence: Sequence[float]
    committed: frozenset[int] = frozenset()   # positions written at this step
    remasked: frozenset[int] = frozenset()    # positions masked again at this step


def make_frame(rows: Sequence[FrameRow], order: Sequence[int], step: int, round_: int,
               elapsed: float, mask_id: int, null_id: int | None,
               piece: Callable[[int], str]) -> Frame:
    """The slots of ``rows`` at one step; ``Slot.span`` is the caller's span index."""
    slots: list[Slot] = []
    for row in rows:
        for g in row.groups:
            span = order[g.span]
            for pos in range(g.offset, g.offset + g.length):
                token = row.ids[pos]
                if pos in row.remasked:
                    slots.append(Slot(span, "", REMASKED, 0.0))
                elif token == mask_id:
                    slots.append(Slot(span, "", MASKED, 0.0))
                else:
                    is_null = token == null_id
                    slots.append(Slot(span, "" if is_null else piece(token),
                                      NEW if pos in row.committed else KEPT,
                                      float(row.confidence[pos]), is_null))
    slots.sort(key=lambda s: s.span)  # stable: slot order within a span is kept
    return Frame(step, tuple(slots), round_, elapsed)


def copied_frame(last: Frame, copied: Sequence[tuple[int, Sequence[int], float]],
                 elapsed: float, null_id: int | None, piece: Callable[[int], str]) -> Frame:
    """The frame after ``last`` once copied lines replaced fills: for each (span, slot ids,
    confidence) in ``copied``, the span's slots hold the copy's tokens (then nulls)."""
    replaced = {i for i, _, _ in copied}
    slots = [s for s in last.slots if s.span not in replaced]
    for i, ids, confidence in copied:
        slots += [Slot(i, "" if t == null_id else piece(t), NEW, confidence, t == null_id)
                  for t in ids]
    slots.sort(key=lambda s: s.span)
    return Frame(last.step + 1, tuple(slots), last.round, elapsed)


@dataclass(frozen=True)
class StepView:
    """A sampler step record, reduced to what replay needs (per row of the batch)."""

    step: int
    committed: Sequence[Sequence[int]]
    remasked: Sequence[Sequence[int]]


def replay_frames(steps: Sequence[StepView], rows: Sequence[int],
                  groups: Sequence[tuple[SlotGroup, ...]], final_ids: Sequence[Sequence[int]],
                  confidence: Sequence[Sequence[float]], order: Sequence[int], round_: int,
                  elapsed: float, mask_id: int, null_id: int | None,
                  piece: Callable[[int], str]) -> list[Frame]:
    """Frames of batch ``rows`` rebuilt from the step records and the final ids: at each
    step, every slot committed at a later step is still masked."""
    commit_step = {b: {} for b in rows}
    for record in steps:
        for b in rows:
            if record.committed:
                for pos in record.committed[b]:
                    commit_step[b][pos] = record.step
    frames = []
    for record in steps:
        views = []
        for b in rows:
            ids = list(final_ids[b])
            for g in groups[b]:
                for pos in range(g.offset, g.offset + g.length):
                    if commit_step[b].get(pos, 0) > record.step:
                        ids[pos] = mask_id
            views.append(FrameRow(groups[b], ids, confidence[b],
                                  frozenset(record.committed[b]) if record.committed else frozenset(),
                                  frozenset(record.remasked[b]) if record.remasked else frozenset()))
        frames.append(make_frame(views, order, record.step, round_, elapsed, mask_id, null_id,
                                 piece))
    return frames


PLACEHOLDER = "__FILL__"


def placeholder_texts(text: str, spans: Sequence[Span]) -> list[list[str]]:
    """Ways to fill each span that stand for "code goes here", for judging how well the
    original parses: the old text for a rewrite; for a hole, nothing, the placeholder
    identifier, and (a whole-line hole) the placeholder on a line of its own at the next
    line's indentation. The engine takes the fewest parse errors over these."""
    out = []
    for s in spans:
        if s.kind != HOLE:
            out.append([text[s.start:s.end]])
            continue
        options = ["", PLACEHOLDER]
        if is_whole_line(text, s):
            nxt = text[s.end:].split("\n", 1)[0]
            options.append(nxt[:len(nxt) - len(nxt.lstrip(" \t"))] + PLACEHOLDER + "\n")
        out.append(options)
    return out
