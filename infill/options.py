"""Sampler options: one table of fields, one validation, every front door generated from it.

``OPTIONS`` describes each option once (type, check, help, the values the editor offers).
From it come:

- ``FillOptions``: what a caller asks ``Filler.fill_spans`` for; ``None`` means "the
  model's recommended value" (``infill_config.json``), resolved by the engine;
- ``SamplerOptions``: the resolved, complete options the sampler runs with;
- the CLI flags (``add_option_flags``), the ``[tool.infill]`` keys (``infill.settings``) and
  the editor's choices (``infill.app.options``).

Both dataclasses are frozen and validate on construction, so an invalid value (a NaN
temperature, an unknown strategy) fails where it enters, before any model loads. Strategy
names come from the registry in ``infill.strategies``. Pure: no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Mapping

from infill.errors import InputError
from infill.strategies import STRATEGIES


@dataclass(frozen=True)
class Option:
    """One sampler option. ``exposed``: a CLI flag and a ``[tool.infill]`` key."""

    name: str
    kind: type                          # int, float or str
    help: str
    check: Callable[[Any], str | None]  # a reason when the value is bad, else None
    editor: tuple = ()                  # the values the editor offers (None: model default)
    exposed: bool = True

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _at_least(low: int) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"must be at least {low}, not {v}"


def _unit(v: float) -> str | None:
    return None if 0.0 < v <= 1.0 else f"must be in (0, 1], not {v}"


def _temperature(v: float) -> str | None:
    if not math.isfinite(v):
        return f"must be a finite number, not {v}"
    return None if v >= 0 else f"must be at least 0.0, not {v}"


def _strategy(v: str) -> str | None:
    return None if v in STRATEGIES else f"must be one of {', '.join(STRATEGIES)}, not {v!r}"


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("strategy", str, "which slots to commit per step: "
           + "; ".join(f"{s.name}: {s.summary}" for s in STRATEGIES.values()),
           _strategy, (None, *STRATEGIES)),
    Option("steps", int, "cap on forward passes per fill", _at_least(1), (None, 4, 8, 16, 32, 64)),
    Option("temperature", float, "0 = greedy (default)", _temperature, (None, 0.0, 0.3, 0.7, 1.0)),
    Option("threshold", float, "τ for --strategy threshold", _unit, (None, 0.5, 0.7, 0.9, 0.95)),
    Option("top_k", int, "sample from the k most likely tokens only", _at_least(1)),
    Option("top_p", float, "sample from the nucleus of probability p only", _unit),
    Option("block_length", int, "semi-autoregressive: fill each span block by block, left to "
           "right, in blocks of this many slots (LLaDA)", _at_least(1), (None, 8, 16, 32)),
    Option("candidates", int, "K fills per request, best first: the first at --temperature, "
           "the others sampled; a fill that parses worse than the original ranks last "
           "(default: the model's recommendation, else 1)", _at_least(1), (None, 1, 2, 4)),
    Option("retries", int, "when the best fill parses worse than the original or leaves a "
           "code hole blank, sample this many more candidates and keep the best (0: never; "
           "default: the model's recommendation, else 0)", _at_least(0), (None, 0, 3)),
    Option("copies", int, "score this many lines copied from elsewhere in the file against "
           "the model's fill of a one-line hole and keep the likelier (0: never; default: "
           "the model's recommendation, else 0)", _at_least(0), (None, 0, 8)),
    Option("budget", int, "slots for a hole (default: by context)", _at_least(1), exposed=False),
    Option("null_threshold", float, "a slot is text while P(null) is below this", _unit,
           exposed=False),
    Option("cache_refresh", int, "context cache: a full forward pass every N passes, only the "
           "span slots in between (1: no cache; backends with their own forward)", _at_least(1),
           (None, 1, 2, 4, 8)),
)}

EXPOSED = tuple(name for name, o in OPTIONS.items() if o.exposed)
# Resolved into SamplerOptions from infill_config.json or a family default. A checkpoint may
# also recommend ``candidates``, ``retries`` and ``copies`` (FillOptions.candidate_count,
# retry_count, copy_count).
MODEL_DEFAULTS = ("strategy", "temperature", "threshold", "null_threshold", "top_k", "top_p",
                  "block_length", "cache_refresh")


def check_option(name: str, value: Any) -> Any:
    """``value`` as option ``name``'s type; ``InputError`` (reason only) when it is bad."""
    option = OPTIONS[name]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(f"must be {_KIND[option.kind]}, not {value!r}")
    if option.kind is float and isinstance(value, int):
        value = float(value)
    if not isinstance(value, option.kind):
        raise InputError(f"must be {_KIND[option.kind]}, not {value!r}")
    reason = option.check(value)
    if reason:
        raise InputError(reason)
    return value


_KIND = {str: "a string", int: "an integer", float: "a number"}


def _validate(value: object) -> None:
    for f in fields(value):  # type: ignore[arg-type]
        current = getattr(value, f.name)
        if current is None or f.name not in OPTIONS:
            continue
        try:
            checked = check_option(f.name, current)
        except InputError as error:
            raise InputError(f"{f.name} {error.reason}") from None
        if checked is not current:
            object.__setattr__(value, f.name, checked)


@dataclass(frozen=True)
class SamplerOptions:
    """Resolved options the sampler runs with (no "model default" left)."""

    strategy: str = "confidence"
    steps: int | None = None  # None: one forward pass per slot of the longest row
    temperature: float = 0.0
    threshold: float = 0.9
    top_k: int | None = None
    top_p: float | None = None
    null_threshold: float = 0.5  # a slot is text while P(null) is below this
    block_length: int | None = None  # semi-autoregressive blocks within each span
    cache_refresh: int = 1       # a full pass every N passes, the slots alone between

    def __post_init__(self) -> None:
        _validate(self)


@dataclass(frozen=True)
class FillOptions:
    """What a caller asks for; ``None``: the model's recommended value, else the sampler's."""

    strategy: str | None = None
    steps: int | None = None
    temperature: float | None = None
    threshold: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    candidates: int | None = None  # None: the model's recommended K, else 1
    retries: int | None = None     # None: the model's recommendation, else 0
    copies: int | None = None      # None: the model's recommendation, else 0
    budget: int | None = None
    null_threshold: float | None = None
    block_length: int | None = None
    cache_refresh: int | None = None

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_kwargs(cls, **values: Any) -> "FillOptions":
        """The keyword form (``fill_text(..., steps=4)``); ``None`` values are left unset."""
        unknown = set(values) - set(OPTIONS)
        if unknown:
            raise TypeError(f"unknown sampler option(s): {', '.join(sorted(unknown))}")
        return cls(**{k: v for k, v in values.items() if v is not None})

    def with_(self, **changes: Any) -> "FillOptions":
        return replace(self, **changes)

    def candidate_count(self, defaults: Mapping[str, Any] | None = None) -> int:
        """K: the option set here, else the model's recommended value, else 1."""
        return self._count("candidates", defaults, 1)

    def retry_count(self, defaults: Mapping[str, Any] | None = None) -> int:
        """Candidates sampled again when the best falls short: set here, else the model's, else 0."""
        return self._count("retries", defaults, 0)

    def copy_count(self, defaults: Mapping[str, Any] | None = None) -> int:
        """Copied lines scored against a one-line hole's fill: set here, else the model's,
        else 0."""
        return self._count("copies", defaults, 0)

    def _count(self, name: str, defaults: Mapping[str, Any] | None, fallback: int) -> int:
        value = getattr(self, name)
        if value is None and defaults:
            value = defaults.get(name)
        return int(value) if value is not None else fallback

    def sampler(self, defaults: Mapping[str, Any] | None = None) -> SamplerOptions:
        """Resolve: the options set here, else the model's ``defaults``, else the sampler's."""
        values = {key: defaults[key] for key in MODEL_DEFAULTS
                  if defaults and defaults.get(key) is not None}
        for f in fields(SamplerOptions):
            if getattr(self, f.name) is not None:
                values[f.name] = getattr(self, f.name)
        return SamplerOptions(**values)


def add_option_flags(parser: Any) -> None:
    """One ``argparse`` flag per exposed option (``--strategy``, ``--top-k``, …)."""
    for name in EXPOSED:
        option = OPTIONS[name]
        extra = {"choices": tuple(STRATEGIES)} if name == "strategy" else {}
        parser.add_argument(option.flag, dest=name, type=option.kind, help=option.help, **extra)


def strategy_table() -> str:
    """The strategies as a Markdown table (for the docs; generated from the registry)."""
    rows = ["| strategy | commits at each step |", "| --- | --- |"]
    rows += [f"| `{s.name}` | {s.summary} |" for s in STRATEGIES.values()]
    return "\n".join(rows)
