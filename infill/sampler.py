"""The reverse process: fill mask slots step by step with a denoiser.

Each step runs one forward pass over the batch, predicts every masked slot, and commits some
of them; the rest stay masked for the next step. Which ones is the strategy's choice
(``infill.strategies``: confidence, threshold, margin, entropy, random). The last allowed step
commits everything left, so ``steps`` bounds the forward passes.

Tokens outside the slots are never written. Each row has its own ``torch.Generator``, so a
seed reproduces a run whatever else is in the batch. Like nanochat's engine, this module
knows nothing of text: it works on a ``Batch`` of token ids and calls ``logits_fn``.

``logits_fn(ids, attention, wanted) -> (B, L, V)``: ``wanted`` (B, L, bool) marks the
positions whose logits the sampler reads at this pass; the others may hold anything. This is
the seam for a backend that computes the output head only where it is needed, or that
caches the unchanged context between passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Callable, Sequence

import torch

from infill.batch import Batch
from infill.errors import Cancelled
from infill.options import SamplerOptions
from infill.strategies import STRATEGIES, Scores

# Early stop (strategies with ``early_stop``): once a row's text is written, its slots with
# P(null) above this are committed as nulls in the same pass. Calibrated on the first 25
# records of each evaluation set (docs/BENCHMARKS.md): at 0.3 exact match fell, 0.5-0.9
# kept it; 0.5 saves the most passes of those.
EARLY_NULL = 0.5

__all__ = ["SamplerOptions", "StepRecord", "SampleOutput", "LogitsFn", "sample", "pick_tokens",
           "filter_logits", "choose_commits"]


@dataclass
class StepRecord:
    """What one step did to the slots of the batch (positions are row-relative)."""

    step: int
    committed: list[list[int]]  # per row: positions committed at this step
    remasked: list[list[int]] = field(default_factory=list)


@dataclass
class SampleOutput:
    ids: torch.Tensor          # (B, L) final ids, no mask left in any slot
    confidence: torch.Tensor   # (B, L) probability of each slot's token when committed
    logprob: torch.Tensor      # (B, L) its log-probability
    steps: list[StepRecord]
    forward_passes: int


LogitsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
OnStep = Callable[[StepRecord, torch.Tensor, torch.Tensor], None]


def sample(logits_fn: LogitsFn, batch: Batch, options: SamplerOptions, *,
           on_step: OnStep | None = None, cancel: object | None = None) -> SampleOutput:
    """Denoise every masked slot of ``batch``; returns the filled ids and per-token scores.

    ``on_step(record, ids, confidence)`` sees the state after every pass; ``cancel`` (a
    ``threading.Event``) raises ``Cancelled`` at the next step once set."""
    ids = batch.ids.clone()
    mask_id, null_id = batch.mask_id, batch.null_id
    banned = list(batch.banned_ids) + [mask_id]
    size = ids.shape[0]
    masked = batch.slots & (ids == mask_id)  # (B, L)
    confidence = torch.zeros(ids.shape, dtype=torch.float32)
    logprob = torch.zeros(ids.shape, dtype=torch.float32)
    records: list[StepRecord] = []
    passes = 0

    if batch.rescore is not None and batch.rescore.any():
        chunks = max(1, batch.rescore_chunks)
        remasked = _remask_unlikely(logits_fn, ids, batch.attention, batch.rescore,
                                    batch.rescore_fraction or [1.0] * size, chunks, mask_id)
        passes += chunks
        masked |= remasked
        ids[remasked] = mask_id
        record = StepRecord(0, [[] for _ in range(size)],
                            [remasked[b].nonzero().flatten().tolist() for b in range(size)])
        records.append(record)
        if on_step:
            on_step(record, ids, confidence)

    previous = torch.full(ids.shape, -1, dtype=torch.long)  # (B, L) last pass's predictions
    row_options = [options if batch.temperatures is None
                   else replace(options, temperature=batch.temperatures[b]) for b in range(size)]
    total = int(masked.sum(dim=1).max().item()) if size else 0
    steps = options.steps if options.steps is not None else max(total, 1)
    if options.steps is not None and batch.rescore_chunks > 1:
        steps = max(1, steps - passes)  # chunked judging passes count against --steps
    for step in range(1, steps + 1):
        if not masked.any():
            break
        if cancel is not None and cancel.is_set():
            raise Cancelled("fill cancelled")
        logits = logits_fn(ids, batch.attention, masked.clone())  # (B, L, V)
        passes += 1
        committed = [[] for _ in range(size)]
        for b in range(size):
            if step == 1 and null_id is not None and batch.slot_ranges is not None:
                committed[b] = _decide_lengths(logits[b], ids[b], masked[b], batch.slot_ranges[b],
                                               null_id, options.null_threshold, banned,
                                               confidence[b], logprob[b],
                                               None if batch.text_first is None else batch.text_first[b])
            where = masked[b].nonzero().flatten()  # (n,)
            if where.numel() == 0:
                continue
            last = step == steps
            steps_left = steps - step + 1
            if options.block_length and batch.slot_ranges is not None and not last:
                total = where.numel()
                where = current_blocks(where, batch.slot_ranges[b], options.block_length)
                steps_left = max(1, steps_left * where.numel() // total)  # the block's share
            row = logits[b, where].float()  # (n, V)
            row[:, banned] = -math.inf
            if batch.text_first is not None:
                must, last_chance = _must_write(ids[b], masked[b], batch.text_first[b],
                                                batch.slot_ranges[b], null_id, batch.blank_ids)
                row[must[where], null_id] = -math.inf
                if last_chance.any() and batch.blank_ids:
                    blank = torch.tensor(sorted(batch.blank_ids))
                    row[last_chance[where].nonzero().flatten()[:, None], blank[None, :]] = -math.inf
            span_of = None
            if (STRATEGIES[options.strategy].per_span and batch.slot_ranges is not None
                    and len(batch.slot_ranges[b]) > 1):
                span_of = _span_of(where, batch.slot_ranges[b])
            if null_id is None:
                tokens, probs, logp = pick_tokens(row, row_options[b], batch.generators[b])
                chosen = choose_commits(probs, options, 1 if last else steps_left,
                                        row, batch.generators[b], previous[b, where] == tokens)
                if span_of is not None and not last:
                    chosen = _one_per_span(chosen, torch.arange(where.numel()), probs, span_of)
            else:
                tokens, probs, logp, chosen = _plan_with_nulls(
                    row, null_id, row_options[b], batch.generators[b], last, steps_left,
                    previous[b, where], span_of)
                if batch.text_first is not None and not last:
                    chosen = _never_close_blank(chosen, where, tokens, ids[b], masked[b],
                                                batch.text_first[b], batch.slot_ranges[b],
                                                null_id, batch.blank_ids)
            previous[b, where] = tokens
            pos = where[chosen]
            ids[b, pos] = tokens[chosen]
            confidence[b, pos] = probs[chosen]
            logprob[b, pos] = logp[chosen]
            masked[b, pos] = False
            committed[b] += pos.tolist()
        record = StepRecord(step, committed)
        records.append(record)
        if on_step:
            on_step(record, ids, confidence)
    return SampleOutput(ids, confidence, logprob, records, passes)


def _span_of(where: torch.Tensor, ranges: Sequence[tuple[int, int]]) -> torch.Tensor:
    """(n,) the index of the span each masked position in ``where`` belongs to."""
    span_of = torch.full_like(where, -1)
    for i, (start, end) in enumerate(ranges):
        span_of[(where >= start) & (where < end)] = i
    return span_of


def _one_per_span(chosen: torch.Tensor, eligible: torch.Tensor, scores: torch.Tensor,
                  span_of: torch.Tensor) -> torch.Tensor:
    """``chosen`` plus, for every span with an ``eligible`` slot but nothing chosen, its
    best-scoring eligible slot (indices into the row's masked slots, sorted)."""
    have = set(span_of[chosen].tolist())
    extra = []
    for span in sorted(set(span_of[eligible].tolist()) - have):
        members = eligible[span_of[eligible] == span]
        extra.append(members[scores[members].argmax()])
    if not extra:
        return chosen
    return torch.cat([chosen, torch.stack(extra)]).sort().values


def current_blocks(where: torch.Tensor, ranges: Sequence[tuple[int, int]], size: int) -> torch.Tensor:
    """Semi-autoregressive decoding: of the masked positions ``where``, those in each span's
    first block (``size`` slots from the span's start) that still has a mask."""
    keep = []
    for start, end in ranges:
        inside = where[(where >= start) & (where < end)]
        if inside.numel():
            block = (int(inside[0]) - start) // size
            keep.append(inside[(inside - start) // size == block])
    return torch.cat(keep) if keep else where


def pick_tokens(
    logits: torch.Tensor, options: SamplerOptions, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """A token per position, with its probability and log-probability.

    Probabilities are those of the untempered distribution, so confidence means the same at
    any temperature; temperature, top-k and top-p shape only the draw.
    """
    logp = torch.log_softmax(logits, dim=-1)  # (n, V)
    if options.temperature == 0.0:
        tokens = logits.argmax(dim=-1)
    else:
        shaped = filter_logits(logits / options.temperature, options.top_k, options.top_p)
        uniform = torch.rand(shaped.shape, generator=generator).clamp_(1e-10, 1.0)
        tokens = (shaped - torch.log(-torch.log(uniform))).argmax(dim=-1)  # Gumbel-max
    chosen = logp.gather(-1, tokens[:, None]).squeeze(-1)  # (n,)
    return tokens, chosen.exp(), chosen


def filter_logits(logits: torch.Tensor, top_k: int | None, top_p: float | None) -> torch.Tensor:
    """Top-k, then nucleus (top-p) filtering: what is cut gets -inf."""
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None and top_p < 1.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
        cut = cumulative - torch.softmax(sorted_logits, dim=-1) > top_p  # keep the first over p
        sorted_logits = sorted_logits.masked_fill(cut, -math.inf)
        logits = torch.full_like(logits, -math.inf).scatter(-1, order, sorted_logits)
    return logits


def choose_commits(probs: torch.Tensor, options: SamplerOptions, steps_left: int,
                   logits: torch.Tensor | None = None,
                   generator: torch.Generator | None = None,
                   stable: torch.Tensor | None = None) -> torch.Tensor:
    """Indices (into ``probs``) of the predictions to commit at this step: all of them at the
    last step, else the strategy's choice with k spread evenly over the steps left.
    ``logits`` (n, V) is the untempered prediction (margins and entropies come from it)."""
    n = probs.numel()
    if steps_left <= 1:
        return torch.arange(n)
    k = max(1, math.ceil(n / steps_left))
    scores = Scores(probs, logits, generator, stable)
    return STRATEGIES[options.strategy].choose(scores, k, options.threshold)


def _decide_lengths(logits: torch.Tensor, ids: torch.Tensor, masked: torch.Tensor,
                    ranges, null_id: int, threshold: float, banned: list[int],
                    confidence: torch.Tensor, logprob: torch.Tensor,
                    text_first: torch.Tensor | None = None) -> list[int]:
    """Elastic length, decided from the first forward pass: in each fully masked span, the
    slots from the first one where the model expects nothing (P(null) >= ``threshold``) to
    the end are committed as null at once. The house model is trained with a span's text
    first and its nulls after it, so P(null) grows along the slots and the first crossing is
    its estimate of the length; denoising then spends its steps on the text. A span whose
    first slot must hold text (``text_first``: a hole where code goes) keeps that slot open.
    Writes into the row's ``ids``, ``masked``, ``confidence`` and ``logprob``; returns the
    positions set."""
    done: list[int] = []
    for start, end in ranges:
        if end <= start or not bool(masked[start:end].all()):
            continue  # a span with visible tokens (rewrite strength < 1) keeps its length
        row = logits[start:end].float().clone()  # (S, V)
        row[:, banned] = -math.inf
        logp_null = row[:, null_id] - torch.logsumexp(row, dim=-1)  # (S,)
        over = (logp_null.exp() >= threshold).nonzero().flatten()
        if over.numel() == 0:
            continue
        first = int(over[0])
        if text_first is not None and bool(text_first[start]):
            first = max(first, min(2, end - start))  # room for indentation, then text
        if first >= end - start:
            continue
        tail = torch.arange(start + first, end)
        ids[tail] = null_id
        masked[tail] = False
        confidence[tail] = logp_null[first:].exp()
        logprob[tail] = logp_null[first:]
        done.extend(tail.tolist())
    return done


def _must_write(ids: torch.Tensor, masked: torch.Tensor, text_first: torch.Tensor, ranges,
                null_id: int, blank_ids: frozenset[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Slots that may not hold null now, and those that must hold visible text, both (L,)
    bool. In a span whose first slot is marked ``text_first`` (a hole where code goes) and
    that holds no text yet (only whitespace and nulls so far), the first masked slot may not
    be null; when it is the span's last masked slot, it may not be whitespace either: the
    fill cannot end blank."""
    must = torch.zeros_like(masked)
    last_chance = torch.zeros_like(masked)
    for start, end in ranges or ():
        if end <= start or not bool(text_first[start]):
            continue
        for pos in range(start, end):
            if bool(masked[pos]):
                must[pos] = True
                if int(masked[start:end].sum()) == 1:
                    last_chance[pos] = True
                break
            token = int(ids[pos])
            if token != null_id and token not in blank_ids:
                break
    return must, last_chance


def _never_close_blank(chosen: torch.Tensor, where: torch.Tensor, tokens: torch.Tensor,
                       ids: torch.Tensor, masked: torch.Tensor, text_first: torch.Tensor, ranges,
                       null_id: int, blank_ids: frozenset[int]) -> torch.Tensor:
    """``chosen`` without the nulls that would close a hole where code goes (``text_first``)
    with only whitespace in it: committing whitespace and the rest as null in one pass
    (the early stop) would pass by the last-chance rule of ``_must_write``. Those nulls stay
    masked, and the next pass must write text there."""
    pos = where[chosen]                                              # (c,) row positions
    new = tokens[chosen]                                             # (c,)
    drop = torch.zeros_like(chosen, dtype=torch.bool)
    for start, end in ranges or ():
        if end <= start or not bool(text_first[start]):
            continue
        inside = (pos >= start) & (pos < end)
        if int(inside.sum()) < int(masked[start:end].sum()):
            continue                                                 # the span stays open
        written = [int(t) for t in ids[start:end][~masked[start:end]]] + new[inside].tolist()
        if all(t == null_id or t in blank_ids for t in written):
            drop |= inside & (new == null_id)
    return chosen[~drop]


def _plan_with_nulls(row: torch.Tensor, null_id: int, options: SamplerOptions,
                     generator: torch.Generator, last: bool, steps_left: int,
                     previous: torch.Tensor | None = None,
                     span_of: torch.Tensor | None = None):
    """Which slots to commit, for a model with a "nothing here" token.

    A slot counts as text while the model finds text more likely than null there
    (P(null) < ``null_threshold``); text slots are committed as usual, best first, and only
    when no masked slot of the row is text any more are the rest committed as null. Nulls
    are the easiest predictions: committed by confidence they would creep in from the end
    of a span and leave it empty before any text is written.
    Returns (tokens, probs, logp, chosen) over the row's masked slots (n,).
    """
    logp_null = row[:, null_id] - torch.logsumexp(row, dim=-1)  # (n,)
    text_row = row.clone()
    text_row[:, null_id] = -math.inf
    tokens, _, logp_text = pick_tokens(text_row, options, generator)
    # Unconditional log-probability of the chosen text token: log P(text) + log P(tok | text).
    logp = logp_text + torch.log1p(-logp_null.exp().clamp(max=1 - 1e-6))
    is_text = logp_null.exp() < options.null_threshold
    if last or not is_text.any():
        tokens = torch.where(is_text, tokens, torch.full_like(tokens, null_id))
        logp = torch.where(is_text, logp, logp_null)
        return tokens, logp.exp(), logp, torch.arange(row.shape[0])
    text_at = is_text.nonzero().flatten()
    stable = None if previous is None else (previous == tokens)[text_at]
    chosen = text_at[choose_commits(logp[text_at].exp(), options, steps_left, text_row[text_at],
                                    generator, stable)]
    if span_of is not None:  # the strategy's minimum per span, not per row
        chosen = _one_per_span(chosen, text_at, logp.exp(), span_of)
    if STRATEGIES[options.strategy].early_stop and chosen.numel() == text_at.numel():
        # Every text slot is written now: the slots the model finds more likely empty than
        # not (P(null) > EARLY_NULL) are committed as nulls in the same pass, where the
        # one-token reference would spend a pass to confirm them. An unsure one waits for
        # the text to be seen (it may still become a closing ';').
        sure = ~is_text & (logp_null.exp() > EARLY_NULL)
        tokens = torch.where(is_text, tokens, torch.full_like(tokens, null_id))
        logp = torch.where(is_text, logp, logp_null)
        chosen = (is_text | sure).nonzero().flatten()
    return tokens, logp.exp(), logp, chosen


def _remask_unlikely(
    logits_fn: LogitsFn,
    ids: torch.Tensor,
    attention: torch.Tensor,
    rescore: torch.Tensor,
    fractions,
    chunks: int = 1,
    mask_id: int | None = None,
) -> torch.Tensor:
    """Rewrite strength < 1: judge the visible tokens in ``rescore`` and pick, per row, the
    fraction the model finds least likely. ``chunks == 1``: one forward pass over the tokens
    as shown (the house model is trained to spot replaced tokens). ``chunks > 1`` (a model
    trained on masked positions only, DESIGN section 5): pass c masks the old tokens whose
    rank within their row is c modulo ``chunks`` and reads each one's probability from its
    context. Returns the (B, L) mask of positions to mask again."""
    logp = torch.zeros(ids.shape, dtype=torch.float32)
    if chunks <= 1 or mask_id is None:
        logits = logits_fn(ids, attention, rescore.clone()).float()  # (B, L, V)
        logp = torch.log_softmax(logits, dim=-1).gather(-1, ids[..., None]).squeeze(-1)  # (B, L)
    else:
        rank = rescore.long().cumsum(dim=1) - 1
        for c in range(chunks):
            hidden = rescore & (rank % chunks == c)
            if not hidden.any():
                continue
            shown = ids.masked_fill(hidden, mask_id)
            logits = logits_fn(shown, attention, hidden.clone()).float()
            read = torch.log_softmax(logits[hidden], dim=-1).gather(-1, ids[hidden][:, None]).squeeze(-1)
            logp[hidden] = read
    out = torch.zeros_like(rescore)
    for b in range(ids.shape[0]):
        where = rescore[b].nonzero().flatten()
        if where.numel() == 0:
            continue
        k = max(1, round(fractions[b] * where.numel()))
        worst = torch.sort(logp[b, where], stable=True).indices[:k]
        out[b, where[worst]] = True
    return out
