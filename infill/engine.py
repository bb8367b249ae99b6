"""The engine: text and spans in, filled text out (DESIGN section 5).

``Filler`` joins the parts: slot budgets per span, canvases (``canvas.py``), the sampler
(``sampler.py``) over a backend (``backends/``), then elastic length (drop ``<null>`` slots,
grow a budget that was used up and fill again), K candidates ranked by mean log-probability
and by tree-sitter parse errors, and the trajectory as ``Frame``s. Every front door (the
batch CLI, the hook, the editor) calls ``fill_spans`` or ``fill_text``.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from infill import syntax
from infill.backends.base import Denoiser
from infill.canvas import Canvas, Layout, plan_canvases
from infill.errors import InputError
from infill.languages import UNKNOWN, guess_language, normalise_language
from infill.markers import HOLE, REWRITE, MarkerSyntax, Span, parse_markers, splice
from infill.sampler import SamplerOptions, StepRecord, sample
from infill.trajectory import KEPT, MASKED, NEW, REMASKED, Frame, Slot

HOLE_BUDGET = 48      # slots for a hole on a line of its own
LINE_BUDGET = 24      # slots for a hole inside a line, and per line of __FILL_N__
MAX_ROUNDS = 3        # elastic length: fill, then grow a used-up budget at most twice
CANDIDATE_TEMPERATURE = 0.8  # candidates after the first need randomness to differ


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


@dataclass
class _Row:
    """One sampler row: a canvas for candidate ``k``."""

    canvas: Canvas
    k: int


class Filler:
    """A loaded model, ready to fill. Create with ``infill.load()``."""

    def __init__(self, denoiser: Denoiser) -> None:
        self.denoiser = denoiser
        d = denoiser
        self.info = ModelInfo(d.name, d.path, d.backend, d.device, d.parameters, d.max_context,
                              dict(d.defaults))

    # -- public API -------------------------------------------------------------------------

    def fill_text(self, text: str, language: str | None = None, seed: int = 0, *,
                  path: str | None = None, syntax: MarkerSyntax | None = None,
                  on_frame: Callable[[Frame], None] | None = None, cancel: object | None = None,
                  **options) -> FillResult:
        """Fill every marker in ``text``; text without markers comes back unchanged."""
        marked = parse_markers(text, syntax or MarkerSyntax(), path)
        if not marked.spans:
            lang = self._language(language, path, text)
            return FillResult(text, (), (), (), 0.0, None, 0, 0.0, lang)
        return self.fill_spans(marked.text, marked.spans, language, seed, path=path,
                               on_frame=on_frame, cancel=cancel, **options)

    def fill_between(self, prefix: str, suffix: str, language: str | None = None, seed: int = 0,
                     **options) -> str:
        """The middle of one hole between ``prefix`` and ``suffix``."""
        span = Span(len(prefix), len(prefix), HOLE)
        return self.fill_spans(prefix + suffix, [span], language, seed, **options).spans[0].text

    def fill_spans(self, text: str, spans: Sequence[Span], language: str | None = None,
                   seed: int = 0, *, path: str | None = None,
                   on_frame: Callable[[Frame], None] | None = None, cancel: object | None = None,
                   **options) -> FillResult:
        """Fill ``spans`` (character offsets into ``text``); the rest of ``text`` is kept."""
        started = time.perf_counter()
        lang = self._language(language, path, text)
        sampler_options, k_candidates, budget = self._options(options)
        order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
        ordered = [spans[i] for i in order]
        for a, b in zip(ordered, ordered[1:]):
            if b.start < a.end:
                raise InputError("spans overlap", path=path, line=b.line or None)
        if ordered and ordered[-1].end > len(text):
            raise InputError("a span reaches past the end of the text", path=path)
        budgets = [self._budget(text, s, budget) for s in ordered]
        grown_cap = max(8, self.denoiser.max_context // 2)

        passes = 0
        for round_ in range(MAX_ROUNDS):
            rows, out = self._run(text, ordered, order, budgets, lang, seed, round_, sampler_options,
                                  k_candidates, on_frame, cancel, started)
            passes += out.forward_passes
            fills = self._read_fills(rows, out, ordered, k_candidates)
            used_up = [i for i, s in enumerate(ordered)
                       if self._elastic(s) and fills[0][i].full and budgets[i] < grown_cap]
            if not used_up or round_ == MAX_ROUNDS - 1:
                break
            for i in used_up:
                budgets[i] = min(grown_cap, budgets[i] * 2)

        original = splice(text, ordered, [text[s.start:s.end] for s in ordered])
        base_errors = syntax.count_errors(original, lang) if lang != UNKNOWN else None
        candidates = self._candidates(text, ordered, order, fills, lang)
        ranked = sorted(range(len(candidates)), key=lambda k: (
            _worse(candidates[k].parse_errors, base_errors), -candidates[k].score))
        unique: list[int] = []
        for k in ranked:
            if all(candidates[k].text != candidates[j].text for j in unique):
                unique.append(k)
        best = candidates[unique[0]]
        trajectory = self._frames(rows, out, order, unique[0], round_, started)
        return FillResult(
            text=best.text, spans=best.spans,
            candidates=tuple(candidates[k] for k in unique[1:]),
            trajectory=tuple(trajectory), score=best.score, parse_errors=best.parse_errors,
            forward_passes=passes, elapsed=time.perf_counter() - started, language=lang)

    # -- planning ---------------------------------------------------------------------------

    def _language(self, language: str | None, path: str | None, text: str) -> str:
        return normalise_language(language) or guess_language(path, text)

    def _options(self, options: dict) -> tuple[SamplerOptions, int, int | None]:
        known = {"strategy", "steps", "temperature", "threshold", "top_k", "top_p",
                 "candidates", "budget", "null_threshold"}
        unknown = set(options) - known
        if unknown:
            raise TypeError(f"unknown sampler option(s): {', '.join(sorted(unknown))}")
        defaults = self.denoiser.defaults
        values = {key: defaults[key] for key in ("strategy", "temperature", "threshold",
                                                 "null_threshold")
                  if defaults.get(key) is not None}
        values.update({k: v for k, v in options.items()
                       if v is not None and k not in ("candidates", "budget")})
        k = int(options.get("candidates") or 1)
        if k < 1:
            raise InputError(f"candidates must be at least 1, got {k}")
        return SamplerOptions(**values), k, options.get("budget")

    def _elastic(self, span: Span) -> bool:
        return self.denoiser.null_id is not None and span.max_lines is None

    def _budget(self, text: str, span: Span, override: int | None) -> int:
        defaults = self.denoiser.defaults
        hole_budget = int(defaults.get("hole_budget", HOLE_BUDGET))
        line_budget = int(defaults.get("line_budget", LINE_BUDGET))
        if span.kind == REWRITE:
            old = len(self.denoiser.codec.encode(text[span.start:span.end]))
            if self.denoiser.null_id is None:
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

    def _prefill(self, text: str, span: Span) -> list[int]:
        if span.kind != REWRITE or span.strength >= 1.0:
            return []
        return self.denoiser.codec.encode(text[span.start:span.end])

    # -- sampling ---------------------------------------------------------------------------

    def _run(self, text, spans, order, budgets, lang, seed, round_, options, k_candidates,
             on_frame, cancel, started):
        d = self.denoiser
        layout = Layout(d.mask_id, d.bos_id, d.eos_id, d.header_id(lang), d.max_context)
        prefills = [self._prefill(text, s) for s in spans]
        canvases = plan_canvases(text, spans, budgets, d.codec, layout, prefills)
        rows = [_Row(c, k) for k in range(k_candidates) for c in canvases]
        width = max(len(r.canvas) for r in rows)
        ids = torch.full((len(rows), width), d.pad_id, dtype=torch.long)
        attention = torch.zeros((len(rows), width), dtype=torch.long)
        slots = torch.zeros((len(rows), width), dtype=torch.bool)
        rescore = torch.zeros((len(rows), width), dtype=torch.bool)
        fraction = []
        for b, row in enumerate(rows):
            n = len(row.canvas)
            ids[b, :n] = torch.tensor(row.canvas.ids)
            attention[b, :n] = 1
            strengths = []
            for g in row.canvas.groups:
                slots[b, g.offset:g.offset + g.length] = True
                if g.prefill:
                    rescore[b, g.offset:g.offset + len(g.prefill)] = True
                    strengths.append(spans[g.span].strength)
            fraction.append(sum(strengths) / len(strengths) if strengths else 1.0)
        generators = [torch.Generator().manual_seed(_derive_seed(seed, r.k, i, round_))
                      for i, r in enumerate(rows)]
        temps = [options.temperature if r.k == 0 else max(options.temperature, CANDIDATE_TEMPERATURE)
                 for r in rows]

        def logits_fn(batch_ids, batch_attention):
            logits = d.logits(batch_ids, batch_attention)  # (B, L, V)
            if d.shifted_logits:
                logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
            return logits

        def on_step(record: StepRecord, current: torch.Tensor, confidence: torch.Tensor) -> None:
            if on_frame is None:
                return
            first = [b for b, r in enumerate(rows) if r.k == 0]
            on_frame(self._frame(rows, first, order, current, confidence, record, round_, started))

        out = sample(logits_fn, ids, attention, slots, d.mask_id, options, generators,
                     banned_ids=d.banned_ids(), on_step=on_step, cancel=cancel,
                     rescore=rescore if rescore.any() else None, rescore_fraction=fraction,
                     temperatures=temps, null_id=d.null_id,
                     slot_ranges=[[(g.offset, g.offset + g.length) for g in r.canvas.groups]
                                  for r in rows])
        return rows, out

    def _read_fills(self, rows, out, spans, k_candidates):
        """Per candidate, per span: the filled text and its scores."""
        d = self.denoiser
        fills = [[None] * len(spans) for _ in range(k_candidates)]
        for b, row in enumerate(rows):
            for g in row.canvas.groups:
                token_ids = out.ids[b, g.offset:g.offset + g.length].tolist()
                conf = out.confidence[b, g.offset:g.offset + g.length].tolist()
                logp = out.logprob[b, g.offset:g.offset + g.length].tolist()
                kept = [i for i, t in enumerate(token_ids) if t != d.null_id]
                text = _shape(d.codec.decode([token_ids[i] for i in kept]), spans[g.span])
                fills[row.k][g.span] = _Fill(
                    text=text,
                    confidence=(sum(conf[i] for i in kept) / len(kept)) if kept else
                               (sum(conf) / len(conf) if conf else 0.0),
                    logp_sum=sum(logp), n=len(logp), tokens=len(kept),
                    full=bool(token_ids) and token_ids[-1] != d.null_id)
        return fills

    def _candidates(self, text, spans, order, fills, lang) -> list[Candidate]:
        out = []
        inverse = {orig: pos for pos, orig in enumerate(order)}
        for per_span in fills:
            new_text = splice(text, spans, [f.text for f in per_span])
            located, shift = [], 0
            for s, f in zip(spans, per_span):
                start = s.start + shift
                located.append(SpanFill(f.text, f.confidence, start, start + len(f.text),
                                        s.kind, s.line, f.tokens))
                shift += len(f.text) - (s.end - s.start)
            n = sum(f.n for f in per_span)
            score = sum(f.logp_sum for f in per_span) / n if n else 0.0
            errors = syntax.count_errors(new_text, lang) if lang != UNKNOWN else None
            # Report spans in the caller's order.
            spans_out = tuple(located[inverse[i]] for i in range(len(order)))
            out.append(Candidate(new_text, spans_out, score, errors))
        return out

    # -- trajectory -------------------------------------------------------------------------

    def _frame(self, rows, row_ids, order, current, confidence, record, round_, started) -> Frame:
        """The slots of ``row_ids`` now; ``Slot.span`` is the caller's span index."""
        d = self.denoiser
        slots: list[Slot] = []
        for b in row_ids:
            new = set(record.committed[b])
            again = set(record.remasked[b]) if record.remasked else set()
            for g in rows[b].canvas.groups:
                span = order[g.span]
                for pos in range(g.offset, g.offset + g.length):
                    token = int(current[b, pos])
                    if pos in again:
                        slots.append(Slot(span, "", REMASKED, 0.0))
                    elif token == d.mask_id:
                        slots.append(Slot(span, "", MASKED, 0.0))
                    else:
                        is_null = token == d.null_id
                        slots.append(Slot(span, "" if is_null else d.codec.piece(token),
                                          NEW if pos in new else KEPT,
                                          float(confidence[b, pos]), is_null))
        slots.sort(key=lambda s: s.span)  # stable: slot order within a span is kept
        return Frame(record.step, tuple(slots), round_, time.perf_counter() - started)

    def _frames(self, rows, out, order, k, round_, started) -> list[Frame]:
        """Frames of candidate ``k`` in the last round, rebuilt from the step records."""
        chosen = [b for b, r in enumerate(rows) if r.k == k]
        ids = out.ids.clone()
        d = self.denoiser
        # Replay: every slot committed at a later step is still masked at this one.
        commit_step = torch.full(ids.shape, 0, dtype=torch.long)
        for record in out.steps:
            for b in chosen:
                if record.committed:
                    commit_step[b, record.committed[b]] = record.step
        frames = []
        for record in out.steps:
            current = ids.clone()
            for b in chosen:
                for g in rows[b].canvas.groups:
                    seg = slice(g.offset, g.offset + g.length)
                    hidden = commit_step[b, seg] > record.step
                    current[b, seg] = torch.where(hidden, torch.tensor(d.mask_id), current[b, seg])
            frames.append(self._frame(rows, chosen, order, current, out.confidence, record,
                                      round_, started))
        return frames


@dataclass
class _Fill:
    text: str
    confidence: float
    logp_sum: float
    n: int
    tokens: int
    full: bool  # every slot held a token: the budget may have been too small


def _shape(text: str, span: Span) -> str:
    """Apply the span's line cap, and end a block fill with its newline."""
    if span.max_lines:
        lines = text.split("\n")
        text = "\n".join(lines[:span.max_lines])
        if span.max_lines == 1:
            text = text.rstrip("\n")
    if span.block:
        text = text.rstrip("\n")
        text = text + "\n" if text else ""
    return text


def _worse(errors: int | None, base: int | None) -> bool:
    return errors is not None and base is not None and errors > base


def _derive_seed(seed: int, candidate: int, row: int, round_: int) -> int:
    key = f"{seed}/{candidate}/{row}/{round_}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & (2**63 - 1)
