"""Diff mode's keys: mark a hunk or its added lines, go from hunk to hunk, the file list.

A part of ``DiffApp`` (a mixin). The hunks live in the buffer as *regions* (``SpanEditor``)
that move with the text like spans, so these keys find the hunk at the cursor after any
edit; the spans they mark are ordinary rewrite spans, generated, reviewed and accepted as in
the editor.
"""

from __future__ import annotations

from infill.markers import REWRITE, Span

from .diff_data import HunkPlace, hunk_places, place_at
from .diff_files import DiffFileList
from .keys import EDIT
from .spans import make_span


class DiffActions:
    """Marking hunks and added lines, and moving between hunks, for ``DiffApp``."""

    def _places(self) -> list[HunkPlace]:
        return hunk_places(self.editor.regions)

    def _place_at_cursor(self) -> HunkPlace | None:
        editor = self.editor
        return place_at(self._places(), editor.offset_of(editor.cursor_location))

    def _rewrite(self, start: int, end: int) -> Span:
        """A rewrite span at the strength of new rewrites; an empty one writes new lines."""
        text = self.editor.text
        if start == end:
            return Span(start, end, REWRITE, strength=self.options.strength, block=True,
                        line=text.count("\n", 0, start) + 1)
        return make_span(text, start, end, REWRITE, self.options.strength)

    def _no_hunk(self) -> None:
        self.notify("No hunk at the cursor: f8 goes to the next one, f9 lists them.")

    def action_mark_hunk(self) -> None:
        if not self._need(EDIT):
            return
        place = self._place_at_cursor()
        if place is None:
            self._no_hunk()
            return
        if place.whole is None:
            self.notify("This hunk's lines were edited away: mark a span with ctrl+r.")
            return
        self._add_span(self._rewrite(*place.whole))

    def action_mark_added(self) -> None:
        if not self._need(EDIT):
            return
        editor = self.editor
        if not editor.selection.is_empty:
            runs = self._runs_in_selection()
            if not runs:
                self.notify("No added lines in the selection.")
                return
        else:
            place = self._place_at_cursor()
            if place is None:
                self._no_hunk()
                return
            here = editor.offset_of(editor.cursor_location)
            runs = [run for run in place.runs if run[0] <= here < run[1]] or list(place.runs)
            if not runs and place.whole is not None:  # a hunk that only removed lines
                runs = [place.whole]
        for start, end in runs:
            self._add_span(self._rewrite(start, end))

    def _runs_in_selection(self) -> list[tuple[int, int]]:
        """The added lines inside the selection's lines."""
        text = self.editor.text
        start, end = self._selection_offsets()
        start = text.rfind("\n", 0, start) + 1
        if end > start and text[end - 1] != "\n":
            newline = text.find("\n", end)
            end = len(text) if newline < 0 else newline + 1
        return [(max(a, start), min(b, end)) for place in self._places()
                for a, b in place.runs if a < end and start < b]

    def action_next_hunk(self, step: int = 1) -> None:
        if not self._need(EDIT):
            return
        places = self._places()
        if not places:
            self.notify("No hunks in this file.")
            return
        editor = self.editor
        here = editor.offset_of(editor.cursor_location)
        if step > 0:
            place = next((p for p in places if p.target > here), places[0])
        else:
            place = next((p for p in reversed(places) if p.target < here), places[-1])
        editor.move_cursor(editor.location_of(place.target), center=True)

    def action_previous_hunk(self) -> None:
        self.action_next_hunk(-1)

    def action_focus_files(self) -> None:
        file_list = self.query_one("#files", DiffFileList)
        if file_list.has_focus:
            self.editor.focus()
        else:
            file_list.focus()

    def go_to_hunk(self, index: int) -> None:
        place = next((p for p in self._places() if p.index == index), None)
        if place is not None:
            editor = self.editor
            editor.move_cursor(editor.location_of(place.target), center=True)
