"""The engine: text and spans in, filled text out (DESIGN section 5).

``Filler`` runs the stages in order and owns only the loop that joins them:

1. budgets and canvases (``canvas.slot_budget``, ``canvas.plan_canvases``);
2. a ``Batch`` of rows, a canvas per window per candidate (``batch.make_batch``);
3. ``sampler.sample(logits_fn, batch, options)`` over the backend's logits;
4. the fill stage (``fills``): read each span's slots, splice candidates, rank them, frames;
5. elastic length: when a hole's budget was used up, grow it and run 2-4 again for those
   holes only; the others keep their fills, shown to the model as context.
6. retries: when the best candidate falls short (parses worse than the original, leaves
   a code hole blank, reads a name nothing in view binds, cuts code off or stutters:
   ``lint``), sample ``retries`` more candidates in one more run and rank them all.
7. bindings (Python): when the code after a statement hole reads names that nothing binds
   (``names.needed_names``) and the best fill does not bind them, the model writes the
   rest of ``name = `` there too (of ``return`` where the hole ends a function that
   promises a value and returns none, ``names.needs_return``); that fill wins when it
   ranks higher (it stands better for giving what is needed, unless it breaks the parse
   or invents names).
8. copies: for each hole the best fill answers with one line, lines copied from elsewhere
   in the file (``copies.copy_texts``; in Python only those whose names are in view there)
   are scored by the model beside that fill; a likelier one replaces it unless it stands
   worse (parse, blanks, names, lint).

Every front door (the batch CLI, the hook, the editor, eval, bench) calls ``fill_spans`` with
a ``FillOptions`` value, or ``fill_text`` / ``fill_between`` with keyword options.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Callable

import torch

from infill import lint, names, syntax
from infill.backends.base import Denoiser
from infill.batch import Row, make_batch
from infill.canvas import HOLE_BUDGET, LINE_BUDGET, Layout, plan_canvases, slot_budget
from infill.copies import copy_texts, whole_line_indent
from infill.errors import Cancelled, InputError
from infill.fills import (PLACEHOLDER, Candidate, Faults, FillerLike, FillResult, FrameRow,
                          ModelInfo, SpanFill, StepView, copied_frame, falls_short, is_whole_line,
                          make_candidate, make_frame, placeholder_texts, rank_candidates,
                          read_fill, replace_fill, replay_frames, standing)
from infill.languages import UNKNOWN, guess_language, normalise_language
from infill.markers import HOLE, REWRITE, MarkerSyntax, Span, parse_markers, splice
from infill.options import FillOptions, SamplerOptions
from infill.sampler import SampleOutput, StepRecord, sample
from infill.trajectory import Frame

__all__ = ["Filler", "FillerLike", "FillResult", "SpanFill", "Candidate", "ModelInfo",
           "FillOptions"]

PROSE = frozenset({"markdown", "rst", UNKNOWN})
MAX_ROUNDS = 3        # elastic length: fill, then grow a used-up budget at most twice


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
                  options: FillOptions | None = None,
                  on_frame: Callable[[Frame], None] | None = None, cancel: Any = None,
                  **kw: Any) -> FillResult:
        """Fill every marker in ``text``; text without markers comes back unchanged.
        Options come as ``options`` or as keywords (``steps=4``), not both."""
        options = _options(options, kw)
        marked = parse_markers(text, syntax or MarkerSyntax(), path)
        if not marked.spans:
            lang = self._language(language, path, text)
            return FillResult(text, (), (), (), 0.0, None, 0, 0.0, lang)
        return self.fill_spans(marked.text, marked.spans, language, seed, path=path,
                               options=options, on_frame=on_frame, cancel=cancel)

    def fill_between(self, prefix: str, suffix: str, language: str | None = None, seed: int = 0,
                     *, options: FillOptions | None = None, **kw: Any) -> str:
        """The middle of one hole between ``prefix`` and ``suffix``."""
        span = Span(len(prefix), len(prefix), HOLE)
        return self.fill_spans(prefix + suffix, [span], language, seed,
                               options=_options(options, kw)).spans[0].text

    def fill_spans(self, text: str, spans: Sequence[Span], language: str | None = None,
                   seed: int = 0, *, path: str | None = None, options: FillOptions | None = None,
                   on_frame: Callable[[Frame], None] | None = None,
                   cancel: Any = None) -> FillResult:
        """Fill ``spans`` (character offsets into ``text``); the rest of ``text`` is kept."""
        started = time.perf_counter()
        options = options or FillOptions()
        lang = self._language(language, path, text)
        sampler_options = options.sampler(self.denoiser.defaults)
        order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
        ordered = [spans[i] for i in order]
        for a, b in zip(ordered, ordered[1:]):
            if b.start < a.end:
                raise InputError("spans overlap", path=path, line=b.line or None)
        if ordered and ordered[-1].end > len(text):
            raise InputError("a span reaches past the end of the text", path=path)
        budgets = [self._budget(text, s, options.budget) for s in ordered]
        whole = [is_whole_line(text, s) for s in ordered]
        defaults = self.denoiser.defaults
        k, retries = options.candidate_count(defaults), options.retry_count(defaults)
        cap = sampler_options.steps  # bounds the passes of the whole fill, every run together

        # The original with placeholders, parsed for its errors and then (the same texts,
        # parsed once) for the names around each hole.
        base_errors = _base_errors(text, ordered, lambda t: _parse_errors(t, lang))
        at_holes = _names_at_holes(text, spans, lang)  # caller's order
        judge = _Judge(lang, base_errors, [lang not in PROSE and s.kind == HOLE for s in spans],
                       [wanted for wanted, _, _ in at_holes],
                       [returns for _, _, returns in at_holes])

        def sample(ks: list[int], first_round: int,
                   cap: int | None) -> list[tuple[_Run, int, Candidate]]:
            run = self._sample(text, ordered, order, budgets, whole, lang, seed, sampler_options,
                               ks, first_round, cap, on_frame, cancel, started)
            return [(run, j, judge.candidate(text, ordered, order, run.fills[j]))
                    for j in range(len(ks))]

        made = sample(list(range(k)), 0, cap)
        ranked = judge.rank([c for _, _, c in made])
        first = made[0][0]
        passes = first.passes
        if retries and judge.falls_short(made[ranked[0]][2]) and (cap is None or passes < cap):
            # The best fill parses worse than the original, leaves code blank or invents a
            # name: sample ``retries`` more candidates (one more run) and keep the best of all.
            retry = sample(list(range(k, k + retries)), first.last_round + 1,
                           None if cap is None else cap - passes)
            passes += retry[0][0].passes
            made += retry
            ranked = judge.rank([c for _, _, c in made])
        candidates = [c for _, _, c in made]
        best = candidates[ranked[0]]
        run, j, _ = made[ranked[0]]
        others = [candidates[i] for i in ranked[1:]]
        copied: list[tuple[int, list[int], float]] = []
        if any(judge.needed) or any(r is not None for r in judge.returns):
            sampled = best
            best, copied, extra = self._bind_needed(best, spans, lang, seed, sampler_options,
                                                    None if cap is None else cap - passes,
                                                    judge, cancel, started)
            passes += extra
            if copied:
                others.insert(0, sampled)
        shortlist = options.copy_count(defaults)
        if shortlist and self.denoiser.null_id is not None and lang not in PROSE:
            sampled = best
            room = None if cap is None else cap - passes
            best, more, extra = self._copy_fills(best, spans, order, budgets, lang, shortlist,
                                                 room, judge, [v for _, v, _ in at_holes],
                                                 cancel)
            passes += extra
            if more:
                others.insert(0, sampled)
                replaced = {i for i, _, _ in more}
                copied = [c for c in copied if c[0] not in replaced] + more
        # Frames are built once: the live ones when a run's lead candidate won, else
        # replayed from the step records when someone first reads them (most callers never do).
        # A copied line adds one last frame (and is shown live when frames are).
        elapsed = time.perf_counter() - started
        live = run.live if j == 0 else []
        d = self.denoiser

        def with_copies(frames: list[Frame]) -> list[Frame]:
            if not (copied and frames):
                return frames
            return frames + [copied_frame(frames[-1], copied, elapsed, d.null_id,
                                          d.codec.piece)]

        if copied and live and on_frame:
            live = with_copies(live)
            on_frame(live[-1])

        def frames() -> list[Frame]:
            return with_copies(self._replay(run.rows, run.out, order, run.ks[j],
                                            run.last_round, elapsed))

        trajectory = tuple(live) if live else _LazyFrames(frames)
        return FillResult(
            text=best.text, spans=best.spans,
            candidates=tuple(others),
            trajectory=trajectory, score=best.score, parse_errors=best.parse_errors,
            forward_passes=passes, elapsed=time.perf_counter() - started, language=lang)

    def _bind_needed(self, best: Candidate, spans: Sequence[Span], lang: str, seed: int,
                     sampler_options: SamplerOptions, room: int | None, judge: "_Judge",
                     cancel: Any, started: float
                     ) -> tuple[Candidate, list[tuple[int, list[int], float]], int]:
        """Step 7: a hole that stands for a statement, after which the code reads names that
        nothing binds (``judge.needed[i]``), gets a second fill that binds them: the model
        writes the rest of ``a, b = `` there; a hole that ends a function which promises a
        value and returns none (``judge.returns[i]``) gets the rest of ``return``. That fill
        replaces the best one when it ranks higher, as candidates rank: standing (parse,
        blanks, names: a fill that leaves out what is needed stands worse), then score.
        Returns the candidate kept, (span, token ids, confidence) of each binding taken (the
        trajectory's last frame), and the passes run."""
        codec, passes, taken = self.denoiser.codec, 0, []
        for i, span in enumerate(spans):
            wanted, fill = judge.needed[i], best.spans[i]
            if wanted:
                if names.binds_any(fill.text, wanted):
                    continue
                head = ", ".join(wanted) + " ="  # the model writes the space (`` x``: one token)
            elif (judge.returns[i] is not None
                  and names.lacks_return(best.text, max(fill.start - 1, 0), lang)):
                head = "return"
            else:
                continue
            if room is not None and passes >= room:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled("fill cancelled")
            rest = best.text[:fill.start] + best.text[fill.end:]
            start = fill.start
            line_start = rest.rfind("\n", 0, start) + 1
            line_end = rest.find("\n", start)
            line_end = len(rest) if line_end < 0 else line_end
            whole = is_whole_line(rest, replace(span, start=start, end=start))
            if not whole and (rest[line_start:start].strip() or rest[start:line_end].strip()):
                continue  # the hole is part of a statement: nothing to bind there
            if head == "return" and start == line_start:
                indent = judge.returns[i] or ""  # the body of the function it ends
            else:
                indent = whole_line_indent(rest, start) if whole else ""
            lead, tail = indent + head, "\n" if whole else ""
            text = rest[:start] + lead + tail + rest[start:]
            inner = Span(start + len(lead), start + len(lead), HOLE)
            run = self._sample(text, [inner], [0], [self._budget(text, inner, None)], [False],
                               lang, seed, sampler_options, [0], 0,
                               None if room is None else room - passes, None, cancel, started)
            passes += run.passes
            got = run.fills[0][0]
            score = got.logp_sum / got.n if got.n else 0.0
            new = lead + (got.text if got.text[:1].isspace() else " " + got.text) + tail
            candidate = judge.replaced(best, i, new, score)
            if (judge.standing(candidate), -score) < (judge.standing(best), -best.score):
                best = candidate
                taken.append((i, codec.encode(new), math.exp(score)))
        return best, taken, passes

    def _copy_fills(self, best: Candidate, spans: Sequence[Span], order: list[int],
                    budgets: list[int], lang: str, shortlist: int, room: int | None,
                    judge: "_Judge", in_view: Sequence[frozenset[str] | None],
                    cancel: Any = None
                    ) -> tuple[Candidate, list[tuple[int, list[int], float]], int]:
        """Step 8: each one-line hole's fill against lines copied from the rest of the text,
        while ``room`` (passes left under ``steps``; None: no cap) allows. Copies that read
        names out of view at hole i (``in_view[i]``, ``_names_at_holes``; None: not known)
        are not offered; those that bind a name the code after it needs are scored first.
        Returns the candidate kept, (span, slot ids, confidence) of each copy taken, and the
        passes run."""
        codec, passes, copied = self.denoiser.codec, 0, []
        for i, span in enumerate(spans):
            fill = best.spans[i]
            if "\n" in fill.text.rstrip("\n"):
                continue  # the model wrote several lines there: a copied line is one
            if room is not None and passes + COPY_PASSES > room:
                break
            if cancel is not None and cancel.is_set():
                raise Cancelled("fill cancelled")
            rest = best.text[:fill.start] + best.text[fill.end:]
            hole = replace(span, start=fill.start, end=fill.start)
            texts = copy_texts(rest, hole, is_whole_line(rest, hole))
            wanted, visible = judge.needed[i], in_view[i]
            if visible is not None:
                texts = [t for t in texts if _in_view(t, visible)]
            if not texts:
                continue
            ids = [codec.encode(t) for t in [fill.text] + texts]
            first = [k + 1 for k, t in enumerate(texts) if wanted and names.binds_any(t, wanted)]
            # The fill's own text may take a token more than its slots (a whole line's newline).
            budget = max(budgets[order.index(i)], len(ids[0]))
            scores = self._likelihoods(rest, hole, budget, lang, ids, shortlist, first)
            passes += COPY_PASSES
            if scores[0] is None:
                continue
            # A copy the model finds likelier than the fill, standing no worse (parse, blanks,
            # names, lint), may replace it; of those, the best standing, then the likeliest.
            own = judge.standing(best)
            kept, kept_rank = None, (own, -scores[0])
            for k in sorted((k for k in range(1, len(ids))
                             if scores[k] is not None and scores[k] > scores[0]),
                            key=lambda k: -scores[k]):
                candidate = judge.replaced(best, i, texts[k - 1], scores[k])
                rank = (judge.standing(candidate), -scores[k])
                if rank[0] <= own and rank < kept_rank:
                    kept, kept_rank = (k, candidate), rank
                if not any(rank[0]):
                    break  # the likeliest copy that stands clean: none after it ranks higher
            if kept is not None:
                k, best = kept
                nulls = [self.denoiser.null_id] * (budget - len(ids[k]))
                copied.append((i, ids[k] + nulls, math.exp(best.score)))
        return best, copied, passes

    def _likelihoods(self, text: str, hole: Span, budget: int, lang: str,
                     texts: list[list[int]], shortlist: int,
                     first: Sequence[int] = ()) -> list[float | None]:
        """How likely the model finds each token sequence in ``texts`` filling ``hole``'s
        ``budget`` slots (its tokens, then nulls), in ``COPY_PASSES`` passes. One pass with
        every slot masked ranks the sequences by their tokens' probabilities read
        independently; ``texts[0]`` and the first ``shortlist`` of the rest are then scored
        in four passes, each masking every fourth slot while the others show the sequence
        (a pseudo-likelihood: every token judged in view of the rest), each reduced to one
        score by ``_copy_score``. A backend with a context cache computes the context once, in the
        first pass, and the four passes recompute only the slots of each sequence against
        it (the sampler's approximation). Sequences ``first`` (indices into ``texts``) enter
        the shortlist before the others. None: not scored (longer than the slots, or outside
        the shortlist)."""
        d = self.denoiser
        layout = Layout(d.mask_id, d.bos_id, d.eos_id, d.header_id(lang), d.max_context)
        canvas = plan_canvases(text, [hole], [budget], d.codec, layout)[0]
        offset, length = canvas.groups[0].offset, canvas.groups[0].length
        slots = torch.arange(offset, offset + length)
        fits = [k for k, t in enumerate(texts) if len(t) <= length]
        filled = torch.tensor([texts[k] + [d.null_id] * (length - len(texts[k])) for k in fits],
                              dtype=torch.long).view(len(fits), length)
        blank = torch.tensor([canvas.ids])
        in_slots = torch.zeros_like(blank, dtype=torch.bool)
        in_slots[:, slots] = True
        cached = hasattr(d, "encode") and hasattr(d, "logits_active") and not d.shifted_logits
        if cached:
            logits, cache = d.encode(blank, torch.ones_like(blank), in_slots)
        else:
            logits = self.logits_fn(blank, torch.ones_like(blank), in_slots)[in_slots]
        masked = torch.log_softmax(logits.float().cpu(), -1)                  # (length, V)
        independent = masked.gather(1, filled.T).sum(0)                        # per sequence
        asked = set(first)
        ahead = {r for r, k in enumerate(fits) if k in asked}
        chosen = sorted(range(1, len(fits)),
                        key=lambda r: (r not in ahead, -independent[r].item()))[:shortlist]
        chosen = ([0] if fits and fits[0] == 0 else []) + chosen
        out: list[float | None] = [None] * len(texts)
        if not chosen:
            return out
        scored = filled[chosen]                                                # (B, length)
        per_slot = torch.zeros(scored.shape)
        if cached:
            cache = cache.select(torch.zeros(len(chosen), dtype=torch.long))   # one per row
            positions = slots.repeat(len(chosen), 1)
        for phase in range(4):
            shown = scored.clone()
            shown[:, phase::4] = d.mask_id
            read = torch.zeros_like(shown, dtype=torch.bool)
            read[:, phase::4] = True
            if cached:
                logits = d.logits_active(shown, positions, cache, read)          # (N, V)
            else:
                rows = blank.repeat(len(chosen), 1)
                rows[:, slots] = shown
                where = torch.zeros_like(rows, dtype=torch.bool)
                where[:, slots] = read
                logits = self.logits_fn(rows, torch.ones_like(rows), where)[where]
            logp = torch.log_softmax(logits.float().cpu(), -1).view(len(chosen), -1,
                                                                   logits.shape[-1])
            per_slot[:, phase::4] = logp.gather(2, scored[:, phase::4].unsqueeze(2)).squeeze(2)
        for r, values in zip(chosen, per_slot.tolist()):
            out[fits[r]] = _copy_score(values, len(texts[fits[r]]))
        return out

    def _sample(self, text: str, ordered: list[Span], order: list[int], budgets: list[int],
                whole: Sequence[bool], lang: str, seed: int, sampler_options: SamplerOptions,
                ks: list[int], first_round: int, cap: int | None, on_frame, cancel,
                started: float) -> "_Run":
        """Sample candidates ``ks`` (their numbers set seeds and temperatures), growing a
        used-up hole's budget in later rounds (``budgets`` is updated in place)."""
        n = max(ks) + 1
        grown_cap = max(8, self.denoiser.max_context // 2)
        passes = 0
        fills: list[list[Any]] = []
        kept: list[list[Any]] | None = None  # per candidate, per span: slot ids of a kept fill
        for round_ in range(first_round, first_round + MAX_ROUNDS):
            live: list[Frame] = []
            round_options = sampler_options if cap is None else replace(sampler_options,
                                                                        steps=cap - passes)
            rows, out = self._run(text, ordered, order, budgets, lang, seed, round_,
                                  round_options, ks, on_frame, live, cancel, started, kept)
            passes += out.forward_passes
            fresh = self._read_fills(rows, out, ordered, n, whole)
            fills = fresh if not fills else [[new if new is not None else old
                                               for new, old in zip(mine, before)]
                                              for mine, before in zip(fresh, fills)]
            used_up = [i for i, s in enumerate(ordered)
                       if self._elastic(s) and fills[ks[0]][i].full and budgets[i] < grown_cap]
            if (not used_up or round_ == first_round + MAX_ROUNDS - 1
                    or (cap is not None and passes >= cap)):
                break
            # The next round fills only the used-up holes, with more room; the others keep
            # their fills, which the model now sees as context (rows with nothing open left
            # cost no pass on backends that skip finished rows).
            kept = self._slot_tokens(rows, out, len(ordered), n)
            for i in used_up:
                budgets[i] = min(grown_cap, budgets[i] * 2)
                for per_span in kept:
                    per_span[i] = None
        return _Run(ks, [fills[k] for k in ks], rows, out, live, round_, passes)

    # -- planning ---------------------------------------------------------------------------

    def _blank_ids(self) -> frozenset[int]:
        """Token ids whose text is only whitespace (computed once per model)."""
        blank = getattr(self, "_blank", None)
        if blank is None:
            codec = self.denoiser.codec
            blank = self._blank = frozenset(i for i in range(codec.vocab_size)
                                             if not codec.decode([i]).strip())
        return blank

    def _language(self, language: str | None, path: str | None, text: str) -> str:
        return normalise_language(language) or guess_language(path, text)

    def _elastic(self, span: Span) -> bool:
        return self.denoiser.null_id is not None and span.max_lines is None

    def _budget(self, text: str, span: Span, override: int | None) -> int:
        defaults = self.denoiser.defaults
        return slot_budget(text, span, self.denoiser.codec,
                           elastic=self.denoiser.null_id is not None,
                           hole_budget=int(defaults.get("hole_budget", HOLE_BUDGET)),
                           line_budget=int(defaults.get("line_budget", LINE_BUDGET)),
                           override=override)

    def _rows(self, text: str, spans: list[Span], budgets: list[int], lang: str,
              ks: Sequence[int], kept: list[list[Any]] | None = None) -> list[Row]:
        """Canvas rows, candidate by candidate. ``kept[k][i]``: the slot ids of span i's fill
        in candidate k when it is done (shown, not filled again); None where it is open."""
        d = self.denoiser
        layout = Layout(d.mask_id, d.bos_id, d.eos_id, d.header_id(lang), d.max_context)
        prefills = [self._prefill(text, s, budget) for s, budget in zip(spans, budgets)]
        if kept is None:
            canvases = plan_canvases(text, spans, budgets, d.codec, layout, prefills)
            return [Row(c, k) for k in ks for c in canvases]
        rows = []
        for k in ks:
            shown = [old if old is not None else new for old, new in zip(kept[k], prefills)]
            canvases = plan_canvases(text, spans, budgets, d.codec, layout, shown,
                                     [old is not None for old in kept[k]])
            rows += [Row(c, k) for c in canvases]
        return rows

    @staticmethod
    def _slot_tokens(rows: list[Row], out: SampleOutput, n_spans: int,
                     k_candidates: int) -> list[list[Any]]:
        """Per candidate, per span: the ids in its slots after a round (nulls included)."""
        tokens: list[list[Any]] = [[None] * n_spans for _ in range(k_candidates)]
        ids = out.ids.tolist()
        for b, row in enumerate(rows):
            for g in row.canvas.groups:
                tokens[row.k][g.span] = tuple(ids[b][g.offset:g.offset + g.length])
        return tokens

    def _prefill(self, text: str, span: Span, budget: int) -> list[int]:
        """What a rewrite of strength < 1 shows in its slots: the old tokens, then null in
        the slots beyond them. The repair judges all of them and re-masks the unlikely
        ones; spare slots left masked would be written with text by a model that sees no
        reason to end there (junk after correct lines)."""
        if span.kind != REWRITE or span.strength >= 1.0:
            return []
        old = self.denoiser.codec.encode(text[span.start:span.end])
        null = self.denoiser.null_id
        return old + [null] * (budget - len(old)) if null is not None else old

    def _layout_positions(self, rows: list[Row]) -> list[tuple[int, int]]:
        """(row, position) of the old tokens of a repair rewrite that are only line layout:
        newlines and the indentation after them. A repair re-masks what the model finds
        unlikely, and whitespace is often that; regenerated, it came back unindented."""
        d = self.denoiser
        out = []
        for b, row in enumerate(rows):
            for g in row.canvas.groups:
                if g.kept:
                    continue
                line_start = True
                for j, token in enumerate(g.prefill):
                    if token == d.null_id:
                        break
                    piece = d.codec.piece(token)
                    layout = piece != "" and not piece.strip() and (line_start or "\n" in piece)
                    if layout:
                        out.append((b, g.offset + j))
                    line_start = piece.endswith("\n") or (layout and line_start)
        return out

    # -- sampling ---------------------------------------------------------------------------

    def logits_fn(self, ids: torch.Tensor, attention: torch.Tensor,
                  wanted: torch.Tensor | None = None) -> torch.Tensor:
        """The backend's logits, realigned for models that predict position i at i - 1."""
        d = self.denoiser
        if d.shifted_logits:
            if wanted is not None:
                wanted = torch.cat([wanted[:, 1:], wanted[:, :1]], dim=1) | wanted
            logits = d.logits(ids, attention, wanted)  # (B, L, V)
            return torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return d.logits(ids, attention, wanted)

    def _run(self, text, spans, order, budgets, lang, seed, round_,
             options: SamplerOptions, ks: Sequence[int], on_frame, live: list[Frame], cancel,
             started, kept=None) -> tuple[list[Row], SampleOutput]:
        d = self.denoiser
        rows = self._rows(text, spans, budgets, lang, ks, kept)
        batch = make_batch(rows, spans, pad_id=d.pad_id, mask_id=d.mask_id, null_id=d.null_id,
                           banned_ids=d.banned_ids(), seed=seed, round_=round_,
                           temperature=options.temperature,
                           rescore_chunks=1 if d.scores_visible else RESCORE_CHUNKS,
                           code_expected=[lang not in PROSE and s.kind == HOLE for s in spans],
                           blank_ids=self._blank_ids())
        for b, position in self._layout_positions(rows):
            batch.rescore[b, position] = False  # shown and kept: never re-masked
        first = [b for b, r in enumerate(rows) if r.k == ks[0]]  # the run's lead candidate: live

        def on_step(record: StepRecord, current: torch.Tensor, confidence: torch.Tensor) -> None:
            views = [FrameRow(rows[b].canvas.groups, current[b].tolist(), confidence[b].tolist(),
                              frozenset(record.committed[b]),
                              frozenset(record.remasked[b]) if record.remasked else frozenset())
                     for b in first]
            frame = make_frame(views, order, record.step, round_, time.perf_counter() - started,
                               d.mask_id, d.null_id, d.codec.piece)
            live.append(frame)
            on_frame(frame)

        run = getattr(d, "sampler", None) or sample  # a backend may bring its own (DreamOn)
        out = run(self._passes(batch, options), batch, options,
                  on_step=on_step if on_frame else None, cancel=cancel)
        return rows, out

    def _passes(self, batch, options: SamplerOptions):
        """The sampler's ``logits_fn`` for one run: a backend with its own forward gets
        logits only where read and the context cache (``backends.passes``)."""
        d = self.denoiser
        if d.shifted_logits or not hasattr(d, "encode"):
            return self.logits_fn
        from infill.backends.passes import ModelPasses

        return ModelPasses(d, batch.slots, options.cache_refresh)

    def _read_fills(self, rows: list[Row], out: SampleOutput, spans: list[Span],
                    k_candidates: int, whole: Sequence[bool]):
        """Per candidate, per span: the filled text and its scores (None for kept spans)."""
        d = self.denoiser
        fills: list[list[Any]] = [[None] * len(spans) for _ in range(k_candidates)]
        ids, conf, logp = out.ids.tolist(), out.confidence.tolist(), out.logprob.tolist()
        for b, row in enumerate(rows):
            for g in row.canvas.groups:
                if g.kept:
                    continue
                seg = slice(g.offset, g.offset + g.length)
                fills[row.k][g.span] = read_fill(ids[b][seg], conf[b][seg], logp[b][seg],
                                                 spans[g.span], d.null_id, d.codec.decode,
                                                 whole[g.span])
        return fills

    def _replay(self, rows: list[Row], out: SampleOutput, order, k: int, round_: int,
                elapsed: float) -> list[Frame]:
        """Frames of candidate ``k`` in the last round, rebuilt from the step records."""
        d = self.denoiser
        chosen = [b for b, r in enumerate(rows) if r.k == k]
        steps = [StepView(r.step, r.committed, r.remasked) for r in out.steps]
        return replay_frames(steps, chosen, [r.canvas.groups for r in rows], out.ids.tolist(),
                             out.confidence.tolist(), order, round_, elapsed, d.mask_id,
                             d.null_id, d.codec.piece)


def _parse_errors(text: str, lang: str) -> int | None:
    return syntax.count_errors(text, lang) if lang != UNKNOWN else None


def _base_errors(text: str, ordered: Sequence[Span],
                 count: Callable[[str], int | None]) -> int | None:
    """Parse errors of the original with a plausible placeholder in each hole (the fewest
    over the placeholders tried): a fill is judged against code that has something there,
    not against the hole left empty. None without a grammar."""
    options_per_span = placeholder_texts(text, ordered)
    trials = [count(splice(text, ordered, [o[min(j, len(o) - 1)] for o in options_per_span]))
              for j in range(max((len(o) for o in options_per_span), default=1))]
    known = [e for e in trials if e is not None]
    return min(known) if known else None


@dataclass(frozen=True)
class _Judge:
    """How one fill's candidates are judged before their scores (``fills.standing``): parse
    errors against the original's with a placeholder in each hole, blank code holes, and
    (Python) faults with names: names read that nothing in view binds, names the code
    after a hole needs bound (``needed``, per span in the caller's order) left unbound, and
    a function that should return a value (``returns``) left without one; and lint (code
    cut off, words stuttered: ``lint.count``)."""

    lang: str
    base_errors: int | None
    code_expected: Sequence[bool]
    needed: Sequence[Sequence[str]]
    returns: Sequence[str | None]  # per span: it ends a function that should return a value
                                   # (the indentation of a line there), else None

    def errors(self, text: str) -> int | None:
        return _parse_errors(text, self.lang)

    def faults(self, text: str, ranges: list[tuple[int, int]]) -> Faults:
        found = names.undefined_names(text, ranges, self.lang)
        # The character before a fill is in the function it ends (a whole-line fill starts
        # the line after the function's last one).
        missing = sum(1 for (start, _), indent in zip(ranges, self.returns)
                      if indent is not None
                      and names.lacks_return(text, max(start - 1, 0), self.lang))
        return Faults(None if found is None else len(found),
                      names.unbound_count(text, ranges, self.needed, self.lang) + missing,
                      lint.count(text, ranges, self.lang))

    def candidate(self, text: str, ordered: Sequence[Span], order: Sequence[int],
                  fills: Sequence[Any]) -> Candidate:
        return make_candidate(text, ordered, order, fills, self.errors, self.faults)

    def replaced(self, best: Candidate, index: int, new: str, score: float) -> Candidate:
        return replace_fill(best, index, new, score, self.errors, self.faults)

    def standing(self, candidate: Candidate) -> tuple[bool, int, int, int]:
        return standing(candidate, self.base_errors, self.code_expected)

    def falls_short(self, candidate: Candidate) -> bool:
        return falls_short(candidate, self.base_errors, self.code_expected)

    def rank(self, candidates: Sequence[Candidate]) -> list[int]:
        return rank_candidates(candidates, self.base_errors, self.code_expected)


def _names_at_holes(text: str, spans: Sequence[Span], lang: str
                    ) -> list[tuple[tuple[str, ...], frozenset[str] | None, str | None]]:
    """Per span (the caller's order): the names the code after a hole reads and nothing
    binds (a fill there should bind them), the names in view at the hole (None: not
    known), and, when the hole ends a function that should return a value and returns
    none (``names.needs_return``), the indentation of a line there (else None). Read with a
    placeholder in the hole (``placeholder_texts``), the other holes as they are; a hole at
    the start of the line after a function's last line is also tried at that line's
    indentation (the body may go on there). ((), None, None) for rewrites and where Python
    cannot tell (``infill.names``)."""
    out: list[tuple[tuple[str, ...], frozenset[str] | None, str | None]] = []
    for span in spans:
        found: tuple[tuple[str, ...], frozenset[str] | None, str | None] = ((), None, None)
        if lang == "python" and span.kind == HOLE:
            # A placeholder first (it tells the names in view too), the hole empty last.
            for option in sorted(placeholder_texts(text, [span])[0], key=lambda o: o == ""):
                trial = text[:span.start] + option + text[span.end:]
                wanted = names.needed_names(trial, span.start, span.start + len(option), lang)
                if wanted is None:
                    continue
                at = option.find(PLACEHOLDER)
                visible = None if at < 0 else names.visible_names(trial, span.start + at, lang)
                returns = option[:at] if at >= 0 and names.needs_return(
                    trial, span.start + at, lang) else None
                found = (tuple(wanted), visible, returns)
                if visible is not None:
                    break
            if found[2] is None and (span.start == 0 or text[span.start - 1] == "\n"):
                found = (*found[:2], _return_indent(text, span))
        out.append(found)
    return out


def _return_indent(text: str, span: Span) -> str | None:
    """For a hole at the start of the line after a function's last line: that line's
    indentation when a function ending there should return a value
    (``names.needs_return``), else None."""
    before = text[:span.start].rstrip("\n").rsplit("\n", 1)[-1]
    indent = before[:len(before) - len(before.lstrip(" \t"))]
    if not indent:
        return None
    trial = text[:span.start] + indent + PLACEHOLDER + "\n" + text[span.end:]
    return indent if names.needs_return(trial, span.start + len(indent), "python") else None


def _in_view(code: str, visible: frozenset[str]) -> bool:
    """A copied line reads only names in view at the hole (or cannot be told apart)."""
    found = names.statement_names(code)
    return found is None or found[0] <= visible


@dataclass(frozen=True)
class _Run:
    """One sampling run: candidates ``ks`` through every elastic round."""

    ks: list[int]
    fills: list[list[Any]]  # per candidate (in ``ks`` order), per span
    rows: list[Row]         # of the last round
    out: SampleOutput       # of the last round
    live: list[Frame]       # the lead candidate's frames of the last round (with on_frame)
    last_round: int
    passes: int


class _LazyFrames(Sequence):
    """A fill's trajectory, replayed from its step records on first use: a tuple of frames
    to every reader, at no cost to the callers that never look."""

    def __init__(self, build: Callable[[], list[Frame]]) -> None:
        self._build: Callable[[], list[Frame]] | None = build
        self._frames: tuple[Frame, ...] = ()

    def _get(self) -> tuple[Frame, ...]:
        if self._build is not None:
            self._frames, self._build = tuple(self._build()), None
        return self._frames

    def __getitem__(self, index):
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __eq__(self, other: object) -> bool:
        return self._get() == (tuple(other) if isinstance(other, Sequence) else other)

    def __hash__(self) -> int:
        return hash(self._get())

    def __repr__(self) -> str:
        return repr(self._get())


COPY_PASSES = 5  # passes that score one hole's copies (``Filler._likelihoods``)


def _copy_score(values: list[float], n_text: int) -> float:
    """A sequence's score from its slots' log-probabilities (text tokens, then nulls): the
    mean over its text tokens and the first null, the slot that ends it (as candidates are
    ranked by mean log-probability; a sum over every slot favours the shortest lines,
    whose many nulls are easy)."""
    used = values[:n_text + 1]
    return sum(used) / len(used)


# Rewrite strength < 1 with a model not trained to judge visible tokens: the old tokens are
# scored in this many passes, each masking a quarter of them (DESIGN section 5).
RESCORE_CHUNKS = 4


def _options(options: FillOptions | None, kw: dict[str, Any]) -> FillOptions:
    if options is not None and kw:
        raise TypeError("pass sampler options either as options= or as keywords, not both")
    return options if options is not None else FillOptions.from_kwargs(**kw)
