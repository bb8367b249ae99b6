"""The sampler options the editor passes to ``Filler.fill_spans``, as one small value.

The editor owns these because the user changes them live (settings panel, command palette);
they start from the project's settings (``[tool.infill]``). ``None`` means "the model's
recommended value", resolved by the engine, as in ``infill.settings``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

STRATEGIES = ("confidence", "threshold")  # CONTRACTS.md, engine API options
STEP_CHOICES = (None, 4, 8, 16, 32, 64)
TEMPERATURE_CHOICES = (None, 0.0, 0.3, 0.7, 1.0)
CANDIDATE_CHOICES = (1, 2, 4)
STRENGTH_CHOICES = (0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class EditorOptions:
    """What the next fill runs with."""

    strategy: str | None = None
    steps: int | None = None
    temperature: float | None = None
    threshold: float | None = None
    candidates: int = 1
    strength: float = 0.5  # for new rewrite spans

    def __post_init__(self) -> None:
        if self.strategy is not None and self.strategy not in STRATEGIES:
            raise ValueError(f"unknown strategy {self.strategy!r} (known: {', '.join(STRATEGIES)})")
        if self.steps is not None and self.steps < 1:
            raise ValueError("steps must be at least 1")
        if self.temperature is not None and self.temperature < 0:
            raise ValueError("temperature must be 0 or more")
        if self.threshold is not None and not 0.0 < self.threshold <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        if self.candidates < 1:
            raise ValueError("candidates must be 1 or more")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError("strength must be in (0, 1]")

    @classmethod
    def from_settings(cls, settings: object | None) -> "EditorOptions":
        """The sampler fields of an ``infill.settings.Settings`` (anything with those names)."""
        if settings is None:
            return cls()
        return cls(strategy=getattr(settings, "strategy", None),
                   steps=getattr(settings, "steps", None),
                   temperature=getattr(settings, "temperature", None),
                   threshold=getattr(settings, "threshold", None),
                   candidates=getattr(settings, "candidates", 1) or 1)

    def fill_kwargs(self) -> dict:
        """Keyword arguments for ``fill_spans``; unset values are left to the engine."""
        values = {"strategy": self.strategy, "steps": self.steps,
                  "temperature": self.temperature, "threshold": self.threshold,
                  "candidates": self.candidates}
        return {key: value for key, value in values.items() if value is not None}

    def with_(self, **changes) -> "EditorOptions":
        return replace(self, **changes)

    def describe(self) -> str:
        def show(value: object) -> str:
            return "model default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

        return (f"strategy {show(self.strategy)} · steps {show(self.steps)} · "
                f"temperature {show(self.temperature)} · threshold {show(self.threshold)} · "
                f"candidates {self.candidates} · rewrite strength {self.strength:g}")
