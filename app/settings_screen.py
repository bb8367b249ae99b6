"""The settings panel (F4): sampler strategy, steps, temperature, threshold, candidates, and
the strength given to new rewrite spans. Every field is also in the command palette."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Select

from .options import (CANDIDATE_CHOICES, RETRY_CHOICES, STEP_CHOICES, STRATEGIES, STRENGTH_CHOICES,
                      TEMPERATURE_CHOICES, EditorOptions)

THRESHOLD_CHOICES = (None, 0.5, 0.7, 0.9, 0.95)
DEFAULT = "model default"

# field -> (label, choices)
FIELDS: dict[str, tuple[str, tuple]] = {
    "strategy": ("Strategy", (None, *STRATEGIES)),
    "steps": ("Steps (forward passes)", STEP_CHOICES),
    "temperature": ("Temperature", TEMPERATURE_CHOICES),
    "threshold": ("Threshold (strategy threshold)", THRESHOLD_CHOICES),
    "candidates": ("Candidates (K)", CANDIDATE_CHOICES),
    "retries": ("Retries when a fill falls short", RETRY_CHOICES),
    "strength": ("Strength of new rewrites", STRENGTH_CHOICES),
}


def _label(value: object) -> str:
    return DEFAULT if value is None else f"{value:g}" if isinstance(value, float) else str(value)


class SettingsScreen(ModalScreen[EditorOptions | None]):
    """Dismisses with the new options (save) or ``None`` (escape)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", priority=True),
                Binding("ctrl+s", "apply", "Apply", priority=True)]

    def __init__(self, options: EditorOptions) -> None:
        super().__init__()
        self.options = options

    def compose(self) -> ComposeResult:
        with Vertical(id="settings-box") as box:
            box.border_title = "Sampler settings"
            box.border_subtitle = "ctrl+s apply · escape cancel"
            with Grid(id="settings-grid"):
                for name, (label, choices) in FIELDS.items():
                    current = getattr(self.options, name)
                    if current not in choices:
                        choices = (*choices, current)
                    yield Label(label)
                    yield Select([(_label(c), _label(c)) for c in choices], value=_label(current),
                                 allow_blank=False, compact=True, id=f"set-{name}")
            with Horizontal(id="settings-buttons"):
                yield Button("Apply", id="settings-apply", variant="primary", compact=True)
                yield Button("Cancel", id="settings-cancel", compact=True)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "settings-apply":
            self.action_apply()
        else:
            self.action_cancel()

    def action_apply(self) -> None:
        values = {}
        for name, (_, choices) in FIELDS.items():
            picked = self.query_one(f"#set-{name}", Select).value
            by_label = {_label(c): c for c in (*choices, getattr(self.options, name))}
            values[name] = by_label[picked]
        self.dismiss(self.options.with_(**values))

    def action_cancel(self) -> None:
        self.dismiss(None)
