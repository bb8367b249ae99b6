"""The language server: code actions that fill holes and rewrite selections in any editor.

What a client sees (docs/SERVER.md has the client set-ups):

- ``textDocument/codeAction`` offers "infill: fill N holes" (or "... rewrite N regions") for
  a document with markers, and "infill: rewrite selection" for a non-empty range. Computing
  a fill is far too slow for a request sent on every cursor move, so each action carries the
  command ``infill.fill``; nothing runs until the user picks it.
- ``workspace/executeCommand infill.fill`` fills in a worker thread, reports ``$/progress``
  (a server-created, cancellable work-done token, one report per denoising step), and
  applies the result with ``workspace/applyEdit``: a ``TextDocumentEdit`` pinned to the
  version the fill was computed from, so a client whose buffer changed meanwhile rejects it
  rather than garbling it. The command answers ``{"applied", "spans", "confidence"}``.
- ``infill/frames`` notifications carry the trajectory for clients that animate it: sent
  when the client asked for them with ``initializationOptions: {"frames": true}``; each is
  ``{"uri", "version", "token", "selection", "frame"}`` with ``frame`` as in ``--trajectory``.
- Cancelling works from either side: ``$/cancelRequest`` for the command's request or
  ``window/workDoneProgress/cancel`` for its token stop the sampler at the next step.

The model is loaded once (``host.py``) and shared with the per-user fill socket.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

from infill import __version__
from infill.errors import Cancelled, InfillError
from infill.markers import HOLE, REWRITE, Span, parse_markers
from infill.server.host import ModelHost
from infill.settings import Settings, load_settings

COMMAND = "infill.fill"
FRAMES = "infill/frames"
MARKERS, SELECTION = "markers", "selection"


class _Protocol(LanguageServerProtocol):
    """pygls' protocol, plus: ``$/cancelRequest`` also stops a fill that already runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cancels: dict[Any, threading.Event] = {}

    def _handle_cancel_notification(self, msg_id):
        event = self.cancels.get(msg_id)
        if event is not None:
            event.set()
        super()._handle_cancel_notification(msg_id)


class InfillServer(LanguageServer):
    """A pygls server whose fills run on ``host()`` (blocks until the model is loaded)."""

    def __init__(self, host: Callable[[], ModelHost], overrides: dict[str, Any] | None = None):
        super().__init__("infill", __version__, protocol_cls=_Protocol)
        self.host = host
        self.overrides = dict(overrides or {})
        self.frames_wanted = False

    def settings_for(self, path: str | None) -> Settings:
        start = Path(path).parent if path else Path.cwd()
        return load_settings(start, self.overrides)


def make_server(host: Callable[[], ModelHost], overrides: dict[str, Any] | None = None
                ) -> InfillServer:
    server = InfillServer(host, overrides)

    @server.feature(types.INITIALIZE)
    def initialize(ls: InfillServer, params: types.InitializeParams):
        options = params.initialization_options
        ls.frames_wanted = bool(isinstance(options, dict) and options.get("frames"))

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.RefactorRewrite]))
    def code_actions(ls: InfillServer, params: types.CodeActionParams):
        return offered_actions(ls, params)

    @server.command(COMMAND)
    async def fill_command(ls: InfillServer, *arguments: Any):
        return await run_fill(ls, dict(arguments[0]))

    return server


def offered_actions(ls: InfillServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    uri = params.text_document.uri
    doc = ls.workspace.get_text_document(uri)
    path = to_fs_path(uri)
    actions = []
    try:
        marked = parse_markers(doc.source, ls.settings_for(path).marker_syntax(), path)
    except InfillError:
        marked = None  # unbalanced markers: the fill would fail; offer only the selection
    if marked is not None and marked.spans:
        actions.append(_action(f"infill: {describe(marked.spans)}",
                               {"uri": uri, "mode": MARKERS, "version": doc.version}))
    if params.range.start != params.range.end:
        selection = ls.protocol._converter.unstructure(params.range)
        actions.append(_action("infill: rewrite selection", {
            "uri": uri, "mode": SELECTION, "version": doc.version, "range": selection}))
    return actions


def describe(spans) -> str:
    holes = sum(1 for s in spans if s.kind == HOLE)
    regions = len(spans) - holes
    parts = []
    if holes:
        parts.append(f"fill {holes} hole{'s' if holes != 1 else ''}")
    if regions:
        parts.append(f"rewrite {regions} region{'s' if regions != 1 else ''}")
    return ", ".join(parts)


def _action(title: str, argument: dict[str, Any]) -> types.CodeAction:
    return types.CodeAction(title=title, kind=types.CodeActionKind.RefactorRewrite,
                            command=types.Command(title=title, command=COMMAND,
                                                  arguments=[argument]))


async def run_fill(ls: InfillServer, spec: dict[str, Any]) -> dict[str, Any]:
    """The ``infill.fill`` command: fill, report progress and frames, apply the edit."""
    uri = spec["uri"]
    doc = ls.workspace.get_text_document(uri)
    source, version, path = doc.source, doc.version, to_fs_path(uri)
    settings = ls.settings_for(path)
    try:
        text, spans = _spans(doc, spec, settings, path)
    except InfillError as error:
        return _refused(ls, str(error))

    cancel = threading.Event()
    msg_id = ls.protocol.msg_id
    ls.protocol.cancels[msg_id] = cancel
    progress = _Progress(ls, cancel)
    await progress.begin(len(spans))
    loop = asyncio.get_running_loop()

    def on_frame(frame) -> None:
        loop.call_soon_threadsafe(progress.frame, frame, uri, version, spec.get("range"))

    def work():
        return ls.host().fill_spans(text, spans, settings.language, settings.seed, path=path,
                                    options=settings.fill, on_frame=on_frame, cancel=cancel)

    try:
        result = await loop.run_in_executor(None, work)
    except Cancelled:
        progress.end("cancelled")
        return {"applied": False, "cancelled": True}
    except InfillError as error:
        progress.end("failed")
        return _refused(ls, str(error))
    finally:
        ls.protocol.cancels.pop(msg_id, None)
    progress.end(f"filled {len(spans)} span{'s' if len(spans) != 1 else ''}")

    reason = guard_reason(source, text, spans, result) if getattr(settings, "guard", True) else None
    if reason is not None and not await _accept_anyway(ls, reason):
        return {"applied": False, "guard": reason}
    edit = workspace_edit(ls, uri, version, source, result.text)
    answer = await ls.workspace_apply_edit_async(
        types.ApplyWorkspaceEditParams(edit=edit, label="infill"))
    reply = {"applied": bool(answer.applied), "spans": [s.text for s in result.spans],
             "confidence": [round(s.confidence, 4) for s in result.spans]}
    note = caution_note(text, spans, result)
    if note is not None and answer.applied:
        ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Warning,
                                                       message=f"infill: {note}"))
        reply["caution"] = note
    return reply


def guard_reason(source: str, text: str, spans, result) -> str | None:
    """Why this fill should not be applied silently (DESIGN 5, quality guard), or None.

    ``infill.guard.guard_fills`` decides, as for ``infill fill --write`` and the hook; with a
    refusal the client is asked first (``window/showMessageRequest``: apply anyway, or not).
    The import is guarded so that the server runs on a tree without the guard.
    """
    return _guard_says("guard_fills", text, spans, result)


def caution_note(text: str, spans, result) -> str | None:
    """What to say beside an applied fill that may be wrong (``guard.caution_fills``: names
    nothing in view binds), or None."""
    return _guard_says("caution_fills", text, spans, result)


def _guard_says(judge: str, text: str, spans, result) -> str | None:
    try:
        import infill.guard as guard
    except ImportError:
        return None
    said = getattr(guard, judge)(text, spans, [s.text for s in result.spans], result.language)
    return "; ".join(f"line {s.line}: {s.reason}" for s in said) or None


async def _accept_anyway(ls: InfillServer, reason: str) -> bool:
    apply, keep = types.MessageActionItem("Apply anyway"), types.MessageActionItem("Discard")
    try:
        picked = await asyncio.wait_for(ls.window_show_message_request_async(
            types.ShowMessageRequestParams(type=types.MessageType.Warning,
                                           message=f"infill: {reason}", actions=[apply, keep])),
            timeout=600)
    except (asyncio.TimeoutError, Exception):  # noqa: BLE001 - no answer means no edit
        return False
    return picked is not None and picked.title == apply.title


def _spans(doc, spec: dict[str, Any], settings: Settings, path: str | None):
    """The text to fill and its spans, for the command's mode."""
    if spec.get("mode") == SELECTION:
        if spec.get("version") is not None and spec["version"] != doc.version:
            raise InfillError("the document changed since the action was offered; "
                              "select again")
        selection = spec["range"]
        start = doc.offset_at_position(_position(selection["start"]))
        end = doc.offset_at_position(_position(selection["end"]))
        source = doc.source
        whole_lines = (start == 0 or source[start - 1] == "\n") and (
            end == len(source) and source.endswith("\n") or end > start and source[end - 1] == "\n")
        line = source.count("\n", 0, start) + 1
        return source, [Span(start, end, REWRITE, block=whole_lines, line=line)]
    marked = parse_markers(doc.source, settings.marker_syntax(), path)
    if not marked.spans:
        raise InfillError("no markers left in the document", path=path)
    return marked.text, list(marked.spans)


def _position(data: dict[str, int]) -> types.Position:
    return types.Position(line=int(data["line"]), character=int(data["character"]))


def _refused(ls: InfillServer, message: str) -> dict[str, Any]:
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                   message=f"infill: {message}"))
    return {"applied": False, "error": message}


def workspace_edit(ls: InfillServer, uri: str, version: int | None, old: str, new: str
                   ) -> types.WorkspaceEdit:
    """Line-granular edits from ``old`` to ``new``, pinned to ``version`` when the client
    takes versioned edits."""
    edits = text_edits(old, new, ls.workspace.position_codec.client_num_units)
    caps = ls.client_capabilities.workspace
    versioned = bool(caps and caps.workspace_edit and caps.workspace_edit.document_changes)
    if versioned:
        ident = types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version)
        return types.WorkspaceEdit(document_changes=[
            types.TextDocumentEdit(text_document=ident, edits=edits)])
    return types.WorkspaceEdit(changes={uri: edits})


def text_edits(old: str, new: str, units: Callable[[str], int]) -> list[types.TextEdit]:
    """Replacements of whole lines that turn ``old`` into ``new``, in the client's units."""
    a, b = lsp_lines(old), lsp_lines(new)

    def position(line: int) -> types.Position:
        if line < len(a) or not a or a[-1].endswith(("\n", "\r")):
            return types.Position(line=line, character=0)
        return types.Position(line=len(a) - 1, character=units(a[-1]))

    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            edits.append(types.TextEdit(range=types.Range(start=position(i1), end=position(i2)),
                                        new_text="".join(b[j1:j2])))
    return edits


_LINE_END = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def lsp_lines(text: str) -> list[str]:
    """``text`` cut into lines the way LSP counts them (only \\n, \\r\\n and \\r end a line;
    ``str.splitlines`` also cuts at form feeds and U+2028), each with its line end."""
    return [line for line in _LINE_END.split(text) if line]


class _Progress:
    """A server-created work-done progress (when the client takes one) and the frames."""

    def __init__(self, ls: InfillServer, cancel: threading.Event) -> None:
        self.ls = ls
        self.cancel = cancel
        self.token: str | None = None
        self.slots = 0

    async def begin(self, spans: int) -> None:
        caps = self.ls.client_capabilities.window
        if not (caps and caps.work_done_progress):
            return
        token = f"infill-{uuid.uuid4().hex[:12]}"
        try:
            await self.ls.work_done_progress.create_async(token)
        except Exception:  # noqa: BLE001 - a client that refuses gets no progress
            return
        self.token = token
        self.ls.work_done_progress.tokens[token].add_done_callback(lambda _: self.cancel.set())
        self.ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(
            title="infill", message=f"filling {spans} span{'s' if spans != 1 else ''}",
            cancellable=True, percentage=0))

    def frame(self, frame, uri: str, version: int | None, selection: Any) -> None:
        if self.token is not None:
            done = sum(1 for s in frame.slots if s.state not in ("masked", "remasked"))
            percentage = int(100 * done / max(1, len(frame.slots)))
            self.ls.work_done_progress.report(self.token, types.WorkDoneProgressReport(
                message=f"step {frame.step}: {frame.masked} masked", percentage=percentage))
        if self.ls.frames_wanted:
            self.ls.protocol.notify(FRAMES, {"uri": uri, "version": version, "token": self.token,
                                             "selection": selection, "frame": frame.to_json()})

    def end(self, message: str) -> None:
        if self.token is not None:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
            self.ls.work_done_progress.tokens.pop(self.token, None)
