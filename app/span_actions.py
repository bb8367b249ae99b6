"""Span keys of the editor: mark holes and rewrites, grow the selection, list, jump, remove.

A part of ``EditorApp`` (a mixin). Spans live in the ``SpanEditor``, which keeps them
anchored as the text changes; these actions only add, remove and navigate.
"""

from __future__ import annotations

from dataclasses import replace

from infill.markers import HOLE, REWRITE, Span

from .keys import EDIT
from .messages import SpanPicked, SpansChanged
from .span_list import SpanList
from .spans import add_span, describe_span, make_span, span_at


class SpanActions:
    """Marking and navigating spans, for ``EditorApp``."""

    def _selection_offsets(self) -> tuple[int, int]:
        editor = self.editor
        start, end = sorted(editor.selection)
        return editor.offset_of(start), editor.offset_of(end)

    def action_mark_hole(self) -> None:
        if not self._need(EDIT):
            return
        start, end = self._selection_offsets()
        self._add_span(make_span(self.editor.text, start, end, HOLE))

    def action_mark_rewrite(self) -> None:
        if not self._need(EDIT):
            return
        editor = self.editor
        if editor.selection.is_empty:
            editor.select_line_block()  # the cursor's line, newline included
        start, end = self._selection_offsets()
        if start == end:
            self.notify("Nothing to rewrite on an empty line: use ctrl+f for a hole.")
            return
        self._add_span(make_span(editor.text, start, end, REWRITE, self.options.strength))

    def _add_span(self, span: Span) -> None:
        editor = self.editor
        editor.set_spans(add_span(editor.spans, span))
        editor.move_cursor(editor.location_of(span.end))

    def action_select_node(self) -> None:
        if self._need(EDIT) and not self.editor.select_syntax_node():
            self.notify("No syntax tree for this file: use ctrl+l for lines.")

    def action_select_block(self) -> None:
        if self._need(EDIT):
            self.editor.select_line_block()

    def action_remove_span(self) -> None:
        if not self._need(EDIT):
            return
        editor = self.editor
        index = span_at(editor.spans, editor.offset_of(editor.cursor_location))
        if index is None:
            self.notify("No span at the cursor (F2 lists them).")
            return
        editor.set_spans(editor.spans[:index] + editor.spans[index + 1:])

    def action_next_span(self, step: int = 1) -> None:
        editor = self.editor
        if not editor.spans or not self._need(EDIT):
            return
        here = editor.offset_of(editor.cursor_location)
        starts = [s.start for s in editor.spans]
        if step > 0:
            index = next((i for i, s in enumerate(starts) if s > here), 0)
        else:
            index = next((i for i in range(len(starts) - 1, -1, -1) if starts[i] < here), len(starts) - 1)
        self._go_to_span(index)

    def action_previous_span(self) -> None:
        self.action_next_span(-1)

    def _go_to_span(self, index: int) -> None:
        editor = self.editor
        editor.move_cursor(editor.location_of(editor.spans[index].start), center=True)

    def action_toggle_spans(self) -> None:
        span_list = self.query_one("#spans", SpanList)
        shown = self.main_screen.toggle_class("-spans").has_class("-spans")
        if shown:
            span_list.focus()
        else:
            (self.editor if self.state == EDIT else self.preview).focus()

    def on_spans_changed(self, message: SpansChanged) -> None:
        text = self.editor.text
        self.query_one("#spans", SpanList).show_spans([describe_span(text, s) for s in message.spans])
        if self.state == EDIT:
            self.status.detail = f"{len(message.spans)} span{'s' * (len(message.spans) != 1)}"

    def on_span_picked(self, message: SpanPicked) -> None:
        editor = self.editor
        if message.index >= len(editor.spans) or self.state != EDIT:
            return
        if message.remove:
            editor.set_spans(editor.spans[:message.index] + editor.spans[message.index + 1:])
        elif message.strength:
            span = editor.spans[message.index]
            if span.kind == REWRITE:
                strength = min(1.0, max(0.25, span.strength + message.strength))
                changed = replace(span, strength=strength)
                editor.set_spans(editor.spans[:message.index] + (changed,) + editor.spans[message.index + 1:])
        else:
            self._go_to_span(message.index)
            editor.focus()
