"""Canvases to one sampler batch: the value ``sampler.sample`` runs on.

A ``Batch`` holds everything per row that the sampler needs and nothing about text: padded
ids, attention, which positions are slots, each span's slot range, a seeded generator and a
temperature per row, the old tokens to judge first (rewrite strength < 1), and the ids a
slot may or may not hold. ``make_batch`` builds it from canvas rows (a canvas per window,
repeated per candidate).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Sequence

import torch

from infill.canvas import Canvas
from infill.markers import Span

CANDIDATE_TEMPERATURE = 0.8  # candidates after the first need randomness to differ


@dataclass(frozen=True)
class Row:
    """One sampler row: a canvas for candidate ``k``."""

    canvas: Canvas
    k: int


@dataclass(frozen=True)
class Batch:
    ids: torch.Tensor            # (B, L) with mask_id in the slots to fill, pad after the row
    attention: torch.Tensor      # (B, L) 1 for real tokens, 0 for padding
    slots: torch.Tensor          # (B, L) bool: the positions the sampler may write
    generators: Sequence[torch.Generator]  # one per row: a seed reproduces a row anywhere
    mask_id: int
    temperatures: Sequence[float] | None = None  # per row; None: options.temperature
    null_id: int | None = None   # the model's "nothing here" token, if it has one
    banned_ids: Sequence[int] = ()  # ids a slot may never hold
    slot_ranges: Sequence[Sequence[tuple[int, int]]] | None = None  # per row: each open span's slots
    rescore: torch.Tensor | None = None  # (B, L) bool: visible slot tokens to judge first
    rescore_fraction: Sequence[float] | None = None  # per row: the fraction to mask again
    rescore_chunks: int = 1  # passes judging them: 1 reads them as shown (a model trained to
    # spot replaced tokens); n > 1 masks every n-th one per pass and reads its probability
    text_first: torch.Tensor | None = None  # (B, L) bool: first slots of holes where code goes
    blank_ids: frozenset[int] = frozenset()  # ids whose text is only whitespace

    @property
    def size(self) -> int:
        return self.ids.shape[0]


def make_batch(rows: Sequence[Row], spans: Sequence[Span], *, pad_id: int, mask_id: int,
               null_id: int | None, banned_ids: Sequence[int], seed: int, round_: int,
               temperature: float, rescore_chunks: int = 1,
               code_expected: Sequence[bool] = (),
               blank_ids: frozenset[int] = frozenset()) -> Batch:
    """The rows padded to one width. Candidate 0 samples at ``temperature``; the others at
    least at ``CANDIDATE_TEMPERATURE``. Seeds per row come from (seed, candidate, row,
    round), so a run is reproducible whatever else is in the batch. ``code_expected[i]``:
    span i is a hole where code goes, so its first slot must hold text (a marker is never
    filled with nothing by choice of the sampler)."""
    width = max(len(r.canvas) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    slots = torch.zeros((len(rows), width), dtype=torch.bool)
    rescore = torch.zeros((len(rows), width), dtype=torch.bool)
    text_first = torch.zeros((len(rows), width), dtype=torch.bool)
    fraction = []
    for b, row in enumerate(rows):
        n = len(row.canvas)
        ids[b, :n] = torch.tensor(row.canvas.ids)
        attention[b, :n] = 1
        strengths = []
        for g in row.canvas.groups:
            if g.kept:
                continue  # filled in an earlier round: context, never written again
            slots[b, g.offset:g.offset + g.length] = True
            if g.prefill:
                rescore[b, g.offset:g.offset + len(g.prefill)] = True
                strengths.append(spans[g.span].strength)
            elif g.length and g.span < len(code_expected) and code_expected[g.span]:
                text_first[b, g.offset] = True
        fraction.append(sum(strengths) / len(strengths) if strengths else 1.0)
    generators = [torch.Generator().manual_seed(derive_seed(seed, r.k, i, round_))
                  for i, r in enumerate(rows)]
    temperatures = [temperature if r.k == 0 else max(temperature, CANDIDATE_TEMPERATURE)
                    for r in rows]
    return Batch(ids, attention, slots, generators, mask_id, temperatures, null_id,
                 tuple(banned_ids),
                 [[(g.offset, g.offset + g.length) for g in r.canvas.groups if not g.kept]
                  for r in rows],
                 rescore if rescore.any() else None, fraction, rescore_chunks,
                 text_first=text_first if null_id is not None and text_first.any() else None,
                 blank_ids=frozenset(blank_ids))


def derive_seed(seed: int, candidate: int, row: int, round_: int) -> int:
    key = f"{seed}/{candidate}/{row}/{round_}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") & (2**63 - 1)
