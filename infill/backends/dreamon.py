"""DreamOn's variable-length sampler: a span grows and shrinks while it is denoised.

DreamOn (a Dream-architecture model) is trained with two extra meanings in its vocabulary:
``<|expand|>`` at a masked position means "more text here than one slot" and ``<|endoftext|>``
inside the middle means "the middle ends here". Its sampler, one token per step:

- scores every masked slot (entropy by default), commits the best one;
- a committed ``<|expand|>`` becomes two masks (the span grows by one; banned once the span is
  at its budget);
- a committed EOS ends the span: it and every still-masked slot after it are deleted.

This module runs that procedure on a batch of rows that may hold several spans each (each
span grows and shrinks on its own), re-laying the rows out after every step, and returns
the result in the engine's fixed layout: each span's slot range holds its final tokens and
then the null (EOS) for the unused slots, which the engine drops. ``steps`` bounds the forward
passes: the last allowed one commits every slot left (no expansion, EOS still ends a span).

Checked against DreamOn's own ``eval/generator.py`` on a tiny checkpoint:
tests/test_native_forward.py (``test_dreamon_sampler_matches_official``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import torch

from infill.errors import Cancelled


@dataclass
class _Span:
    offset: int          # first slot in the fixed layout
    budget: int          # slots in the fixed layout (the most the span may grow to)
    tokens: list[int]    # current tokens, masks included
    scores: list[float]  # probability of each token when committed (0 for masks)


def score(probs: torch.Tensor, strategy: str) -> torch.Tensor:
    """Per-position confidence from (n, V) probabilities: higher commits first."""
    if strategy == "entropy":
        return (probs * torch.log(probs + 1e-10)).sum(-1)       # negative entropy
    if strategy == "margin":
        top = torch.topk(probs, 2, dim=-1).values
        return top[:, 0] - top[:, 1]
    return probs.max(-1).values


def _shape(logits: torch.Tensor, temperature: float, top_p: float | None, top_k: int | None) -> torch.Tensor:
    if temperature > 0:
        logits = logits / temperature
    if top_k is not None and 0 < top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    if top_p is not None and top_p < 1.0:
        ordered, order = torch.sort(logits, dim=-1, descending=True)
        probs = torch.softmax(ordered, dim=-1)
        cut = probs.cumsum(-1) - probs > top_p
        ordered = ordered.masked_fill(cut, -math.inf)
        logits = torch.full_like(logits, -math.inf).scatter(-1, order, ordered)
    return logits


def dreamon_sample(
    logits_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],  # shifted logits
    ids: torch.Tensor, attention: torch.Tensor, slot_ranges: Sequence[Sequence[tuple[int, int]]],
    *, mask_id: int, expand_id: int, eos_id: int, pad_id: int, steps: int | None,
    strategy: str = "entropy", temperature: float = 0.0, top_p: float | None = None,
    top_k: int | None = None, generators: Sequence[torch.Generator] | None = None,
    banned_ids: Sequence[int] = (), initial: int = 4, on_step=None, cancel=None,
    temperatures: Sequence[float] | None = None,
):
    """Fill every span of every row. ``slot_ranges[b]``: (start, end) of each span's slots in
    row b of ``ids`` (fixed layout, ``end - start`` = the span's budget); a span starts from
    ``min(initial, budget)`` masks. Returns ``(ids, confidence, passes, records)`` in the
    fixed layout; ``on_step(step, committed, ids, confidence)`` sees the fixed layout."""
    batch = ids.shape[0]
    rows = []
    for b in range(batch):
        n = int(attention[b].sum())
        row = ids[b, :n].tolist()
        spans = [_Span(s, e - s, [mask_id] * min(initial, e - s), [0.0] * min(initial, e - s))
                 for s, e in sorted(slot_ranges[b])]
        rows.append((row, spans))
    banned = sorted((set(banned_ids) | {mask_id}) - {expand_id, eos_id})
    passes = 0
    step = 0
    limit = steps if steps is not None else sum(sp.budget for _, spans in rows for sp in spans) * 2 + 1
    while step < limit and any(mask_id in sp.tokens for _, spans in rows for sp in spans):
        if cancel is not None and cancel.is_set():
            raise Cancelled("fill cancelled")
        step += 1
        last = step == limit
        canvases, where = [], []
        for row, spans in rows:
            canvas, at, cursor = [], [], 0
            for sp in spans:
                canvas += row[cursor:sp.offset]
                at.append(len(canvas))
                canvas += sp.tokens
                cursor = sp.offset + sp.budget
            canvas += row[cursor:]
            canvases.append(canvas)
            where.append(at)
        width = max(len(c) for c in canvases)
        x = torch.full((batch, width), pad_id, dtype=torch.long)
        att = torch.zeros((batch, width), dtype=torch.long)
        for b, c in enumerate(canvases):
            x[b, :len(c)] = torch.tensor(c)
            att[b, :len(c)] = 1
        logits = logits_fn(x, att)
        passes += 1
        committed = []
        for b, (row, spans) in enumerate(rows):
            masked = [(k, j) for k, sp in enumerate(spans) for j, t in enumerate(sp.tokens) if t == mask_id]
            if not masked:
                committed.append([])
                continue
            pos = torch.tensor([where[b][k] + j for k, j in masked])
            row_logits = logits[b, pos].float().clone()
            row_logits[:, banned] = -math.inf
            full = torch.tensor([len(spans[k].tokens) >= spans[k].budget for k, _ in masked])
            if last:
                row_logits[:, expand_id] = -math.inf
            else:
                row_logits[full, expand_id] = -math.inf
            temp = temperatures[b] if temperatures is not None else temperature
            shaped = _shape(row_logits, temp, top_p, top_k)
            probs = torch.softmax(shaped, dim=-1)
            if temp > 0:
                gen = generators[b] if generators else None
                uniform = torch.rand(shaped.shape, generator=gen).clamp_(1e-10, 1.0)
                tokens = (shaped - torch.log(-torch.log(uniform))).argmax(-1)
            else:
                tokens = probs.argmax(-1)
            chosen_p = probs.gather(-1, tokens[:, None]).squeeze(-1)
            order = range(len(masked)) if last else [int(torch.argmax(score(probs, strategy)))]
            committed.append(_apply(spans, masked, order, tokens, chosen_p, mask_id, expand_id, eos_id))
        if on_step is not None:
            out_ids, conf = _fixed(ids, rows, eos_id)
            on_step(step, committed, out_ids, conf)
    out_ids, conf = _fixed(ids, rows, eos_id)
    return out_ids, conf, passes, step


def _apply(spans, masked, order, tokens, probs, mask_id, expand_id, eos_id) -> list[int]:
    """Commit ``order`` (indices into ``masked``), then expand and end spans; returns the
    fixed-layout positions written."""
    written = []
    for i in order:
        k, j = masked[i]
        spans[k].tokens[j] = int(tokens[i])
        spans[k].scores[j] = float(probs[i])
    for sp in spans:
        out, scores = [], []
        ended = False
        for t, s in zip(sp.tokens, sp.scores):
            if ended and t == mask_id:
                continue                   # masks after the span's end go with it
            if t == eos_id and not ended:
                ended = True               # the middle ends here: the EOS itself goes too
                continue
            if t == expand_id:
                out += [mask_id, mask_id]  # one more slot than before
                scores += [0.0, 0.0]
                continue
            out.append(t)
            scores.append(s)
        sp.tokens, sp.scores = out[:sp.budget], scores[:sp.budget]
        written += [sp.offset + j for j, t in enumerate(sp.tokens) if t != mask_id]
    return written


def _fixed(ids: torch.Tensor, rows, eos_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    out = ids.clone()
    conf = torch.zeros(ids.shape, dtype=torch.float32)
    for b, (_, spans) in enumerate(rows):
        for sp in spans:
            n = len(sp.tokens)
            out[b, sp.offset:sp.offset + n] = torch.tensor(sp.tokens, dtype=torch.long)
            out[b, sp.offset + n:sp.offset + sp.budget] = eos_id
            conf[b, sp.offset:sp.offset + n] = torch.tensor(sp.scores)
            conf[b, sp.offset + n:sp.offset + sp.budget] = 1.0
    return out, conf


def sample_batch(logits_fn, batch, options, *, expand_id: int, eos_id: int, pad_id: int,
                 initial: int = 4, on_step=None, cancel=None):
    """``dreamon_sample`` as the engine's sampler (``Denoiser.sampler``): takes the engine's
    ``Batch`` and ``SamplerOptions``, returns a ``SampleOutput``. A rewrite region is
    regenerated (DreamOn is not trained to judge visible tokens)."""
    from infill.sampler import SampleOutput, StepRecord

    previous = [batch.ids.clone()]

    def step_hook(step, committed, ids, confidence):
        changed = (ids != previous[0]) & (ids != batch.mask_id) & batch.slots
        previous[0] = ids.clone()
        if on_step is not None:
            record = StepRecord(step, [changed[b].nonzero().flatten().tolist() for b in range(ids.shape[0])])
            records.append(record)
            on_step(record, ids, confidence)
        else:
            records.append(StepRecord(step, [changed[b].nonzero().flatten().tolist()
                                             for b in range(ids.shape[0])]))

    records: list = []
    ranges = batch.slot_ranges or [[] for _ in range(batch.size)]
    ids, confidence, passes, _ = dreamon_sample(
        lambda x, att: logits_fn(x, att, None), batch.ids, batch.attention, ranges,
        mask_id=batch.mask_id, expand_id=expand_id, eos_id=eos_id, pad_id=pad_id,
        steps=options.steps, strategy=options.strategy, temperature=options.temperature,
        top_p=options.top_p, top_k=options.top_k, generators=batch.generators,
        banned_ids=batch.banned_ids, initial=initial, on_step=step_hook, cancel=cancel,
        temperatures=batch.temperatures)
    logprob = torch.where(confidence > 0, confidence.clamp(min=1e-30).log(), torch.zeros_like(confidence))
    return SampleOutput(ids, confidence, logprob, records, passes)
