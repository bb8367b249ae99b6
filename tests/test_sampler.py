"""Sampler invariants against a mock denoiser (no model needed)."""

from __future__ import annotations

import pytest
import torch

from infill.errors import Cancelled, InputError
from infill.batch import Batch
from infill.sampler import SamplerOptions, choose_commits, filter_logits, sample

MASK, V = 0, 50


def run(logits_fn, ids, attention, slots, mask_id, options, generators, *, cancel=None,
        on_step=None, **batch):
    """``sample`` over a ``Batch`` of these tensors; ``logits_fn`` ignores ``wanted``."""
    return sample(lambda i, a, wanted: logits_fn(i, a),
                  Batch(ids, attention, slots, generators, mask_id, **batch), options,
                  cancel=cancel, on_step=on_step)


def mock_logits(ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """Position-dependent logits: each position prefers token (pos % 40) + 5 with a
    confidence that varies along the row, so strategies have something to choose between."""
    B, L = ids.shape
    logits = torch.zeros(B, L, V)
    for pos in range(L):
        logits[:, pos, (pos % 40) + 5] = 1.0 + (pos % 7)
    return logits


def make_batch(rows=2, length=30, slot_range=(10, 22)):
    ids = torch.arange(rows * length).reshape(rows, length) % 40 + 5
    slots = torch.zeros(rows, length, dtype=torch.bool)
    slots[:, slot_range[0]:slot_range[1]] = True
    ids[slots] = MASK
    return ids, torch.ones_like(ids), slots


def gens(n, seed=0):
    return [torch.Generator().manual_seed(seed + i) for i in range(n)]


@pytest.mark.parametrize("strategy", ["confidence", "threshold"])
@pytest.mark.parametrize("steps", [1, 3, 12, None])
def test_finishes_within_steps_and_never_touches_context(strategy, steps):
    ids, attention, slots = make_batch()
    out = run(mock_logits, ids, attention, slots, MASK,
                 SamplerOptions(strategy=strategy, steps=steps, threshold=0.5), gens(2))
    assert not (out.ids == MASK).any()
    assert torch.equal(out.ids[~slots], ids[~slots])
    assert out.forward_passes <= (steps or 12)


def test_confidence_commits_the_most_confident_first():
    ids, attention, slots = make_batch(rows=1)
    out = run(mock_logits, ids, attention, slots, MASK, SamplerOptions(steps=12), gens(1))
    first = out.steps[0].committed[0]
    assert len(first) == 1
    # Position 13 has the highest logit margin (13 % 7 == 6) among slots 10..21.
    assert first == [13]


def test_threshold_commits_at_least_one_per_step():
    ids, attention, slots = make_batch(rows=1)
    out = run(mock_logits, ids, attention, slots, MASK,
                 SamplerOptions(strategy="threshold", threshold=0.999), gens(1))
    assert all(len(step.committed[0]) >= 1 for step in out.steps)
    assert sum(len(step.committed[0]) for step in out.steps) == int(slots.sum())


def test_same_seed_same_output_and_other_seed_differs():
    ids, attention, slots = make_batch()
    opts = SamplerOptions(temperature=1.5)
    uniform = lambda i, a: torch.zeros(i.shape[0], i.shape[1], V)  # noqa: E731
    a = run(uniform, ids, attention, slots, MASK, opts, gens(2, seed=1)).ids
    b = run(uniform, ids, attention, slots, MASK, opts, gens(2, seed=1)).ids
    c = run(uniform, ids, attention, slots, MASK, opts, gens(2, seed=7)).ids
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_temperature_zero_is_greedy():
    ids, attention, slots = make_batch(rows=1)
    out = run(mock_logits, ids, attention, slots, MASK, SamplerOptions(), gens(1))
    expected = torch.arange(30) % 40 + 5
    assert torch.equal(out.ids[0, 10:22], expected[10:22])


def test_banned_ids_and_mask_are_never_written():
    ids, attention, slots = make_batch(rows=1)

    def loves_mask(i, a):
        logits = torch.zeros(i.shape[0], i.shape[1], V)
        logits[..., MASK] = 100.0
        logits[..., 3] = 50.0
        logits[..., 9] = 10.0
        return logits

    out = run(loves_mask, ids, attention, slots, MASK, SamplerOptions(), gens(1), banned_ids=[3])
    assert set(out.ids[0, 10:22].tolist()) == {9}


def test_cancel_stops_before_the_next_step():
    class Flag:
        calls = 0

        def is_set(self):
            self.calls += 1
            return self.calls > 2

    ids, attention, slots = make_batch(rows=1)
    with pytest.raises(Cancelled):
        run(mock_logits, ids, attention, slots, MASK, SamplerOptions(), gens(1), cancel=Flag())


def test_rescore_remasks_the_least_likely_visible_tokens():
    ids, attention, slots = make_batch(rows=1)
    ids[0, 10:22] = torch.arange(10, 22) % 40 + 5  # what the mock model expects
    ids[0, 15] = 44  # one token the model finds unlikely
    rescore = slots.clone()
    out = run(mock_logits, ids, attention, slots, MASK, SamplerOptions(), gens(1),
                 rescore=rescore, rescore_fraction=[1 / 12])
    assert out.steps[0].remasked[0] == [15]
    assert out.ids[0, 15].item() == (15 % 40) + 5


def test_top_k_and_top_p_filtering():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0]])
    assert torch.isinf(filter_logits(logits, 2, None)[0, 2:]).all()
    kept = filter_logits(logits, None, 0.5)
    assert not torch.isinf(kept[0, 0]) and torch.isinf(kept[0, 2:]).all()


def test_last_step_commits_everything():
    probs = torch.tensor([0.1, 0.2, 0.3])
    assert choose_commits(probs, SamplerOptions(), steps_left=1).tolist() == [0, 1, 2]


@pytest.mark.parametrize("bad", [dict(strategy="nope"), dict(steps=0), dict(temperature=-1),
                                 dict(threshold=0), dict(top_p=1.5)])
def test_bad_options_are_input_errors(bad):
    with pytest.raises(InputError):
        SamplerOptions(**bad)


def test_text_is_written_before_nulls_and_unsure_slots_stay_text():
    NULL = 7
    ids, attention, slots = make_batch(rows=1)  # slots 10..21

    def short_text(i, a):
        logits = torch.zeros(i.shape[0], i.shape[1], V)
        logits[:, :, 9] = 2.0
        logits[:, 10:14, NULL] = 1.0   # P(null) < 0.5 here: text
        logits[:, 14:22, NULL] = 8.0   # P(null) ~ 1 here: nothing
        return logits

    out = run(short_text, ids, attention, slots, MASK, SamplerOptions(), gens(1), null_id=NULL)
    assert out.ids[0, 10:14].tolist() == [9] * 4
    assert out.ids[0, 14:22].tolist() == [NULL] * 8
    # Text first, one slot per step; then every remaining slot is null in one step.
    assert [len(s.committed[0]) for s in out.steps] == [1, 1, 1, 1, 8]
    # Scores are unconditional: a text token's probability includes P(not null).
    assert 0 < out.confidence[0, 10] < 0.5


def test_first_pass_decides_the_length_from_where_nulls_become_likely():
    NULL = 7
    ids, attention, slots = make_batch(rows=1)  # slots 10..21

    def null_after_three(i, a):
        logits = torch.zeros(i.shape[0], i.shape[1], V)
        logits[:, :, 9] = 3.0
        logits[:, 13:22, NULL] = 6.0   # first pass: nothing expected from the fourth slot on
        if (i[:, 10:13] != MASK).all():  # once the text is written, the model wavers
            logits[:, 13:22, NULL] = 2.9
        return logits

    out = run(null_after_three, ids, attention, slots, MASK, SamplerOptions(), gens(1),
                 null_id=NULL, slot_ranges=[[(10, 22)]])
    assert out.ids[0, 10:22].tolist() == [9, 9, 9] + [NULL] * 9
    assert set(out.steps[0].committed[0]) >= set(range(13, 22))
    assert out.forward_passes == 3


def test_parallel_commits_what_the_model_repeats_and_stops_when_all_is_decided():
    """Pass 1 commits the surest text slot; pass 2 commits the slots whose prediction did not
    change, and the slots the model expects empty as nulls in the same pass."""
    NULL = 7
    ids, attention, slots = make_batch(rows=1)  # slots 10..21

    def text_then_nothing(i, a):
        logits = torch.zeros(i.shape[0], i.shape[1], V)
        logits[:, 10:14, 9] = torch.tensor([3.0, 2.0, 2.5, 2.2])  # unsure text, all token 9
        logits[:, 14:22, NULL] = 8.0
        return logits

    options = SamplerOptions(strategy="parallel", threshold=0.99)
    out = run(text_then_nothing, ids, attention, slots, MASK, options, gens(1), null_id=NULL)
    assert out.ids[0, 10:22].tolist() == [9] * 4 + [NULL] * 8
    assert [sorted(s.committed[0]) for s in out.steps] == [[10], list(range(11, 22))]
    assert out.forward_passes == 2
    # The one-token reference writes the same text in one pass per token, then the nulls.
    reference = run(text_then_nothing, ids, attention, slots, MASK, SamplerOptions(), gens(1),
                    null_id=NULL)
    assert torch.equal(reference.ids, out.ids) and reference.forward_passes == 5


def test_parallel_waits_for_a_prediction_that_changes():
    ids, attention, slots = make_batch(rows=1, slot_range=(10, 13))
    calls = []

    def wavering(i, a):
        logits = torch.zeros(i.shape[0], i.shape[1], V)
        logits[:, 10, 5] = 4.0
        logits[:, 11:13, 6 + len(calls) % 2] = 1.0   # flips between 6 and 7 every pass
        calls.append(1)
        return logits

    out = run(wavering, ids, attention, slots, MASK, SamplerOptions(strategy="parallel",
                                                                   threshold=0.99), gens(1))
    assert [len(s.committed[0]) for s in out.steps] == [1, 1, 1]


@pytest.mark.parametrize("null_id", [None, 7])
def test_threshold_commits_at_least_one_slot_per_span_per_pass(null_id):
    """Two holes in one row fill side by side, as each would alone: with nothing above τ,
    every pass commits each span's surest slot, not one slot for the whole row."""
    ids, attention, slots = make_batch(rows=1, slot_range=(10, 14))
    slots[0, 20:24] = True
    ids[slots] = MASK
    options = SamplerOptions(strategy="threshold", threshold=0.99)
    out = run(mock_logits, ids, attention, slots, MASK, options, gens(1), null_id=null_id,
              slot_ranges=[[(10, 14), (20, 24)]])
    assert out.forward_passes == 4                       # one row alone would take 8
    for step in out.steps:
        committed = step.committed[0]
        assert sum(10 <= p < 14 for p in committed) == 1 and sum(20 <= p < 24 for p in committed) == 1
    # The one-token reference still takes one slot per pass for the row.
    reference = run(mock_logits, ids, attention, slots, MASK, SamplerOptions(), gens(1),
                    null_id=null_id, slot_ranges=[[(10, 14), (20, 24)]])
    assert reference.forward_passes == 8
