"""File keys of the editor: save, save as, reload, quit.

A part of ``EditorApp`` (a mixin). Every write is the guarded atomic write of DESIGN
section 7 (``files``): a file changed on disk is never overwritten; the user chooses to
reload it (their version stays one undo away) or to save under another name.
"""

from __future__ import annotations

import os
from typing import Callable

from infill.errors import InfillError, StaleFileError
from infill.languages import guess_language
from infill.markers import render_markers

from . import files
from .choice_screen import ChoiceScreen
from .path_screen import PathScreen


class FileActions:
    """Save, save as, reload and quit, for ``EditorApp``."""

    # The editor writes spans it has not filled back as markers, so nothing is lost; diff
    # mode writes the work tree as it is and asks before dropping them.
    SPANS_AS_MARKERS = True

    def action_save(self) -> None:
        self._confirm_unfilled(self._save)

    def _confirm_unfilled(self, save: Callable[[], None]) -> None:
        """Diff mode: spans are not written, so ask first."""
        left = len(self.editor.spans)
        if not left or self.SPANS_AS_MARKERS:
            save()
            return
        self.push_screen(ChoiceScreen(
            f"{left} marked span{'s are' if left != 1 else ' is'} not filled yet. Saving writes "
            "the text without them (markers the file had are not written back).",
            [("save", "Save anyway"), ("cancel", "Cancel")], title="Unfilled spans"),
            lambda answer: answer == "save" and save())

    def saved_text(self) -> str:
        """What saving writes: the buffer, with spans not filled yet as markers."""
        text = self.editor.text
        if self.editor.spans:
            text = render_markers(text, self.editor.spans, self.syntax,
                                  guess_language(self.path, text))
        return text

    def _save(self, then: Callable[[], None] | None = None) -> None:
        text = self.saved_text()
        if self._guarded(lambda: setattr(self, "doc", files.save(self.doc, self.path, text)), then):
            self._saved(then)

    def _guarded(self, write: Callable[[], None], then: Callable[[], None] | None) -> bool:
        """Run a guarded write; a stale file opens the reload/save-as choice, any other
        error is shown. True when the write happened."""
        try:
            write()
        except StaleFileError as error:
            self._on_stale(str(error), then)
            return False
        except InfillError as error:
            self.notify(str(error), severity="error", timeout=10)
            return False
        return True

    def _saved(self, then: Callable[[], None] | None) -> None:
        self.status.file = os.path.basename(self.path)
        self.status.modified = False
        self.notify(f"Saved {os.path.basename(self.path)}", timeout=3)
        if then is not None:
            then()

    def _on_stale(self, reason: str, then: Callable[[], None] | None) -> None:
        def answered(answer: str | None) -> None:
            if answer == "reload":
                self._reload()
            elif answer == "save-as":
                self._ask_save_as(then)

        self.push_screen(ChoiceScreen(
            f"{reason}.\n\nReload it (your changes stay in the undo history), or save your "
            "version under another name?",
            [("reload", "Reload"), ("save-as", "Save as…"), ("cancel", "Cancel")],
            title="File changed on disk"), answered)

    def _reload(self) -> None:
        try:
            opened = files.open_file(self.path, self.syntax)
        except InfillError as error:
            self.notify(str(error), severity="error", timeout=10)
            return
        editor = self.editor
        self.doc = opened.doc
        editor.history.checkpoint()
        editor.replace(opened.text, (0, 0), editor.document.end)
        editor.history.checkpoint()
        editor.set_spans(opened.spans)
        self.status.modified = self.buffer_modified()
        self.notify(f"Reloaded {os.path.basename(self.path)} (ctrl+z brings your version back).")

    def action_save_as(self) -> None:
        self._ask_save_as(None)

    def _ask_save_as(self, then: Callable[[], None] | None) -> None:
        def chosen(target: str | None) -> None:
            if target:
                self._write_as(target, then)

        self.push_screen(PathScreen("Save the buffer as:", self.path + ".new"), chosen)

    def _write_as(self, target: str, then: Callable[[], None] | None, overwrite: bool = False) -> None:
        try:
            doc = files.save_as(self.doc, self.editor.text, target, overwrite=overwrite)
        except FileExistsError:
            self.push_screen(ChoiceScreen(f"{target} exists. Replace it?",
                                          [("cancel", "Cancel"), ("replace", "Replace")],
                                          title="Save as"),
                             lambda answer: answer == "replace" and self._write_as(target, then, True))
            return
        except InfillError as error:
            self.notify(str(error), severity="error", timeout=10)
            return
        self.doc, self.path = doc, target
        self._saved(then)

    def action_quit(self) -> None:
        if not self.status.modified:
            self.exit(0)
            return

        def answered(answer: str | None) -> None:
            if answer == "save":
                self._confirm_unfilled(lambda: self._save(then=lambda: self.exit(0)))
            elif answer == "discard":
                self.exit(0)

        self.push_screen(ChoiceScreen(
            f"{os.path.basename(self.path)} has unsaved changes.",
            [("save", "Save and quit"), ("discard", "Quit without saving"), ("cancel", "Cancel")],
            title="Quit"), answered)
