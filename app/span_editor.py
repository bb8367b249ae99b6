"""The editing buffer: a code view that keeps the user's marked spans anchored to the text.

Spans move with every change (typing, paste, undo, redo; see ``spans.remap_spans``). Undo
across a fill also brings back the spans the fill consumed: the editor remembers the spans
that went with the text before and after each accepted fill.

Diff mode also anchors *regions*: tagged ranges (a hunk, its added lines) that move with
the text the same way, so its keys find the hunk at the cursor after any edit. Regions
tagged ``ADDED`` get a ``+`` in the gutter.
"""

from __future__ import annotations

from bisect import bisect_right

from textual.document._syntax_aware_document import SyntaxAwareDocument
from textual.widgets.text_area import Selection

from infill.markers import Span

from .code_view import CodeView
from .messages import SpansChanged
from .painting import span_marks
from .selection import grow_lines, grow_node
from .spans import ADDED, remap_regions, remap_spans

Region = tuple[int, int, str]


class SpanEditor(CodeView):
    """The buffer the user edits and marks spans in."""

    def __init__(self, text: str = "", *, language: str | None = None, id: str | None = None) -> None:
        self._spans: tuple[Span, ...] = ()
        self._known_text = text
        self._memory: dict[int, tuple[str, tuple[Span, ...]]] = {}
        self._regions: tuple[Region, ...] = ()
        self._region_memory: dict[int, tuple[str, tuple[Region, ...]]] = {}
        super().__init__(text, language=language, id=id)

    @property
    def spans(self) -> tuple[Span, ...]:
        return self._spans

    def set_spans(self, spans: tuple[Span, ...]) -> None:
        self._known_text = self.text
        self._apply_spans(tuple(sorted(spans, key=lambda s: (s.start, s.end))))

    def remember_spans(self, text: str, spans: tuple[Span, ...]) -> None:
        """Bring ``spans`` back whenever the buffer holds ``text`` again (undo, redo)."""
        self._memory[hash(text)] = (text, spans)

    # -- regions (diff mode) ----------------------------------------------------------------

    @property
    def regions(self) -> tuple[Region, ...]:
        return self._regions

    def set_regions(self, regions: tuple[Region, ...], remember: bool = True) -> None:
        """Anchor ``regions`` to the current text (and, with ``remember``, bring them back
        whenever the buffer holds this text again)."""
        self._known_text = self.text
        self._regions = tuple(regions)
        if remember:
            self._region_memory[hash(self._known_text)] = (self._known_text, self._regions)
        self._show_regions()

    def load_buffer(self, text: str, language: str | None, regions: tuple[Region, ...] = (),
                    spans: tuple[Span, ...] = ()) -> None:
        """Show another file: new text, language, regions and spans; no undo history."""
        self._spans, self._regions = (), ()
        self._memory.clear()
        self._region_memory.clear()
        if self.language != language:
            self.language = language
        self.load_text(text)
        self.scroll_home(animate=False, immediate=True)
        self.set_regions(regions)
        self.set_spans(spans)

    def _show_regions(self) -> None:
        lines = self.document.lines
        starts, at = [], 0
        for line in lines:
            starts.append(at)
            at += len(line) + 1
        signs: dict[int, str] = {}
        for start, end, tag in self._regions:
            if tag != ADDED or start == end:
                continue
            row = bisect_right(starts, start) - 1
            while 0 <= row < len(lines) and starts[row] < end:
                signs[row] = "+"
                row += 1
        self.set_gutter_signs(signs)

    def _apply_spans(self, spans: tuple[Span, ...]) -> None:
        changed = spans != self._spans
        self._spans = spans
        self._marks = span_marks(spans)
        super()._build_highlight_map()
        self.refresh()
        if changed and self.is_attached:
            self.post_message(SpansChanged(spans))

    def _build_highlight_map(self) -> None:
        text = self.text
        if text != self._known_text and (self._regions or self._region_memory):
            known = self._region_memory.get(hash(text))
            if known is not None and known[0] == text:
                self._regions = known[1]
            else:
                self._regions = remap_regions(self._regions, self._known_text, text)
            self._show_regions()
        if text != self._known_text:
            remembered = self._memory.get(hash(text))
            if remembered is not None and remembered[0] == text:
                spans = remembered[1]
            else:
                spans = remap_spans(self._spans, self._known_text, text)
            self._known_text = text
            if spans != self._spans:
                self._apply_spans(spans)
                return
        super()._build_highlight_map()

    # -- growing the selection -----------------------------------------------------------------

    def select_syntax_node(self) -> bool:
        """Select the syntax node under the cursor, or grow the selection to its parent."""
        document = self.document
        if not isinstance(document, SyntaxAwareDocument):
            return False
        start, end = sorted(self.selection)
        node = grow_node(document._syntax_tree.root_node,
                         document._location_to_byte_offset(start),
                         document._location_to_byte_offset(end))
        if node is None:
            return False
        self.selection = Selection(self._point_location(node.start_point),
                                   self._point_location(node.end_point))
        return True

    def _point_location(self, point: tuple[int, int]) -> tuple[int, int]:
        row, byte_column = point
        if row >= self.document.line_count:
            return self.document.end
        line = self.document[row]
        return row, len(line.encode()[:byte_column].decode(errors="ignore"))

    def select_line_block(self) -> None:
        """Select the cursor's line; again: the paragraph, the block, its header, and so on."""
        (top, left), (bottom, right) = sorted(self.selection)
        lines = self.document.lines
        ends_at_line_start = right == 0 and bottom > top
        if ends_at_line_start:
            bottom -= 1
        at_end = bottom == len(lines) - 1 and right == len(lines[-1])
        whole = left == 0 and (ends_at_line_start or at_end) and self.selection.start != self.selection.end
        top, bottom = grow_lines(lines, top, bottom, whole)
        end = (bottom + 1, 0) if bottom + 1 < len(lines) else (bottom, len(lines[bottom]))
        self.selection = Selection((top, 0), end)
