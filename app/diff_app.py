"""``infill diff [--staged] [REV] [-- PATH...]``: the editor on a git diff.

``DiffApp`` is the editor (``EditorApp``) with a file list on the left and the selected
file's *new version* in the buffer, its added lines marked ``+`` in the gutter and its diff
in the pane below. Spans, generate, the animation, candidates and review are the editor's
own. What differs is where text goes: accepting a fill also writes the file to the work
tree at once (``write_fill``: only over the bytes the diff was loaded from), and the pane
then shows the file's patch against ``HEAD``. A file changed on disk meanwhile is never
overwritten: the user may reload it (their version stays one undo away) or keep it.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Sequence

from textual import on
from textual.app import ComposeResult
from textual.widgets import TextArea

from infill.errors import InfillError
from infill.fills import FillerLike
from infill.gitops.diff import FileDiff, write_fill
from infill.markers import Span, spans_over_markers

from . import languages
from .choice_screen import ChoiceScreen
from .diff_actions import DiffActions
from .diff_data import (DiffRequest, diff_regions, file_rows, format_patch, head_patch,
                        hunk_places, open_diff, place_at, reload_file, unavailable)
from .diff_files import DiffFileList
from .diff_view import DiffView
from .editor_app import EditorApp
from .files import Opened
from .keys import DIFF, EDIT, REVIEW, bindings
from .messages import DiffItemPicked


class DiffApp(DiffActions, EditorApp):
    """The editor on the files of a git diff. Build it with ``make_diff_app``."""

    BINDINGS = bindings(DIFF)  # added to the editor's
    MODE = DIFF
    SPANS_AS_MARKERS = False

    def __init__(self, request: DiffRequest, files: Sequence[FileDiff], *,
                 filler: FillerLike | None = None,
                 filler_factory: Callable[[], FillerLike] | None = None, settings: Any = None,
                 warnings: Iterable[str] = ()) -> None:
        self.request = request
        self.diff_files = list(files)
        editable = [i for i, fd in enumerate(self.diff_files) if unavailable(fd) is None]
        self.current: int | None = editable[0] if editable else (0 if self.diff_files else None)
        first = self.current_file
        path = request.path_of(first) if first is not None else str(request.root)
        text = (first.new_text or "") if first is not None else ""
        opened = Opened(first.new_document if first is not None else None, text, ())
        super().__init__(path, opened, filler=filler, filler_factory=filler_factory,
                         settings=settings, warnings=warnings)
        self._kept_spans: dict[str, tuple[str, tuple[Span, ...]]] = {}
        self._pane = ("", "")  # what the diff pane shows while editing: text, title

    @property
    def current_file(self) -> FileDiff | None:
        return self.diff_files[self.current] if self.current is not None else None

    @property
    def file_list(self) -> DiffFileList:
        return self.query_one("#files", DiffFileList)

    def compose_side(self) -> ComposeResult:
        yield DiffFileList(id="files")

    def show_opened(self) -> None:
        self.main_screen.add_class("-diff-mode")
        self._refresh_list()
        if self.current is not None:
            self._show_file(self.current)
        else:
            self.editor.read_only = True
            self.status.file = "no changes"
            self.status.modified = False
            self._set_pane("", "")
            self.notify(f"{self.request.describe()} shows no changes (untracked files need "
                        "git add -N; staged changes: --staged).", timeout=8)

    # -- showing a file ----------------------------------------------------------------------

    def _refresh_list(self) -> None:
        self.file_list.show_files(file_rows(self.diff_files), self.request.describe())

    def _show_file(self, index: int, hunk: int | None = None) -> None:
        """Load file ``index``'s new version into the buffer (its spans, if it had any)."""
        fd = self.diff_files[index]
        self.current = index
        self.path = self.request.path_of(fd)
        self.doc = fd.new_document
        text = fd.new_text or ""
        kept = self._kept_spans.get(fd.path)
        # Markers already in the file are spans at once (over the marker text: the diff
        # shows the file's own lines, so the markers stay in the buffer until filled).
        spans = kept[1] if kept is not None and kept[0] == text else spans_over_markers(
            text, self.syntax)
        editor = self.editor
        editor.read_only = fd.new_text is None
        editor.load_buffer(text, languages.language_for_path(self.path), diff_regions(fd), spans)
        self._set_pane(format_patch(fd), fd.path)
        self.status.file = fd.path
        self.status.modified = False
        if self.state == EDIT and self.filler is not None:
            self.status.state = "ready"
        self._show_state()
        self.file_list.highlight_item(index, hunk)
        if hunk is not None:
            self.go_to_hunk(hunk)

    def _show_state(self) -> None:
        fd = self.current_file
        if fd is None or self.state != EDIT:
            return
        reason = unavailable(fd)
        if reason is not None:
            self.status.detail = f"not editable: {reason}"
        else:
            hunks = len(fd.hunks)
            self.status.detail = f"{fd.label} · {hunks} hunk{'s' * (hunks != 1)}"

    def _set_pane(self, text: str, name: str) -> None:
        self._pane = (text, name)
        self.query_one("#diff", DiffView).show_diff(text, name)

    def watch_state(self, state: str) -> None:
        super().watch_state(state)
        if state == EDIT:  # review showed the fill's diff there
            self.query_one("#diff", DiffView).show_diff(*self._pane)

    def _need(self, state: str) -> bool:
        if state == EDIT and self.state == EDIT:
            fd = self.current_file
            if fd is None:
                self.notify("Nothing to edit: the diff shows no changes.", severity="warning")
                return False
            reason = unavailable(fd)
            if reason is not None:
                self.notify(f"{fd.path} is not editable: {reason}.", severity="warning")
                return False
        return super()._need(state)

    def buffer_modified(self) -> bool:
        fd = self.current_file
        return fd is not None and fd.new_text is not None and self.editor.text != fd.new_text

    @on(TextArea.SelectionChanged, "#editor")
    def _cursor_moved(self) -> None:
        if self.current is None:
            return
        editor = self.editor
        place = place_at(hunk_places(editor.regions), editor.offset_of(editor.cursor_location))
        self.file_list.highlight_item(self.current, place.index if place is not None else None)

    # -- picking another file ----------------------------------------------------------------

    def on_diff_item_picked(self, message: DiffItemPicked) -> None:
        if message.file == self.current:
            if message.hunk is not None:
                self.go_to_hunk(message.hunk)
            self.editor.focus()
            return
        if self.state != EDIT:
            self.notify("Not now: finish the fill under review first.", severity="warning")
            return
        self._leave_then(lambda: self._open(message.file, message.hunk))

    def _open(self, index: int, hunk: int | None) -> None:
        self._show_file(index, hunk)
        self.editor.focus()

    def _leave_then(self, then: Callable[[], None]) -> None:
        """Keep the current file's spans, and ask first when the buffer is not written."""
        fd = self.current_file
        if fd is not None and fd.new_text is not None:
            self._kept_spans[fd.path] = (self.editor.text, self.editor.spans)
        if not self.buffer_modified():
            then()
            return

        def answered(answer: str | None) -> None:
            if answer == "write":
                self._write(then)
            elif answer == "discard":
                self._kept_spans.pop(fd.path, None)
                then()

        self.push_screen(ChoiceScreen(
            f"{fd.path} has changes that are not written to the work tree.",
            [("write", "Write"), ("discard", "Discard"), ("cancel", "Cancel")],
            title="Unwritten changes"), answered)

    # -- writing -----------------------------------------------------------------------------

    def action_accept(self) -> None:
        run = self.fill_run
        if run is None or not self._need(REVIEW):
            return
        super().action_accept()
        if self.state == EDIT and self.editor.text == run.chosen.text:
            fd = self.current_file
            before = fd.new_text if fd is not None else None
            if self._write() and before is not None:
                # Undo and redo of this fill move the file with the buffer (it is written).
                self._accepted = (fd.path, before, run.chosen.text)

    _accepted: tuple[str, str, str] | None = None  # (path, text before, text after) of the last fill written

    @on(TextArea.Changed, "#editor")
    def _follow_undo(self) -> None:
        """Ctrl+z after an accepted (and written) fill restores the file too; ctrl+y redoes it.
        Written with the guarded writer: a file changed meanwhile is left alone."""
        fd = self.current_file
        if self._accepted is None or fd is None or fd.path != self._accepted[0]:
            return
        _, before, after = self._accepted
        text = self.editor.text
        if fd.new_text is None or text not in (before, after) or text == fd.new_text:
            return
        if self._guarded(lambda: write_fill(fd, text), None):
            self._written()
            self.notify(f"{'Undid' if text == before else 'Redid'} the fill in {fd.path} "
                        "on disk too.", timeout=4)

    def _save(self, then: Callable[[], None] | None = None) -> None:
        """ctrl+s (and "save and quit"): the buffer goes to its work-tree file."""
        self._write(then)

    def _write(self, then: Callable[[], None] | None = None) -> bool:
        """Write the buffer to its work-tree file; whether it was written."""
        fd = self.current_file
        if fd is None or unavailable(fd) is not None:
            self._need(EDIT)
            return False
        text = self.editor.text
        written = False
        if text == fd.new_text:
            self.notify(f"Nothing to write: {fd.path} is as it was loaded.", timeout=3)
        elif self._guarded(lambda: write_fill(fd, text), then):
            self._written()
            written = True
        else:
            return False
        if then is not None:
            then()
        return written

    def _written(self) -> None:
        """After a write: the file against its base again, and its patch against HEAD."""
        fd = self.current_file
        try:
            fresh = reload_file(self.request, fd)
            patch = head_patch(self.request, fresh)
        except InfillError as error:
            self.notify(f"Wrote {fd.path}, but could not read the diff again: {error}",
                        severity="warning", timeout=10)
            return
        self._replace_current(fresh)
        self._set_pane(patch, f"{fd.path} against HEAD")
        self.status.state = "written"
        self.notify(f"Wrote {fd.path}: its patch against HEAD is below (git add stages it).",
                    timeout=5)

    def _replace_current(self, fresh: FileDiff) -> None:
        self.diff_files[self.current] = fresh
        self.doc = fresh.new_document
        if fresh.new_text == self.editor.text:
            self.editor.set_regions(diff_regions(fresh))
        self._refresh_list()
        self.file_list.highlight_item(self.current)
        self.status.modified = self.buffer_modified()
        self._show_state()

    def _on_stale(self, reason: str, then: Callable[[], None] | None) -> None:
        def answered(answer: str | None) -> None:
            if answer == "reload":
                self._reload()

        self.push_screen(ChoiceScreen(
            f"{reason}.\n\nReload it (the buffer becomes the file as it is now; your version "
            "stays one ctrl+z away), or cancel and keep your version in the buffer.",
            [("reload", "Reload"), ("cancel", "Cancel")], title="File changed on disk"),
            answered)

    def _reload(self) -> None:
        fd = self.current_file
        try:
            fresh = reload_file(self.request, fd)
        except InfillError as error:
            self.notify(str(error), severity="error", timeout=10)
            return
        if fresh.new_text is None:
            self.notify(f"{fd.path} cannot be reloaded: {unavailable(fresh)}.", severity="error",
                        timeout=10)
            return
        editor = self.editor
        editor.history.checkpoint()
        editor.replace(fresh.new_text, (0, 0), editor.document.end)
        editor.history.checkpoint()
        self._replace_current(fresh)
        self._set_pane(format_patch(fresh), fresh.path)
        self.notify(f"Reloaded {fd.path} (ctrl+z brings your version back).")

    def action_save_as(self) -> None:
        self.notify("In diff mode the buffer belongs to its work-tree file: ctrl+s writes it.")


def make_diff_app(repo_dir: str | os.PathLike[str] = ".", *, rev: str | None = None,
                  staged: bool = False, paths: Sequence[str] = (),
                  filler: FillerLike | None = None,
                  filler_factory: Callable[[], FillerLike] | None = None,
                  settings: Any = None) -> DiffApp:
    """The editor on ``git diff [--staged] [REV] [-- PATHS]`` in ``repo_dir``.

    Raises ``InputError`` outside a git work tree, or for a revision git does not know.
    """
    request, files = open_diff(repo_dir, rev=rev, staged=staged, paths=paths)
    warnings = []
    if settings is None:
        from infill.settings import load_settings

        try:
            settings = load_settings(os.path.abspath(request.repo_dir))
        except InfillError as error:
            warnings.append(f"{error}; using default settings")
    return DiffApp(request, files, filler=filler, filler_factory=filler_factory,
                   settings=settings, warnings=warnings)
