"""The list of marked spans: enter jumps to one, delete removes it, + and - change the
strength of a rewrite."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import OptionList

from .messages import SpanPicked


class SpanList(OptionList):
    """One line per span, in text order."""

    BINDINGS = [Binding("delete,backspace,x", "remove", "Remove span"),
                Binding("plus,equals_sign", "strength(0.25)", "Stronger rewrite"),
                Binding("minus", "strength(-0.25)", "Milder rewrite"),
                Binding("escape", "app.toggle_spans", "Close the list")]

    def show_spans(self, labels: list[str]) -> None:
        highlighted = self.highlighted
        self.clear_options()
        self.add_options(labels or [])
        if labels:
            self.highlighted = min(highlighted or 0, len(labels) - 1)
        self.border_title = f"Spans ({len(labels)})"
        self.border_subtitle = "del · + -" if labels else ""

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(SpanPicked(event.option_index))

    def action_remove(self) -> None:
        if self.highlighted is not None and self.option_count:
            self.post_message(SpanPicked(self.highlighted, remove=True))

    def action_strength(self, change: float) -> None:
        if self.highlighted is not None and self.option_count:
            self.post_message(SpanPicked(self.highlighted, strength=change))
