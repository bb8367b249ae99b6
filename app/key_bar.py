"""The bottom line: the keys that work in the current state, from ``keys.KEYS``.

A plain one-line widget rather than Textual's Footer: the Footer re-mounts its children on
every binding change, which costs tens of milliseconds right when the generate key must put
the first frame on screen.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from .keys import ANY, Key, keys_for

_SHORT = {"ctrl+": "^", "escape": "esc", "left": "←→"}


def short(key: str) -> str:
    first = key.split(",")[0]
    for long, brief in _SHORT.items():
        first = first.replace(long, brief)
    return first


class KeyBar(Widget):
    """``^f hole  ^r rewrite  …`` for the keys of ``state``; the palette key on the right.

    Keys that work in every state (save, quit) are listed while editing only, so that the
    review keys fit 80 columns.
    """

    DEFAULT_CSS = "KeyBar { height: 1; }"
    COMPONENT_CLASSES = {"key-bar--key"}

    state: reactive[str] = reactive("edit")

    def __init__(self, keys: tuple[Key, ...] | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.keys = keys if keys is not None else keys_for()

    def render(self) -> Text:
        key_style = self.get_component_rich_style("key-bar--key")
        text = Text(no_wrap=True, overflow="ellipsis")
        for key in self.keys:
            shown = key.state == self.state or (key.state == ANY and (
                self.state == "edit" or key.action == "help"))
            if key.footer and shown:
                text.append(f" {short(key.keys)}", key_style)
                text.append(f" {key.footer} ")
        palette = Text.assemble((" ^p", key_style), " palette ")
        gap = self.size.width - text.cell_len - palette.cell_len
        if gap > 0:
            text.append(" " * gap)
            text.append_text(palette)
        text.truncate(max(self.size.width, 1), overflow="ellipsis")
        return text
