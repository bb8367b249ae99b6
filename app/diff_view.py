"""The diff preview: the unified diff the accept key would apply to the buffer."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


class DiffView(VerticalScroll, can_focus=True):
    """A scrollable, coloured unified diff (colours from ``editor.tcss``).

    The file header lines are left out (the border title names the file), so the hunks get
    every row of a small terminal.
    """

    COMPONENT_CLASSES = {"diff-view--added", "diff-view--removed", "diff-view--hunk"}

    def compose(self):
        yield Static(id="diff-text")

    def show_diff(self, diff: str, name: str = "") -> None:
        styles = {"+": self.get_component_rich_style("diff-view--added"),
                  "-": self.get_component_rich_style("diff-view--removed"),
                  "@": self.get_component_rich_style("diff-view--hunk")}
        text = Text(no_wrap=True, overflow="ellipsis", end="")
        added = removed = 0
        for line in diff.splitlines(keepends=True):
            if line.startswith(("diff --git", "--- ", "+++ ")):
                continue
            added += line.startswith("+")
            removed += line.startswith("-")
            text.append(line, styles.get(line[:1]))
        if not text:
            text.append("(no change)")
        self.border_title = f"diff {name}  +{added} -{removed}"
        self.query_one("#diff-text", Static).update(text)
        self.scroll_home(animate=False)
