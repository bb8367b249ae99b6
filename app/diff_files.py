"""Diff mode's file list: the changed files with their status, each followed by its hunks.

Enter (or a click) on a file opens it in the buffer; on a hunk, it also moves the cursor
there. Files that cannot be edited (deleted, binary, ...) are listed dimmed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import OptionList

from .diff_data import FileRow
from .messages import DiffItemPicked


class DiffFileList(OptionList):
    """One option per ``FileRow``."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: list[FileRow] = []

    def show_files(self, rows: Sequence[FileRow], title: str = "") -> None:
        highlighted = self.highlighted
        self.rows = list(rows)
        self.clear_options()
        if rows:
            self.add_options([Text(row.label, style="" if row.editable else "dim")
                              for row in rows])
            self.highlighted = min(highlighted or 0, len(rows) - 1)
        else:
            self.add_option(Text("(no changes)", style="dim"))
        files = sum(row.hunk is None for row in rows)
        self.border_title = f"Files ({files})"
        self.border_subtitle = title

    def highlight_item(self, file: int | None, hunk: int | None = None) -> None:
        """Highlight the row of ``file`` (and ``hunk``), without moving the focus."""
        for index, row in enumerate(self.rows):
            if row.file == file and row.hunk == hunk:
                if self.highlighted != index:
                    self.highlighted = index
                return
        if hunk is not None:
            self.highlight_item(file)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_index < len(self.rows):
            row = self.rows[event.option_index]
            self.post_message(DiffItemPicked(row.file, row.hunk))
