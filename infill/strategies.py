"""Sampler strategies: which masked slots to commit at a step (DESIGN section 5).

A strategy is one small function over the ``Scores`` of a row's masked slots (the
probability of each predicted token, the margin between the two most likely tokens, the
entropy of the prediction) that returns the indices to commit. ``k`` is the number an
evenly spread schedule would commit now; ``threshold`` is τ. The sampler handles the last
step (everything left is committed) before a strategy is asked.

Adding a strategy is one function plus one line in ``STRATEGIES``: the CLI's choices, the
``[tool.infill]`` validation, the editor's choices and the docs are generated from it.

This module imports no torch: the scores are tensors, used through their methods only, so
the option layer (``infill.options``) can validate a strategy name without loading torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable


class Scores:
    """What a strategy may look at, for the ``n`` masked slots of one row.

    ``probs`` (n,) is the probability of each slot's predicted token; the other views are
    computed on first use from ``logits`` (n, V), the untempered prediction over the tokens a
    slot may hold, so a strategy that does not need them costs nothing.
    """

    def __init__(self, probs: Any, logits: Any, generator: Any = None, stable: Any = None) -> None:
        self.probs = probs
        self.logits = logits
        self.generator = generator
        self.stable = stable  # (n,) bool: the same token was predicted at the last pass too

    @cached_property
    def margins(self) -> Any:
        """(n,) top-1 minus top-2 probability: small where the model hesitates between two."""
        top = self.logits.softmax(dim=-1).topk(min(2, self.logits.shape[-1]), dim=-1).values
        return top[:, 0] - top[:, -1] if top.shape[-1] > 1 else top[:, 0]

    @cached_property
    def entropies(self) -> Any:
        """(n,) entropy of each prediction, in nats (banned tokens at -inf contribute 0)."""
        logp = self.logits.log_softmax(dim=-1).clamp(min=-1e30)
        return -(logp.exp() * logp).sum(dim=-1)

    @cached_property
    def noise(self) -> Any:
        """(n,) uniform draws from the row's generator (the ``random`` strategy)."""
        import torch  # only the random strategy needs it

        return torch.rand(self.probs.shape, generator=self.generator)


StrategyFn = Callable[[Scores, int, float], Any]


@dataclass(frozen=True)
class Strategy:
    name: str
    choose: StrategyFn
    summary: str
    # Early stop: once every text slot of a row is committed, its other slots (those the
    # model expects to stay empty) are committed as nulls in the same pass, not the next.
    early_stop: bool = False
    # At least one commit per span per pass (not per row): holes that share a window fill
    # side by side, as each would alone, instead of taking turns.
    per_span: bool = False


def _best(priority: Any, k: int) -> Any:
    """Indices of the ``k`` highest priorities; stable, so ties commit left to right."""
    return priority.sort(descending=True, stable=True).indices[:k]


def by_confidence(scores: Scores, k: int, threshold: float) -> Any:
    return _best(scores.probs, k)


def by_threshold(scores: Scores, k: int, threshold: float) -> Any:
    above = (scores.probs > threshold).nonzero().flatten()
    return above if above.numel() else scores.probs.argmax().reshape(1)


def by_agreement(scores: Scores, k: int, threshold: float) -> Any:
    """Parallel decoding: every prediction above τ, and every prediction the model made at
    the last pass too (a token that did not change while its neighbours were committed);
    at least the most probable one."""
    keep = scores.probs > threshold
    if scores.stable is not None:
        keep = keep | scores.stable
    chosen = keep.nonzero().flatten()
    return chosen if chosen.numel() else scores.probs.argmax().reshape(1)


def by_margin(scores: Scores, k: int, threshold: float) -> Any:
    return _best(scores.margins, k)


def by_entropy(scores: Scores, k: int, threshold: float) -> Any:
    return _best(-scores.entropies, k)


def at_random(scores: Scores, k: int, threshold: float) -> Any:
    return _best(scores.noise, k)


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (
    Strategy("confidence", by_confidence,
             "the k most probable predictions, k spread evenly over the steps left "
             "(LLaDA's low-confidence remasking)"),
    Strategy("threshold", by_threshold,
             "every prediction above τ (--threshold), at least one per span per step "
             "(Fast-dLLM)", per_span=True),
    Strategy("margin", by_margin,
             "the k predictions with the largest gap between the two most likely tokens"),
    Strategy("entropy", by_entropy,
             "the k predictions with the lowest entropy (Dream)"),
    Strategy("random", at_random, "k slots at random, from the row's seeded generator"),
    Strategy("parallel", by_agreement,
             "every prediction above τ or unchanged since the last pass, at least one per span; once "
             "the text is written, the slots likely empty in the same pass (fewest passes)",
             early_stop=True, per_span=True),
)}


def strategy_names() -> tuple[str, ...]:
    return tuple(STRATEGIES)
