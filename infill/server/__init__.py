"""``infill serve``: keep one model warm for every editor, ``infill fill`` and the hook.

- ``lsp.py``: the language server (pygls): code actions, ``$/progress``, frames, cancel.
- ``usersock.py``: the per-user Unix socket that ``infill fill`` and the hook use when a
  server holding their model is running, with a one-line JSON protocol.
- ``host.py``: the loaded model and its lock; ``wire.py``: results as JSON.

The language server talks over stdio (what editors start), TCP on 127.0.0.1 (``--tcp``) or a
Unix socket (``--socket``). The model loads in a background thread while the client
initializes; the fill socket opens once it is loaded. ``--fill-only`` runs just the fill
socket, for the hook and the batch CLI without an editor.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import threading
from concurrent.futures import Future
from typing import Any

from infill.errors import InfillError


class HostLoader:
    """Loads the model in a thread; ``get()`` waits for it (and re-raises a load error)."""

    def __init__(self, request, on_ready=None) -> None:
        self.request = request
        self._future: Future = Future()
        self._on_ready = on_ready

    def start(self) -> "HostLoader":
        threading.Thread(target=self._load, name="infill-load", daemon=True).start()
        return self

    def _load(self) -> None:
        from infill.server.host import ModelHost

        try:
            host = ModelHost(self.request)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever waits
            self._future.set_exception(exc)
            return
        self._future.set_result(host)
        if self._on_ready is not None:
            self._on_ready(host)

    def get(self):
        return self._future.result()


def run_serve(args: argparse.Namespace) -> int:
    from infill.server.host import LoadRequest
    from infill.server.usersock import FillSocketServer, socket_path
    from infill.settings import load_settings

    logging.basicConfig(level=logging.WARNING if not args.verbose else logging.INFO,
                        stream=sys.stderr)
    overrides = {k: v for k, v in vars(args).items()
                 if k not in ("command", "tcp", "socket", "host", "fill_socket", "no_fill_socket",
                              "fill_only", "device_map", "stdio")}
    settings = load_settings(".", overrides)
    request = LoadRequest.from_settings(settings, args.trust_remote_code,
                                        getattr(args, "device_map", None))
    fill_sockets: list[FillSocketServer] = []

    def open_fill_socket(host) -> None:
        if args.no_fill_socket:
            return
        server = FillSocketServer(host, socket_path() if args.fill_socket is None
                                  else _path(args.fill_socket))
        if server.start():
            fill_sockets.append(server)
            if not args.quiet:
                print(f"infill serve: fills on {server.path}", file=sys.stderr, flush=True)

    loader = HostLoader(request, on_ready=open_fill_socket)
    try:
        if args.fill_only:
            loader._load()
            loader.get()
            if not fill_sockets:
                raise InfillError(f"another infill serve already listens on "
                                  f"{args.fill_socket or socket_path()}")
            _wait_for_signal()
            return 0
        from infill.server.lsp import make_server

        server = make_server(loader.get, overrides)
        loader.start()
        if args.tcp is not None:
            server.start_tcp(args.host, args.tcp)
        elif args.socket:
            start_unix(server, args.socket)
        else:
            server.start_io()
        return 0
    finally:
        for fill_socket in fill_sockets:
            fill_socket.close()


def start_unix(server: Any, path: str) -> None:
    """The language server on a Unix socket (pygls ships stdio, TCP and websockets)."""
    from pygls.io_ import run_async

    from infill.server.usersock import listen_at

    stop = threading.Event()
    server._stop_event = stop

    async def connection(reader, writer) -> None:
        server.protocol.set_writer(writer)
        await run_async(stop_event=stop, reader=reader, protocol=server.protocol,
                        logger=logging.getLogger("infill.server"),
                        error_handler=server.report_server_error)
        server.shutdown()

    async def main() -> None:
        listener = await asyncio.start_unix_server(connection, sock=listen_at(where))
        server._server = listener
        async with listener:
            try:
                await listener.serve_forever()
            except asyncio.CancelledError:
                pass
        where.unlink(missing_ok=True)

    where = _path(path)
    asyncio.run(main())


def _path(text: str):
    from pathlib import Path

    return Path(text).expanduser()


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass
