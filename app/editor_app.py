"""``infill edit FILE``: mark spans, generate, watch the denoising, review, accept, save.

The app is a small state machine: ``edit`` (the buffer has focus), ``filling`` (a worker
thread runs ``Filler.fill_spans`` and posts frames; the preview shows them) and ``review``
(the preview shows a candidate and the diff; accept applies it as one undoable edit). The
buffer is never edited by a fill until accept. The model loads in a worker after the UI is up.
"""

from __future__ import annotations

import os
import time
from typing import Any, Callable, Iterable

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import TextArea

from infill.errors import Cancelled, InfillError
from infill.fills import FillerLike
from infill.markers import MarkerSyntax

from . import files, languages
from .diff_view import DiffView
from .file_actions import FileActions
from .fill_preview import FillPreview
from .fill_run import FillRun
from .help_screen import HelpScreen
from .key_bar import KeyBar
from .keys import ANY, EDIT, EDITOR, FILLING, KEYS, REVIEW, bindings, display, keys_for
from .messages import (FillCancelled, FillFailed, FillFinished, FrameArrived, ModelLoaded,
                       ModelLoadFailed)
from .options import EditorOptions
from .painting import tokens_per_second
from .palette import settings_commands
from .review_actions import ReviewActions
from .settings_screen import SettingsScreen
from .span_actions import SpanActions
from .span_editor import SpanEditor
from .span_list import SpanList
from .spans import number_lines
from .status_bar import StatusBar

FRAME_INTERVAL = 1 / 30        # at most this many frames drawn per second; the rest merge
KEY_STATES = {key.action: key.state for key in KEYS}


class EditorApp(SpanActions, ReviewActions, FileActions, App[int]):
    """The editor on one file. Build it with ``make_app``."""

    CSS_PATH = "editor.tcss"
    TITLE = "infill"
    BINDINGS = bindings()
    MODE = EDITOR  # which keys of ``keys.KEYS`` this app has (diff mode adds its own)

    state: reactive[str] = reactive(EDIT, init=False)

    def __init__(self, path: str, opened: files.Opened, *, filler: FillerLike | None = None,
                 filler_factory: Callable[[], FillerLike] | None = None, settings: Any = None,
                 warnings: Iterable[str] = ()) -> None:
        super().__init__()
        self.path = path
        self.doc = opened.doc
        self.opened = opened
        self.settings = settings
        self.syntax = settings.marker_syntax() if settings is not None else MarkerSyntax()
        self.options = EditorOptions.from_settings(settings)
        self.seed = getattr(settings, "seed", 0) or 0
        self.filler = filler
        self.filler_factory = filler_factory
        self.model_error: str | None = None
        self.pending_generate = False
        self.fill_run: FillRun | None = None
        self._runs = 0
        self._replay_timer = None
        self._last_paint = 0.0
        self._paint_scheduled = False
        self._startup_warnings = [w for w in (*warnings, opened.warning) if w]

    # -- layout and start-up -----------------------------------------------------------------

    def compose(self) -> ComposeResult:
        language = languages.language_for_path(self.path)
        with Horizontal(id="main"):
            yield from self.compose_side()
            with Vertical(id="work"):
                yield SpanEditor(self.opened.text, language=language, id="editor")
                yield FillPreview(id="preview")
                yield DiffView(id="diff")
            yield SpanList(id="spans")
        yield StatusBar(id="status")
        yield KeyBar(keys_for(self.MODE), id="keys")

    def compose_side(self) -> ComposeResult:
        """Widgets left of the buffer: none here (diff mode's file list)."""
        return ()

    @property
    def editor(self) -> SpanEditor:
        return self.query_one("#editor", SpanEditor)

    @property
    def preview(self) -> FillPreview:
        return self.query_one("#preview", FillPreview)

    @property
    def status(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def on_mount(self) -> None:
        status = self.status
        self.show_opened()
        self.editor.focus()
        for warning in self._startup_warnings:
            self.notify(warning, severity="warning", timeout=8)
        if self.filler is not None:
            self.post_message(ModelLoaded(self.filler))
        elif self.filler_factory is not None:
            status.state = "loading model…"
            self._load_model()
        else:
            status.state = "no model"

    def show_opened(self) -> None:
        """Show what was opened: the file's name and its spans (diff mode: its file list).

        A hook rather than an ``on_mount`` of the subclass: Textual calls the handlers of
        every class in the MRO, so an overriding handler would run before this one.
        """
        self.status.file = os.path.basename(self.path)
        self.editor.set_spans(self.opened.spans)
        self.status.modified = self.buffer_modified()

    @work(thread=True, exclusive=True, group="model")
    def _load_model(self) -> None:
        try:
            filler = self.filler_factory()
        except InfillError as error:
            self.post_message(ModelLoadFailed(str(error)))
        except (OSError, RuntimeError, ValueError, ImportError) as error:
            self.post_message(ModelLoadFailed(f"{type(error).__name__}: {error}"))
        else:
            self.post_message(ModelLoaded(filler))

    def on_model_loaded(self, message: ModelLoaded) -> None:
        self.filler = message.filler
        info = getattr(message.filler, "info", None)
        self.status.model = getattr(info, "name", "model")
        self.status.device = getattr(info, "device", "")
        self.status.error = False
        if self.state == EDIT:
            self.status.state = "ready"
        if self.pending_generate:
            self.pending_generate = False
            self.action_generate()

    def on_model_load_failed(self, message: ModelLoadFailed) -> None:
        self.model_error = message.error
        self.pending_generate = False
        self.status.state = "no model"
        self.status.detail = message.error
        self.status.error = True
        self.notify(f"Could not load the model: {message.error}", severity="error", timeout=15)

    def on_unmount(self) -> None:
        if self.fill_run is not None:
            self.fill_run.cancel.set()  # quitting mid-fill stops the worker at its next step

    # -- state -------------------------------------------------------------------------------

    @property
    def main_screen(self) -> Screen:
        """The editor's own screen (``self.screen`` may be a dialog on top of it)."""
        return self.screen_stack[0]

    def watch_state(self, state: str) -> None:
        self.main_screen.set_class(state != EDIT, "-fill")
        self.main_screen.set_class(state == REVIEW, "-review")
        (self.editor if state == EDIT else self.preview).focus()
        self.query_one("#keys", KeyBar).state = state

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        wanted = KEY_STATES.get(action)
        if wanted is None or wanted == ANY:
            return True
        if wanted in (REVIEW, FILLING) and self.screen is not self.main_screen:
            return False  # a dialog is open: its own keys come first
        return self.state == wanted

    def _need(self, state: str) -> bool:
        """For actions run from the palette: say so when they do not apply now."""
        if self.state != state:
            when = {EDIT: "while editing", FILLING: "while a fill runs",
                    REVIEW: "while a result is under review"}[state]
            self.notify(f"Not now: that works {when}.", severity="warning")
            return False
        return True

    @on(TextArea.Changed, "#editor")
    def _buffer_changed(self) -> None:
        self.status.modified = self.buffer_modified()

    def buffer_modified(self) -> bool:
        """Whether saving would change the file (a new file always would). Markers the file
        holds are spans in the buffer, and saving writes them back: not a change."""
        return self.doc is None or self.saved_text() != self.doc.text

    # -- generating --------------------------------------------------------------------------

    def action_generate(self) -> None:
        if not self._need(EDIT):
            return
        editor = self.editor
        if not editor.spans:
            if editor.selection.is_empty:
                self.notify("Nothing to fill: mark a span first (ctrl+f, ctrl+r; F1 for help).")
                return
            self.action_mark_hole()
        if self.filler is None:
            if self.model_error:
                self.notify(f"No model: {self.model_error}", severity="error")
            elif self.filler_factory is None:
                self.notify("No model was given.", severity="error")
            else:
                self.pending_generate = True
                self.status.state = "waiting for model…"
            return
        self._start_fill(self.seed)

    def _start_fill(self, seed: int, overrides: dict | None = None) -> None:
        editor = self.editor
        self._runs += 1
        text = editor.text
        spans = number_lines(text, editor.spans)
        self.fill_run = FillRun(self._runs, text, spans, seed, self.options,
                           overrides=overrides or {})
        self._fill(self.fill_run)  # first: the model starts while the preview is set up
        self.preview.start(text, editor.language, editor.cursor_location, editor.scroll_offset)
        self.preview.show(self.fill_run.paint_latest())
        self.state = FILLING
        self.status.state = "generating"
        self.status.detail = "starting…"

    @work(thread=True, group="fill")
    def _fill(self, run: FillRun) -> None:
        def on_frame(frame) -> None:
            run.frames.append(frame)
            self.post_message(FrameArrived(run.id))

        try:
            result = self.filler.fill_spans(run.text, list(run.spans), language=run.language,
                                            seed=run.seed, path=self.path, on_frame=on_frame,
                                            cancel=run.cancel, options=run.fill_options())
        except Cancelled:
            self.post_message(FillCancelled(run.id))
        except InfillError as error:
            self.post_message(FillFailed(run.id, str(error)))
        except (RuntimeError, ValueError, TypeError, MemoryError) as error:
            self.post_message(FillFailed(run.id, f"{type(error).__name__}: {error}"))
        else:
            self.post_message(FillFinished(run.id, result))

    def _current(self, run_id: int) -> FillRun | None:
        run = self.fill_run
        return run if run is not None and run.id == run_id else None

    def on_frame_arrived(self, message: FrameArrived) -> None:
        run = self._current(message.run)
        if run is None or self.state != FILLING or run.cancel.is_set():
            return
        wait = self._last_paint + FRAME_INTERVAL - time.perf_counter()
        if run.first_shown is None or wait <= 0:
            self._paint_frame(run)
        elif not self._paint_scheduled:  # frames come faster than a screen can show them
            self._paint_scheduled = True
            self.set_timer(wait, lambda: self._paint_frame(run, scheduled=True))

    def _paint_frame(self, run: FillRun, scheduled: bool = False) -> None:
        if scheduled:
            self._paint_scheduled = False
        if run is not self.fill_run or self.state != FILLING or run.cancel.is_set():
            return
        frame = run.latest()
        self.preview.show(run.paint_latest())
        self._last_paint = time.perf_counter()
        if run.first_shown is None:
            run.first_shown = self._last_paint - run.started
        round_ = f" (round {frame.round + 1})" if frame.round else ""
        self.status.detail = (f"step {frame.step}{round_} · {frame.masked} masked · "
                              f"{tokens_per_second(frame):.0f} tok/s")

    def action_cancel(self) -> None:
        if self.fill_run is not None and self.state == FILLING:
            self.fill_run.cancel.set()
            self.status.state = "cancelling…"

    def on_fill_cancelled(self, message: FillCancelled) -> None:
        if self._current(message.run) is not None:
            self._back_to_editor("cancelled")

    def on_fill_failed(self, message: FillFailed) -> None:
        if self._current(message.run) is not None:
            self._back_to_editor("fill failed")
            self.notify(message.error, severity="error", timeout=10)

    def on_fill_finished(self, message: FillFinished) -> None:
        run = self._current(message.run)
        if run is None:
            return
        if run.cancel.is_set():
            self._back_to_editor("cancelled")
            return
        run.result = message.result
        self.state = REVIEW
        self._show_review()

    def _back_to_editor(self, what: str) -> None:
        self._stop_replay_timer()
        self.state = EDIT
        self.status.state = what if self.filler is not None else "no model"
        spans = self.editor.spans
        self.status.detail = f"{len(spans)} span{'s' * (len(spans) != 1)}"

    # -- help, settings, palette ---------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.MODE))

    def action_settings(self) -> None:
        def chosen(options: EditorOptions | None) -> None:
            if options is not None:
                self.set_options(options)

        self.push_screen(SettingsScreen(self.options), chosen)

    def set_options(self, options: EditorOptions) -> None:
        self.options = options
        self.notify(options.describe(), title="Settings", timeout=4)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        when = {EDIT: " · while editing", FILLING: " · while generating",
                REVIEW: " · during review", ANY: ""}
        for key in keys_for(self.MODE):
            yield SystemCommand(key.title, f"{display(key.keys)}{when[key.state]}",
                                getattr(self, f"action_{key.action}"))
        if self.MODE == EDITOR:
            yield SystemCommand("Save as…", "write the buffer under another name",
                                self.action_save_as)
        yield from settings_commands(self)


def make_app(path: str, *, filler: Any = None, filler_factory: Callable[[], Any] | None = None,
             settings: Any = None) -> EditorApp:
    """The editor on ``path`` (tests pass a ``filler``; the CLI a ``filler_factory``).

    Raises ``InfillError`` when the file cannot be opened (binary, bad encoding).
    """
    warnings = []
    if settings is None:
        from infill.settings import load_settings

        try:
            settings = load_settings(os.path.dirname(os.path.abspath(path)))
        except InfillError as error:
            warnings.append(f"{error}; using default settings")
    syntax = settings.marker_syntax() if settings is not None else MarkerSyntax()
    opened = files.open_file(path, syntax)
    return EditorApp(path, opened, filler=filler, filler_factory=filler_factory,
                     settings=settings, warnings=warnings)
