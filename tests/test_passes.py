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
    assert passes.recomputed == 2 * int(slots.sum())   # the read slots, nothing else


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


class _Recording:
    """The house denoiser, recording the distinct positions each cached pass recomputes."""

    def __init__(self, house):
        self.house, self.recomputed = house, []

    def __getattr__(self, name):
        return getattr(self.house, name)

    def logits_active(self, ids, positions, cache, where=None):
        self.recomputed.append([sorted(set(row.tolist())) for row in positions])
        return self.house.logits_active(ids, positions, cache, where)


def _positions(mask):
    return [row.nonzero().flatten().tolist() for row in mask]


def _all_slots_pass(house, ids, attention, before, slots, wanted):
    """What the cache gave before it tracked changes: a full pass over ``before``, then
    every slot recomputed with ``ids``; logits at ``wanted``."""
    _, cache = house.encode(before, attention)
    positions, valid = _active_positions(slots)
    values = house.logits_active(ids.gather(1, positions), positions, cache)   # (B, A, V)
    out = torch.zeros(ids.shape + values.shape[-1:])
    out[torch.arange(ids.shape[0])[:, None].expand_as(positions)[valid], positions[valid]] = values[valid]
    return out


def test_a_cached_pass_recomputes_the_open_spans_and_what_changed(house):
    ids, attention, slots = _batch(house)
    recording = _Recording(house)
    passes = ModelPasses(recording, slots, refresh=10)
    passes(ids, attention, slots)                   # the full pass
    first = ids.clone()
    first[1, 20:24] = torch.tensor([25, 26, 27, house.null_id])   # row 1's first span: written
    first[0, 5] = 28                                               # row 0's span: still open
    wanted = slots & (first == house.mask_id)
    passes(first, attention, wanted)
    # Every open span whole, and the span written since the last pass.
    assert recording.recomputed[-1] == [list(range(5, 12)), [20, 21, 22, 23, 30, 31, 32],
                                        list(range(10, 14))]
    second = first.clone()
    second[0, 6] = 29
    wanted = slots & (second == house.mask_id)
    passes(second, attention, wanted)
    # The finished span keeps its keys and values now, like the context.
    assert recording.recomputed[-1] == [list(range(5, 12)), [30, 31, 32], list(range(10, 14))]
    assert passes.cached_passes == 2 and passes.recomputed == 7 + 7 + 4 + 7 + 3 + 4


def test_recomputing_changed_slots_only_equals_recomputing_every_slot_when_the_rest_is_read(house):
    """Right after a full pass every slot not committed since is read: recomputing the
    changed ones only gives what recomputing all slots gave."""
    ids, attention, slots = _batch(house)
    passes = ModelPasses(house, slots, refresh=10)
    passes(ids, attention, slots)
    changed = ids.clone()
    changed[0, 5:8] = torch.tensor([25, 26, house.null_id])
    changed[2, 13] = 27
    wanted = slots & (changed == house.mask_id)
    _check(passes(changed, attention, wanted),
           _all_slots_pass(house, changed, attention, ids, slots, wanted), wanted)


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


def test_finished_rows_leave_with_their_committed_tokens(house):
    ids, attention, slots = _batch(house)
    recording = _Recording(house)
    passes = ModelPasses(recording, slots, refresh=10)
    passes(ids, attention, slots)
    changed = ids.clone()
    changed[0, 5:12] = 25                  # row 0 committed everything: it leaves
    changed[1, 30] = 26
    changed[2, 10] = 27
    wanted = slots & (changed == house.mask_id)
    kept = torch.tensor([1, 2])
    out = passes(changed, attention, wanted)
    assert recording.recomputed[-1] == [[20, 21, 22, 23, 30, 31, 32], [10, 11, 12, 13]]
    expected = _all_slots_pass(house, changed[kept], attention[kept], ids[kept], slots[kept], wanted[kept])
    _check(out[kept], expected, wanted[kept])
    # Row 1 leaves too; row 2 goes on from what it had.
    again = changed.clone()
    again[1, 20:24] = again[1, 31:33] = 28
    again[2, 11] = 29
    wanted = slots & (again == house.mask_id)
    assert wanted[1].sum() == 0
    out = passes(again, attention, wanted)
    assert recording.recomputed[-1] == [[10, 11, 12, 13]]
    assert torch.isfinite(out[wanted]).all()


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
