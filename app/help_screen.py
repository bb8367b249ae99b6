"""The key-binding screen (F1): everything a person needs to mark, generate, review and save."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from .keys import DIFF, EDITING_KEYS, EDITOR, Key, display, keys_for

INTRO = (
    "Mark the spans the model should write, generate, watch the denoising, then accept or "
    "reject. Holes are filled at any length; rewrites keep what the model finds likely "
    "(strength: how much may change). Nothing changes in the buffer until you accept, and an "
    "accepted fill is one undo step."
)

DIFF_INTRO = (
    "Diff mode shows the new version of each changed file, added lines marked + in the "
    "gutter. Mark a hunk (ctrl+o) or its added lines (f5), or any span, generate, and "
    "accept: the fill is written to the work tree file at once (only if the file still "
    "holds what was loaded), and the diff pane shows its patch against HEAD."
)


def key_table(keys: tuple[Key, ...] | None = None) -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", width=16)
    table.add_column(ratio=1)
    group = None
    for key in keys if keys is not None else keys_for():
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

    def __init__(self, mode: str = EDITOR) -> None:
        super().__init__()
        self.mode = mode

    def compose(self) -> ComposeResult:
        diff = self.mode == DIFF
        with VerticalScroll(id="help-box") as box:
            box.border_title = f"infill {'diff' if diff else 'edit'}: keys"
            box.border_subtitle = "escape closes"
            yield Static(f"{INTRO}\n\n{DIFF_INTRO}" if diff else INTRO, id="help-intro")
            yield Static(key_table(keys_for(self.mode)), id="help-keys")

    def action_dismiss(self) -> None:
        self.dismiss(None)
