"""A TextArea for code: tree-sitter highlighting, line numbers, and *marks* drawn over it.

Marks are ``(start, end, style)`` character ranges (see ``painting``); the editor uses them for
spans, the preview for masked slots and tokens coloured by confidence. They are added to the
TextArea's own highlight map, so they cost nothing extra to draw and scroll with the text.
Their look comes from component classes styled in ``editor.tcss``.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_right

from rich.segment import Segment
from rich.style import Style
from textual.document._document_navigator import DocumentNavigator
from textual.document._syntax_aware_document import SyntaxAwareDocument, SyntaxAwareDocumentError
from textual.document._wrapped_document import WrappedDocument
from textual.strip import Strip
from textual.geometry import Region
from textual.widgets import TextArea

from . import languages

# Mark style name (see painting.py) -> component class.
MARK_CLASSES = {
    "infill.hole": "code-view--hole",
    "infill.rewrite": "code-view--rewrite",
    "infill.masked": "code-view--masked",
    "infill.remasked": "code-view--remasked",
    "infill.revised": "code-view--revised",
    **{f"infill.{age}.{band}": f"code-view--{age}-{band}"
       for age in ("new", "kept") for band in ("high", "mid", "low")},
}


GUTTER_SIGN_CLASS = "code-view--gutter-sign"


class CodeView(TextArea):
    """A code TextArea with offline syntax highlighting, marks and gutter signs.

    A gutter sign is one character drawn after a line's number (diff mode's ``+`` on added
    lines): in the gutter rather than over the text, so that the selection stays visible.
    """

    COMPONENT_CLASSES = (TextArea.COMPONENT_CLASSES | set(MARK_CLASSES.values())
                         | {GUTTER_SIGN_CLASS})

    def __init__(self, text: str = "", *, language: str | None = None, read_only: bool = False,
                 id: str | None = None) -> None:
        self._marks: tuple[tuple[int, int, str], ...] = ()
        self._gutter_signs: dict[int, str] = {}
        self._mark_styles_ready = False
        super().__init__(text, language=language, theme="css", soft_wrap=False,
                         tab_behavior="indent", read_only=read_only, show_line_numbers=True,
                         id=id)

    # -- marks ---------------------------------------------------------------------------

    @property
    def marks(self) -> tuple[tuple[int, int, str], ...]:
        return self._marks

    def set_marks(self, marks: tuple[tuple[int, int, str], ...]) -> None:
        self._marks = marks
        self._build_highlight_map()
        self.refresh()

    def _build_highlight_map(self) -> None:
        super()._build_highlight_map()
        if not self._marks:
            return
        lines = self.document.lines
        starts = [0]
        for line in lines[:-1]:
            starts.append(starts[-1] + len(line) + 1)
        highlights = self._highlights
        for start, end, name in self._marks:
            row = bisect_right(starts, start) - 1
            while row < len(lines) and starts[row] <= max(start, end - 1):
                line = lines[row]
                first = max(start - starts[row], 0)
                last = end - starts[row]
                begin = len(line[:first].encode())
                stop = None if last > len(line) else len(line[:last].encode())
                highlights[row].append((begin, stop, name))
                row += 1

    # -- gutter signs ------------------------------------------------------------------------

    def set_gutter_signs(self, signs: dict[int, str]) -> None:
        """One character per row (0-based) to draw after the line number."""
        if signs != self._gutter_signs:
            self._gutter_signs = signs
            self._line_cache.clear()
            self.refresh()

    def _render_line(self, y: int) -> Strip:
        strip = super()._render_line(y)
        row = y + self.scroll_offset.y  # no soft wrap: one row per line
        sign = self._gutter_signs.get(row)
        width = self.gutter_width
        if sign is None or not self.show_line_numbers or width < 3 or self.soft_wrap:
            return strip
        gutter = "".join(segment.text for segment in strip.crop(0, width))
        style = self.get_component_rich_style(GUTTER_SIGN_CLASS, partial=True)
        signed = Strip([Segment(gutter[:width - 2]), Segment(sign, style), Segment(gutter[-1])])
        base = next(iter(strip.crop(0, 1)), Segment("")).style
        return Strip.join([signed.apply_style(base), strip.crop(width)])

    # -- mark styles from CSS --------------------------------------------------------------

    def _set_theme(self, theme: str) -> None:
        super()._set_theme(theme)
        # Own copy: the theme's style dict is shared by every TextArea using it.
        self._theme = dataclasses.replace(self._theme, syntax_styles=dict(self._theme.syntax_styles))
        self._mark_styles_ready = False

    def _app_theme_changed(self) -> None:
        self._mark_styles_ready = False
        super()._app_theme_changed()

    def render_lines(self, crop: Region) -> list[Strip]:
        if not self._mark_styles_ready and self._theme is not None:
            for name, component in MARK_CLASSES.items():
                style = self.get_component_rich_style(component, partial=True)
                self._theme.syntax_styles[name] = style if style else Style()
            self._mark_styles_ready = True
            self._line_cache.clear()
        return super().render_lines(crop)

    # -- documents with cached queries -------------------------------------------------------

    def _set_document(self, text: str, language: str | None) -> None:
        """As TextArea's, but with languages (and their compiled queries) from ``languages``."""
        resolved = languages.resolve(language) if language else None
        if resolved is None:
            super()._set_document(text, None)
            return
        ts_language, query = resolved
        try:
            document = SyntaxAwareDocument(text, ts_language)
        except SyntaxAwareDocumentError:
            super()._set_document(text, None)
            return
        self._highlight_query = query
        self.document = document
        self.wrapped_document = WrappedDocument(document, tab_width=self.indent_width)
        self.navigator = DocumentNavigator(self.wrapped_document)
        self._build_highlight_map()
        self.move_cursor((0, 0))
        self._rewrap_and_refresh_virtual_size()

    @property
    def available_languages(self) -> set[str]:
        return super().available_languages | set(languages.EXTENSIONS.values())

    # -- offsets and locations ---------------------------------------------------------------

    def location_of(self, offset: int) -> tuple[int, int]:
        """The (row, column) of a character offset into ``self.text``."""
        return self.document.get_location_from_index(offset)

    def offset_of(self, location: tuple[int, int]) -> int:
        return self.document.get_index_from_location(location)
