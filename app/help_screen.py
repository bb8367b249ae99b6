"""The key-binding screen (F1): everything a person needs to mark, generate, review and save."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .keys import EDITING_KEYS, KEYS, display

INTRO = (
    "Mark the spans the model should write, generate, watch the denoising, then accept or "
    "reject. Holes are filled at any length; rewrites keep what the model finds likely "
    "(strength: how much may change). Nothing changes in the buffer until you accept, and an "
    "accepted fill is one undo step."
)


def key_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", width=16)
    table.add_column(ratio=1)
    group = None
    for key in KEYS:
        if key.group != group:
            group = key.group
            table.add_row(Text(group, style="underline"), "")
        table.add_row(display(key.keys), key.title)
    table.add_row(Text("Editing", style="underline"), "")
    for keys, what in EDITING_KEYS:
        table.add_row(keys, what)
    return table


class HelpScreen(ModalScreen[None]):
    """Keys, grouped by what they do; escape, q or F1 closes it."""

    BINDINGS = [Binding("escape,q,f1", "dismiss", "Close", priority=True)]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-box") as box:
            box.border_title = "infill edit: keys"
            box.border_subtitle = "escape closes"
            yield Static(INTRO, id="help-intro")
            yield Static(key_table(), id="help-keys")

    def action_dismiss(self) -> None:
        self.dismiss(None)
