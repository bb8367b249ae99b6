"""The sampler options the editor passes to ``Filler.fill_spans``, as one small value.

``EditorOptions`` is ``infill.options.FillOptions`` plus the strength given to new rewrite
spans: the same fields, the same validation. The choices the settings panel and the command
palette offer come from the option table (``infill.options.OPTIONS``), and the strategies
from the registry (``infill.strategies``), so a new strategy shows up here by itself.
The editor owns these because the user changes them live; they start from the project's
settings (``[tool.infill]``). ``None`` means "the model's recommended value".
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from infill.errors import InputError
from infill.options import OPTIONS, FillOptions
from infill.strategies import STRATEGIES as _REGISTRY

STRATEGIES = tuple(_REGISTRY)
STEP_CHOICES = OPTIONS["steps"].editor
TEMPERATURE_CHOICES = OPTIONS["temperature"].editor
THRESHOLD_CHOICES = OPTIONS["threshold"].editor
CANDIDATE_CHOICES = OPTIONS["candidates"].editor
RETRY_CHOICES = OPTIONS["retries"].editor
STRENGTH_CHOICES = (0.25, 0.5, 0.75, 1.0)

# The editable fields, in the order shown: (name, label, choices).
EDITOR_FIELDS: tuple[tuple[str, str, tuple], ...] = tuple(
    (name, name.replace("_", " ").capitalize(), option.editor)
    for name, option in OPTIONS.items() if option.editor
) + (("strength", "Strength of new rewrites", STRENGTH_CHOICES),)


@dataclass(frozen=True)
class EditorOptions(FillOptions):
    """What the next fill runs with."""

    strength: float = 0.5  # for new rewrite spans

    def __post_init__(self) -> None:
        try:
            super().__post_init__()
        except InputError as error:
            raise ValueError(error.reason) from None
        if not 0.0 < self.strength <= 1.0:
            raise ValueError("strength must be in (0, 1]")

    @classmethod
    def from_settings(cls, settings: object | None) -> "EditorOptions":
        """The sampler options of an ``infill.settings.Settings`` (its ``fill``)."""
        fill = getattr(settings, "fill", None) or FillOptions()
        return cls(**{f.name: getattr(fill, f.name) for f in fields(FillOptions)})

    def fill_options(self) -> FillOptions:
        """The options for ``fill_spans`` (everything but ``strength``)."""
        return FillOptions(**{f.name: getattr(self, f.name) for f in fields(FillOptions)})

    def with_(self, **changes) -> "EditorOptions":
        return replace(self, **changes)

    def describe(self) -> str:
        def show(value: object) -> str:
            return "model default" if value is None else f"{value:g}" if isinstance(value, float) else str(value)

        return (f"strategy {show(self.strategy)} · steps {show(self.steps)} · "
                f"temperature {show(self.temperature)} · threshold {show(self.threshold)} · "
                f"candidates {show(self.candidates)} · retries {show(self.retries)} · "
                f"rewrite strength {self.strength:g}")
