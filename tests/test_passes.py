"""``ModelPasses``: logits only where read, finished rows left out, the context cache.

All checked against the plain full forward (1e-4, float32); no timing here."""

from __future__ import annotations

import pytest
import torch

from infill.backends.house import load_house
from infill.backends.passes import ModelPasses, _active_positions

TOL = 1e-4


@pytest.fixture(scope="module")
def house(tiny_model_dir):
    return load_house(tiny_model_dir, "cpu", dtype="float32")


def _batch(house, length=40):
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(20, house.codec.vocab_size, (3, length), generator=g)
    attention = torch.ones(3, length, dtype=torch.long)
    attention[2, 30:] = 0
    ids[2, 30:] = house.pad_id
    slots = torch.zeros(3, length, dtype=torch.bool)
    slots[0, 5:12] = True
    slots[1, 20:24] = True
    slots[1, 30:33] = True
    slots[2, 10:14] = True
    ids[slots] = house.mask_id
    return ids, attention, slots


def _check(out, expected, wanted):
    assert (out[wanted] - expected[wanted]).abs().max() < TOL


def test_logits_where_wanted_equal_the_full_pass(house):
    ids, attention, slots = _batch(house)
    wanted = slots.clone()
    wanted[2] = False                      # a finished row
    passes = ModelPasses(house, slots)
    out = passes(ids, attention, wanted)
    _check(out, house.logits(ids, attention), wanted)
    assert passes.full_passes == 1


def test_cache_is_exact_while_nothing_changed_and_refreshes(house):
    ids, attention, slots = _batch(house)
    exact = house.logits(ids, attention)
    passes = ModelPasses(house, slots, refresh=3)
    for _ in range(4):
        _check(passes(ids, attention, slots), exact, slots)
    assert (passes.full_passes, passes.cached_passes) == (2, 2)


def test_cache_follows_new_slot_tokens_approximately(house):
    ids, attention, slots = _batch(house)
    passes = ModelPasses(house, slots, refresh=10)
    passes(ids, attention, slots)
    changed = ids.clone()
    changed[0, 5] = 25                     # a committed slot
    changed[1, 20] = 26
    wanted = slots & (changed == house.mask_id)
    cached = passes(changed, attention, wanted)
    exact = house.logits(changed, attention)
    stale = house.logits(ids, attention)
    # Closer to the truth than the logits before the change: the slots were recomputed.
    assert (cached[wanted] - exact[wanted]).abs().max() < (stale[wanted] - exact[wanted]).abs().max()
    assert torch.isfinite(cached[wanted]).all()


def test_finished_rows_leave_the_cache(house):
    ids, attention, slots = _batch(house)
    exact = house.logits(ids, attention)
    passes = ModelPasses(house, slots, refresh=5)
    passes(ids, attention, slots)
    wanted = slots.clone()
    wanted[0] = False
    _check(passes(ids, attention, wanted), exact, wanted)
    wanted[2] = False
    _check(passes(ids, attention, wanted), exact, wanted)
    assert passes.cached_passes == 2


def test_a_denoiser_without_sparse_logits_gets_full_passes(house):
    class Plain:
        codec = house.codec

        def logits(self, ids, attention):
            return house.logits(ids, attention)

    ids, attention, slots = _batch(house)
    wanted = slots.clone()
    wanted[1] = False
    passes = ModelPasses(Plain(), slots, refresh=4)
    _check(passes(ids, attention, wanted), house.logits(ids, attention), wanted)


def test_active_positions_pad_by_repeating_the_last():
    slots = torch.tensor([[0, 1, 1, 0, 1], [0, 0, 1, 0, 0]], dtype=torch.bool)
    positions, valid = _active_positions(slots)
    assert positions.tolist() == [[1, 2, 4], [2, 2, 2]]
    assert valid.tolist() == [[True, True, True], [True, False, False]]


TEXT = "def add(a, b):\n    return __FILL__\n\n\nclass P:\n    def __init__(self, x):\n        __FILL__\n"


def test_engine_fills_with_sparse_passes_as_with_full_ones(tiny_model_dir, monkeypatch):
    """The house backend (logits only where read, finished rows skipped) and transformers'
    full forward give the same fills, frames and pass counts."""
    import infill

    monkeypatch.setenv("INFILL_DTYPE", "float32")
    house = infill.load(str(tiny_model_dir), device="cpu")
    hf = infill.load(str(tiny_model_dir), device="cpu", backend="hf-mlm")
    assert (house.info.backend, hf.info.backend) == ("house", "hf-mlm")
    for options in ({}, {"strategy": "threshold", "threshold": 0.05}, {"candidates": 3}):
        a, b = house.fill_text(TEXT, **options), hf.fill_text(TEXT, **options)
        assert a.text == b.text and a.forward_passes == b.forward_passes
        def view(result):
            return [(f.step, [(s.span, s.text, s.state) for s in f.slots]) for f in result.trajectory]
        assert view(a) == view(b) and len(a.trajectory) > 0


def test_engine_with_the_context_cache_fills_every_hole_reproducibly(tiny_model_dir):
    import infill

    filler = infill.load(str(tiny_model_dir), device="cpu")
    first = filler.fill_text(TEXT, cache_refresh=4)
    again = filler.fill_text(TEXT, cache_refresh=4)
    assert "__FILL__" not in first.text and first.text == again.text
    assert len(first.spans) == 2
