"""The one-line status bar: file, model, device, state, and the fill's progress.

Fits 80 columns: the file name is shortened first, then the model name.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def _shorten(text: str, width: int) -> str:
    if len(text) <= width:
        return text
    return "…" + text[-(width - 1):] if width > 1 else text[:width]


class StatusBar(Widget):
    """Reactive fields, drawn as ``file* │ model · device │ state │ detail``."""

    DEFAULT_CSS = "StatusBar { height: 1; }"
    COMPONENT_CLASSES = {"status-bar--file", "status-bar--state", "status-bar--error"}

    file: reactive[str] = reactive("")
    modified: reactive[bool] = reactive(False)
    model: reactive[str] = reactive("")
    device: reactive[str] = reactive("")
    state: reactive[str] = reactive("")
    detail: reactive[str] = reactive("")
    error: reactive[bool] = reactive(False)

    def render(self) -> Text:
        file = _shorten(self.file, 24) + ("*" if self.modified else "")
        model = _shorten(self.model, 18) + (f" · {self.device}" if self.device else "")
        state_style = "status-bar--error" if self.error else "status-bar--state"
        text = Text.assemble(
            (" " + file, self.get_component_rich_style("status-bar--file")),
            f" │ {model} │ " if self.model else " │ ",
            (self.state, self.get_component_rich_style(state_style)),
            f" │ {self.detail}" if self.detail else "",
            no_wrap=True,
        )
        text.truncate(max(self.size.width, 1), overflow="ellipsis")
        return text
