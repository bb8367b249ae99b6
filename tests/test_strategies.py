"""The strategy registry: each strategy picks slots from probabilities, margins or entropies,
and the CLI, the settings and the editor offer exactly what is registered."""

from __future__ import annotations

import pytest
import torch

from infill.batch import Batch
from infill.options import OPTIONS, SamplerOptions
from infill.sampler import choose_commits, sample
from infill.strategies import STRATEGIES, Scores

MASK = 0


def _logits():
    """Three slots over four tokens: slot 0 is sure, slot 1 hesitates between two tokens
    (small margin, but low entropy), slot 2 is spread over all four (high entropy)."""
    return torch.log(torch.tensor([
        [0.90, 0.04, 0.03, 0.03],
        [0.50, 0.48, 0.01, 0.01],
        [0.40, 0.20, 0.20, 0.20],
    ]))


def _probs(logits):
    return logits.softmax(-1).max(-1).values


def test_scores_compute_margins_and_entropies():
    logits = _logits()
    scores = Scores(_probs(logits), logits)
    assert torch.allclose(scores.margins, torch.tensor([0.86, 0.02, 0.20]), atol=1e-5)
    entropy = -(logits.exp() * logits).sum(-1)
    assert torch.allclose(scores.entropies, entropy)


def test_banned_tokens_do_not_make_entropy_nan():
    logits = _logits()
    logits[:, 3] = -torch.inf
    assert torch.isfinite(Scores(_probs(logits), logits).entropies).all()


@pytest.mark.parametrize("strategy, first", [
    ("confidence", [0]),   # the most probable token
    ("margin", [0]),       # the largest gap between the two best tokens
    ("entropy", [0]),
])
def test_each_strategy_commits_its_best_slot_first(strategy, first):
    logits = _logits()
    chosen = choose_commits(_probs(logits), SamplerOptions(strategy=strategy), 3, logits)
    assert chosen.tolist() == first


def test_margin_and_entropy_disagree_with_confidence_where_they_should():
    logits = _logits()
    probs = _probs(logits)  # 0.9, 0.5, 0.4: confidence prefers slot 1 over slot 2
    two = dict(steps_left=2, logits=logits)  # k = 2 of 3
    assert choose_commits(probs, SamplerOptions(strategy="confidence"), **two).tolist() == [0, 1]
    # Slot 1's two candidates are nearly tied: margin puts it last.
    assert choose_commits(probs, SamplerOptions(strategy="margin"), **two).tolist() == [0, 2]
    # Slot 1 is spread over two tokens only, slot 2 over four: entropy prefers slot 1.
    assert choose_commits(probs, SamplerOptions(strategy="entropy"), **two).tolist() == [0, 1]


def test_threshold_commits_everything_above_tau():
    logits = _logits()
    chosen = choose_commits(_probs(logits), SamplerOptions(strategy="threshold", threshold=0.45),
                            3, logits)
    assert chosen.tolist() == [0, 1]


def test_random_is_reproducible_from_the_generator():
    logits = torch.zeros(12, 5)
    probs = torch.full((12,), 0.2)
    options = SamplerOptions(strategy="random")

    def pick(seed):
        gen = torch.Generator().manual_seed(seed)
        return choose_commits(probs, options, 4, logits, gen).tolist()

    assert pick(1) == pick(1)
    assert len(pick(1)) == 3 and len(set(pick(1))) == 3
    assert any(pick(1) != pick(s) for s in range(2, 6))


@pytest.mark.parametrize("strategy", sorted(STRATEGIES))
def test_every_strategy_fills_every_slot_within_the_steps(strategy):
    torch.manual_seed(0)
    table = torch.randn(40, 30)

    def logits_fn(ids, attention, wanted):
        return table[None].expand(ids.shape[0], -1, -1).clone()

    ids = torch.randint(5, 30, (2, 40))
    slots = torch.zeros(2, 40, dtype=torch.bool)
    slots[:, 8:20] = True
    ids[slots] = MASK
    gens = [torch.Generator().manual_seed(i) for i in range(2)]
    batch = Batch(ids, torch.ones_like(ids), slots, gens, MASK)
    out = sample(logits_fn, batch, SamplerOptions(strategy=strategy, steps=5))
    assert not (out.ids[slots] == MASK).any()
    assert torch.equal(out.ids[~slots], ids[~slots])
    assert out.forward_passes <= 5


def test_logits_fn_is_told_which_positions_are_read():
    seen = []

    def logits_fn(ids, attention, wanted):
        seen.append(wanted.clone())
        return torch.zeros(ids.shape[0], ids.shape[1], 9)

    ids = torch.full((1, 10), 5)
    slots = torch.zeros(1, 10, dtype=torch.bool)
    slots[0, 3:6] = True
    ids[slots] = MASK
    out = sample(logits_fn, Batch(ids, torch.ones_like(ids), slots,
                                  [torch.Generator().manual_seed(0)], MASK),
                 SamplerOptions(steps=3))
    assert out.forward_passes == 3
    assert seen[0].nonzero()[:, 1].tolist() == [3, 4, 5]
    assert seen[-1].sum() == 1  # one slot left at the last pass


def test_cli_and_settings_choices_come_from_the_registry():
    from infill.cli import build_parser

    fill = build_parser()._subparsers._group_actions[0].choices["fill"]
    strategy = next(a for a in fill._actions if a.dest == "strategy")
    assert tuple(strategy.choices) == tuple(STRATEGIES)
    assert OPTIONS["strategy"].editor == (None, *STRATEGIES)
    for name in STRATEGIES:
        assert name in strategy.help


def test_the_strategy_table_in_the_contracts_is_the_registry():
    from pathlib import Path

    from infill.options import strategy_table

    doc = (Path(__file__).resolve().parent.parent / "docs" / "CONTRACTS.md").read_text()
    start = doc.index("<!-- generated by infill.options.strategy_table() -->")
    end = doc.index("<!-- end of generated table -->")
    assert doc[start:end].split("-->", 1)[1].strip() == strategy_table()
