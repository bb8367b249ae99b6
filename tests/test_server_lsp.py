"""``infill serve`` as a language server: a real server subprocess over stdio, driven by the
pygls/lsprotocol client (code actions, executeCommand, workspace/applyEdit, $/progress,
frames, both kinds of cancellation)."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path
from typing import Union

import pytest

pytest.importorskip("pygls")

from lsprotocol import types  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from infill.markers import REWRITE, MarkerSyntax, Span, parse_markers  # noqa: E402
from infill.server.lsp import guard_reason, lsp_lines, text_edits  # noqa: E402
from infill.settings import Settings  # noqa: E402

SOURCE = "def add(a, b):\n    return __FILL__\n\n\ndef sub(a, b):\n    return a - b\n"
MANY = "".join(f"def f{i}(a):\n    return __FILL__\n" for i in range(10))


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    lines = text.splitlines(keepends=True)

    def offset(pos: types.Position) -> int:
        return sum(len(line) for line in lines[:pos.line]) + pos.character

    for edit in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character),
                       reverse=True):
        text = text[:offset(edit.range.start)] + edit.new_text + text[offset(edit.range.end):]
    return text


class Session:
    """A client connected to ``infill serve`` on the tiny model, recording what it is sent."""

    def __init__(self, model_dir, tmp_path, frames: bool = True, unix_socket=None,
                 tcp_port: int | None = None) -> None:
        self.model_dir, self.tmp_path, self.frames = model_dir, tmp_path, frames
        self.unix_socket, self.tcp_port = unix_socket, tcp_port
        self.process = None
        self.client = LanguageClient("infill-test", "0")
        _tell_actions_from_commands(self.client)
        self.edits: list[types.WorkspaceEdit] = []
        self.progress: list[object] = []
        self.frame_notes: list[dict] = []
        self.messages: list[str] = []
        self.asked: list[str] = []        # window/showMessageRequest messages
        self.answer: str | None = None    # the action title the user picks
        self.cancel_progress_at_first_report = False
        c = self.client

        @c.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
        def ask(ls, params: types.ShowMessageRequestParams):
            self.asked.append(params.message)
            return None if self.answer is None else types.MessageActionItem(title=self.answer)

        @c.feature(types.WORKSPACE_APPLY_EDIT)
        def apply_edit(ls, params: types.ApplyWorkspaceEditParams):
            self.edits.append(params.edit)
            return types.ApplyWorkspaceEditResult(applied=True)

        @c.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)
        def create(ls, params):
            return None

        @c.feature(types.PROGRESS)
        def progress(ls, params: types.ProgressParams):
            value = params.value  # the client leaves it as JSON: {"kind": "begin", ...}
            self.progress.append(value)
            if self.cancel_progress_at_first_report and value["kind"] == "report":
                self.cancel_progress_at_first_report = False
                ls.protocol.notify(types.WINDOW_WORK_DONE_PROGRESS_CANCEL,
                                   types.WorkDoneProgressCancelParams(token=params.token))

        @c.feature("infill/frames")
        def frames(ls, params):
            self.frame_notes.append(params)

        @c.feature(types.WINDOW_SHOW_MESSAGE)
        def message(ls, params):
            self.messages.append(params.message)

    async def __aenter__(self) -> "Session":
        env = dict(os.environ, INFILL_THREADS="1", OMP_NUM_THREADS="1")
        serve = ["-m", "infill", "serve", "--model", str(self.model_dir), "--device", "cpu",
                 "--no-fill-socket"]
        if self.unix_socket is not None:
            await self._start_unix(serve, env)
        elif self.tcp_port is not None:
            await self._start_tcp(serve, env)
        else:
            await self.client.start_io(sys.executable, *serve, env=env, cwd=str(self.tmp_path))
        caps = types.ClientCapabilities(
            window=types.WindowClientCapabilities(work_done_progress=True),
            workspace=types.WorkspaceClientCapabilities(
                apply_edit=True,
                workspace_edit=types.WorkspaceEditClientCapabilities(document_changes=True)))
        await self.client.initialize_async(types.InitializeParams(
            capabilities=caps, root_uri=self.tmp_path.as_uri(),
            initialization_options={"frames": self.frames}))
        self.client.initialized(types.InitializedParams())
        return self

    async def _spawn(self, args: list[str], env: dict) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, *args, env=env, cwd=str(self.tmp_path),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)

    async def _start_unix(self, serve: list[str], env: dict) -> None:
        """``infill serve --socket PATH``, and the client connected to it."""
        await self._spawn(serve + ["--socket", str(self.unix_socket)], env)
        for _ in range(1200):
            if self.unix_socket.exists():
                break
            assert self.process.returncode is None, "infill serve --socket exited"
            await asyncio.sleep(0.1)
        self._attach(*await asyncio.open_unix_connection(str(self.unix_socket)))

    async def _start_tcp(self, serve: list[str], env: dict) -> None:
        """``infill serve --tcp PORT``, and the client connected once the server listens."""
        await self._spawn(serve + ["--tcp", str(self.tcp_port)], env)
        for _ in range(1200):
            try:
                streams = await asyncio.open_connection("127.0.0.1", self.tcp_port)
                break
            except ConnectionRefusedError:
                assert self.process.returncode is None, "infill serve --tcp exited"
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("infill serve --tcp never listened")
        self._attach(*streams)

    def _attach(self, reader, writer) -> None:
        from pygls.io_ import run_async

        self.client.protocol.set_writer(writer)
        self.client._async_tasks.append(asyncio.create_task(run_async(
            stop_event=self.client._stop_event, reader=reader, protocol=self.client.protocol,
            logger=logging.getLogger("test"), error_handler=self.client.report_server_error)))

    async def __aexit__(self, *exc) -> None:
        await asyncio.wait_for(self.client.shutdown_async(None), 60)
        self.client.exit(None)
        if self.process is not None:
            await asyncio.wait_for(self.process.wait(), 60)
        await asyncio.wait_for(self.client.stop(), 60)

    def open(self, name: str, text: str) -> str:
        path = self.tmp_path / name
        path.write_text(text)
        uri = path.as_uri()
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                                 text=text)))
        return uri

    async def actions(self, uri: str, rng: types.Range) -> list[types.CodeAction]:
        return await self.client.text_document_code_action_async(types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=rng,
            context=types.CodeActionContext(diagnostics=[])))

    async def run(self, action: types.CodeAction, msg_id=None):
        params = types.ExecuteCommandParams(command=action.command.command,
                                            arguments=action.command.arguments)
        return await asyncio.wait_for(self.client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=msg_id), 120)


def _tell_actions_from_commands(client: LanguageClient) -> None:
    """pygls' client decodes a CodeAction carrying a command as a Command; tell them apart
    the way the spec does (a Command's ``command`` is a string)."""
    converter = client.protocol._converter

    def structure(obj, _):
        plain = isinstance(obj.get("command"), str)
        return converter.structure(obj, types.Command if plain else types.CodeAction)

    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)


def _kind(progress: list[dict], kind: str) -> list[dict]:
    return [p for p in progress if p["kind"] == kind]


def _range(a: tuple[int, int], b: tuple[int, int]) -> types.Range:
    return types.Range(start=types.Position(line=a[0], character=a[1]),
                       end=types.Position(line=b[0], character=b[1]))


def _expected(filler, path, text, spans=None) -> str:
    options = Settings().fill
    if spans is None:
        marked = parse_markers(text, MarkerSyntax(), str(path))
        text, spans = marked.text, marked.spans
    return filler.fill_spans(text, spans, None, 0, path=str(path), options=options).text


def _edits_of(edit: types.WorkspaceEdit, uri: str) -> list[types.TextEdit]:
    (change,) = edit.document_changes
    assert change.text_document.uri == uri and change.text_document.version == 1
    return list(change.edits)


@pytest.mark.slow
def test_fill_holes_and_rewrite_selection_through_code_actions(tiny_model_dir, tiny_filler,
                                                               tmp_path):
    async def scenario():
        async with Session(tiny_model_dir, tmp_path) as s:
            uri = s.open("calc.py", SOURCE)
            actions = await s.actions(uri, _range((1, 4), (1, 4)))
            assert [a.title for a in actions] == ["infill: fill 1 hole"]
            answer = await s.run(actions[0])
            assert answer["applied"] is True
            filled = apply_edits(SOURCE, _edits_of(s.edits[-1], uri))
            assert filled == _expected(tiny_filler, tmp_path / "calc.py", SOURCE)

            begins, reports, ends = (_kind(s.progress, k) for k in ("begin", "report", "end"))
            assert len(begins) == 1 and begins[0]["cancellable"] and len(ends) == 1
            assert reports and len(s.frame_notes) == len(reports)
            last = s.frame_notes[-1]
            # Unknown notifications reach pygls handlers as named tuples.
            assert last.uri == uri and last.version == 1 and last.frame.step >= 1
            assert all(slot.state != "masked" for slot in last.frame.slots)

            # A selection (lines 4-5, whole lines): one rewrite span over exactly those lines.
            actions = await s.actions(uri, _range((4, 0), (6, 0)))
            titles = [a.title for a in actions]
            assert titles == ["infill: fill 1 hole", "infill: rewrite selection"]
            await s.run(actions[1])
            start = SOURCE.index("def sub")
            span = Span(start, len(SOURCE), REWRITE, block=True, line=5)
            rewritten = apply_edits(SOURCE, _edits_of(s.edits[-1], uri))
            assert rewritten == _expected(tiny_filler, tmp_path / "calc.py", SOURCE, [span])
            assert rewritten.startswith(SOURCE[:start])

            # Nothing marked and nothing selected: no infill action.
            plain = s.open("plain.py", "x = 1\n")
            assert not await s.actions(plain, _range((0, 0), (0, 0)))

    asyncio.run(scenario())


@pytest.mark.slow
def test_cancel_by_request_and_by_progress_token_stops_the_fill(tiny_model_dir, tmp_path):
    async def scenario():
        async with Session(tiny_model_dir, tmp_path, frames=False) as s:
            uri = s.open("many.py", MANY)
            (action,) = await s.actions(uri, _range((0, 0), (0, 0)))
            assert action.title == "infill: fill 10 holes"

            s.cancel_progress_at_first_report = True
            answer = await s.run(action)
            assert answer["cancelled"] is True and answer["applied"] is False
            assert s.edits == []
            assert _kind(s.progress, "end")[-1]["message"] == "cancelled"

            # $/cancelRequest while the fill runs: the request ends as cancelled, no edit.
            s.progress.clear()
            request = asyncio.ensure_future(s.run(action, msg_id="fill-1"))
            for _ in range(600):
                if _kind(s.progress, "report"):
                    break
                await asyncio.sleep(0.05)
            s.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="fill-1"))
            with pytest.raises(Exception, match="cancel"):
                await request
            for _ in range(600):
                if _kind(s.progress, "end"):
                    break
                await asyncio.sleep(0.05)
            ends = _kind(s.progress, "end")
            assert ends and ends[-1]["message"] == "cancelled"
            assert s.edits == []

    asyncio.run(scenario())


def test_lines_are_cut_where_lsp_cuts_them():
    assert lsp_lines("a\x0cb\r\nc\rd\u2028e\n") == ["a\x0cb\r\n", "c\r", "d\u2028e\n"]
    assert lsp_lines("") == [] and lsp_lines("x") == ["x"]
    edits = text_edits("p\x0c\nq __FILL__\n", "p\x0c\nq 1\n", len)
    assert [(e.range.start.line, e.new_text) for e in edits] == [(1, "q 1\n")]


def test_text_edits_replace_only_changed_lines():
    old = "a\nb __FILL__\nc\n"
    edits = text_edits(old, "a\nb x\nc\n", len)
    assert [(e.range.start.line, e.range.end.line, e.new_text) for e in edits] == [(1, 2, "b x\n")]
    assert apply_edits(old, edits) == "a\nb x\nc\n"
    # A last line without a newline ends at its last character.
    edits = text_edits("a\nb", "a\nbc", len)
    assert edits[0].range.end == types.Position(line=1, character=1)
    assert apply_edits("a\nb", edits) == "a\nbc"


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["unix socket", "tcp"])
def test_the_server_speaks_lsp_on_a_socket(transport, tiny_model_dir, tiny_filler, tmp_path):
    import socket
    import tempfile

    where: dict = {}
    if transport == "tcp":
        with socket.socket() as probe:  # a free port
            probe.bind(("127.0.0.1", 0))
            where["tcp_port"] = probe.getsockname()[1]
    else:
        where["unix_socket"] = Path(tempfile.mkdtemp(prefix="infill-t-", dir="/tmp")) / "lsp.sock"

    async def scenario():
        async with Session(tiny_model_dir, tmp_path, frames=False, **where) as s:
            uri = s.open("calc.py", SOURCE)
            (action,) = await s.actions(uri, _range((1, 4), (1, 4)))
            assert (await s.run(action))["applied"] is True
            filled = apply_edits(SOURCE, _edits_of(s.edits[-1], uri))
            assert filled == _expected(tiny_filler, tmp_path / "calc.py", SOURCE)
            return s.process

    assert asyncio.run(scenario()).returncode == 0  # the server ended when the client said exit
    if transport != "tcp":
        assert not where["unix_socket"].exists()  # and removed its socket
        where["unix_socket"].parent.rmdir()


@pytest.mark.slow
@pytest.mark.parametrize("answer", ["Apply anyway", "Discard"])
def test_a_fill_the_guard_refuses_is_applied_only_when_the_user_says_so(answer, tiny_model_dir,
                                                                        tiny_filler, tmp_path):
    start = SOURCE.index("    return a - b")
    span = Span(start, len(SOURCE), REWRITE, block=True, line=6)
    # The tiny random model rewrites the body as one line at column 0: `def sub` loses it.
    assert guard_reason(SOURCE, SOURCE, [span], tiny_filler.fill_spans(
        SOURCE, [span], "python", 0, path=str(tmp_path / "calc.py"))) is not None

    async def scenario():
        async with Session(tiny_model_dir, tmp_path, frames=False) as s:
            s.answer = answer
            uri = s.open("calc.py", SOURCE)
            (_, rewrite) = await s.actions(uri, _range((5, 0), (6, 0)))
            result = await s.run(rewrite)
            (asked,) = s.asked
            assert asked.startswith("infill: line 6: the fill does not parse")
            if answer == "Discard":
                assert result["applied"] is False and "does not parse" in result["guard"]
                assert s.edits == []
            else:
                assert result["applied"] is True
                rewritten = apply_edits(SOURCE, _edits_of(s.edits[-1], uri))
                assert rewritten == _expected(tiny_filler, tmp_path / "calc.py", SOURCE, [span])

    asyncio.run(scenario())


def test_the_quality_guard_names_a_fill_that_would_not_parse():
    from types import SimpleNamespace

    marked = parse_markers(SOURCE, MarkerSyntax(), "calc.py")

    def result(text):
        return SimpleNamespace(spans=[SimpleNamespace(text=text)], language="python")

    reason = guard_reason(SOURCE, marked.text, marked.spans, result("(("))
    assert reason is not None and reason.startswith("line 2: ")
    assert guard_reason(SOURCE, marked.text, marked.spans, result("a + b")) is None


def test_an_applied_fill_that_reads_names_nothing_binds_gets_a_caution():
    from types import SimpleNamespace

    from infill.server.lsp import caution_note

    marked = parse_markers(SOURCE, MarkerSyntax(), "calc.py")

    def result(text):
        return SimpleNamespace(spans=[SimpleNamespace(text=text)], language="python")

    note = caution_note(marked.text, marked.spans, result("a + total"))
    assert note == "line 2: the fill reads `total`, which nothing in view binds; check it"
    assert caution_note(marked.text, marked.spans, result("a + b")) is None
