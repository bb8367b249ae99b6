"""The read-only view that shows a fill as it is denoised, and the result under review.

It is a copy of the buffer that the editor never saves: each frame is painted into it (see
``painting``) by replacing only the text that changed, so tree-sitter re-parses incrementally
and the view keeps its scroll position; its edit history is dropped as it goes.
"""

from __future__ import annotations

from .code_view import CodeView
from .painting import Painted
from .spans import changed_region


class FillPreview(CodeView):
    """Shows ``Painted`` text; the user can scroll and move the cursor, not edit."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", read_only=True, id=id)

    def start(self, text: str, language: str | None, cursor: tuple[int, int],
              scroll: tuple[float, float]) -> None:
        """Show ``text`` where the editor was: same language, cursor and scroll."""
        self._marks = ()
        if self.language != language:
            self.language = language
        self.load_text(text)
        self.move_cursor(cursor)
        # The view is only now being shown: scroll once it has its size.
        self.call_after_refresh(self.scroll_to, *scroll, animate=False, immediate=True)

    def show(self, painted: Painted) -> None:
        old = self.text
        self._marks = painted.marks
        if painted.text != old:
            start, old_end, new_end = changed_region(old, painted.text)
            self.replace(painted.text[start:new_end], self.location_of(start),
                         self.location_of(old_end))
            self.history.clear()
        else:
            self._build_highlight_map()
        self.refresh()
