"""The per-user fill socket: ``infill fill`` and the hook borrow a warm server's model.

Where: ``$INFILL_SOCKET`` if set, else ``$XDG_RUNTIME_DIR/infill/serve.sock``, else
``/tmp/infill-<uid>/serve.sock``. The directory is the user's own (mode 0700, owned by the
uid; anything else is refused on both sides) and the server accepts only peers with its uid.
``INFILL_SERVER=off`` makes clients load the model themselves.

The protocol is one JSON object per line, one request and one answer per connection:

    -> {"op": "hello"}
    <- {"ok": true, "protocol": 1, "model": {...}, "fills": N}
    -> {"op": "fill", "load": LoadRequest, "text": str, "spans": [Span...],
        "language": str|null, "seed": int, "path": str|null, "options": {...}}
    <- {"ok": true, "result": FillResult}          (see ``wire.py``)
    <- {"ok": false, "error": "FILE:LINE: reason", "kind": "input"|"model"|"mismatch"|...}

Closing the connection cancels the fill. A client whose model the server does not hold (or
finds no server) loads the model itself: the output is the same either way.
"""

from __future__ import annotations

import json
import os
import select
import socket
import stat
import struct
import sys
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from infill.errors import Cancelled, InfillError, InputError, ModelError
from infill.fills import FillResult
from infill.markers import MarkerSyntax, Span, parse_markers
from infill.server import wire
from infill.server.host import LoadRequest, ModelHost

PROTOCOL = 1
_ERRORS = {"input": InputError, "model": ModelError}


def socket_path() -> Path:
    """The documented per-user socket path (see the module docstring)."""
    explicit = os.environ.get("INFILL_SOCKET")
    if explicit:
        return Path(explicit)
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return Path(runtime) / "infill" / "serve.sock"
    return Path("/tmp") / f"infill-{os.getuid()}" / "serve.sock"


def listen_at(path: Path, backlog: int = 16) -> socket.socket:
    """A listening Unix socket at ``path``, mode 0600, that appears there only once it listens.

    It is bound at a temporary name beside ``path`` and renamed into place, so a client that
    sees the file never meets a bound-but-not-listening socket (ECONNREFUSED) or a wider mode.
    """
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    staging.unlink(missing_ok=True)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(str(staging))
        os.chmod(staging, 0o600)
        sock.listen(backlog)
        os.replace(staging, path)
    except BaseException:
        sock.close()
        staging.unlink(missing_ok=True)
        raise
    return sock


def private_dir(path: Path, create: bool) -> bool:
    """Whether ``path``'s directory is this user's alone (made 0700 when ``create``)."""
    folder = path.parent
    if create:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        st = folder.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()
            and not st.st_mode & 0o077)


# ---------------------------------------------------------------------------- server


class FillSocketServer:
    """Serves ``host`` on a Unix socket, one thread per connection."""

    def __init__(self, host: ModelHost, path: Path | None = None) -> None:
        self.host = host
        self.path = path or socket_path()
        self._sock: socket.socket | None = None
        self._inode: int | None = None
        self.fills = 0  # answered fill requests (``hello`` reports it)

    def start(self) -> bool:
        """Listen in a background thread; False when another live server holds the path."""
        if not private_dir(self.path, create=True):
            print(f"infill serve: {self.path.parent} is not private to this user; "
                  "not listening for fills there", file=sys.stderr)
            return False
        if self.path.exists():
            if _alive(self.path):
                return False
            self.path.unlink()
        sock = listen_at(self.path)
        self._sock, self._inode = sock, self.path.stat().st_ino
        threading.Thread(target=self._accept, name="infill-fill-socket", daemon=True).start()
        return True

    def close(self) -> None:
        if self._sock is None:
            return
        self._sock.close()
        try:
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
        except OSError:
            pass
        self._sock = None

    def _accept(self) -> None:
        while self._sock is not None:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            if _peer_uid(conn) not in (None, os.getuid()):
                return
            try:
                request = json.loads(conn.makefile("rb").readline() or b"null")
                answer = self.answer(request, _ClosedProbe(conn))
            except (ValueError, TypeError, KeyError) as exc:
                answer = {"ok": False, "kind": "protocol", "error": f"bad request: {exc}"}
            try:
                conn.sendall(json.dumps(answer, ensure_ascii=False).encode() + b"\n")
            except OSError:
                pass

    def answer(self, request: dict[str, Any], cancel: Any = None) -> dict[str, Any]:
        """The answer to one decoded request (also the unit under test)."""
        op = request.get("op")
        if op == "hello":
            return {"ok": True, "protocol": PROTOCOL, "model": self.host.describe(),
                    "fills": self.fills}
        if op != "fill":
            return {"ok": False, "kind": "protocol", "error": f"unknown op {op!r}"}
        why = self.host.mismatch(LoadRequest(**request["load"]))
        if why:
            return {"ok": False, "kind": "mismatch", "error": why}
        spans = [wire.span_from_json(s) for s in request["spans"]]
        try:
            result = self.host.fill_spans(request["text"], spans, request.get("language"),
                                          int(request.get("seed", 0)), path=request.get("path"),
                                          options=wire.options_from_json(request.get("options")),
                                          cancel=cancel)
        except Cancelled:
            return {"ok": False, "kind": "cancelled", "error": "fill cancelled"}
        except InfillError as exc:
            kind = "model" if isinstance(exc, ModelError) else "input"
            return {"ok": False, "kind": kind, "error": exc.reason, "path": exc.path,
                    "line": exc.line}
        self.fills += 1
        return {"ok": True, "result": wire.result_to_json(result)}


class _ClosedProbe:
    """A cancel flag that is set once the client has hung up (checked between steps)."""

    def __init__(self, conn: socket.socket) -> None:
        self._conn = conn
        self._closed = False

    def is_set(self) -> bool:
        if not self._closed:
            readable, _, _ = select.select([self._conn], [], [], 0)
            if readable:
                try:
                    self._closed = self._conn.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    self._closed = True
        return self._closed


def _peer_uid(conn: socket.socket) -> int | None:
    if not hasattr(socket, "SO_PEERCRED"):
        return None
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _alive(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        probe.close()


# ---------------------------------------------------------------------------- client


class ServerGone(Exception):
    """The server is not there, hung up, or holds another model: fill locally instead."""


def call(path: Path, request: dict[str, Any], cancel: Any = None,
         connect_timeout: float = 2.0) -> dict[str, Any]:
    """Send one request and read its answer; ``cancel.is_set()`` hangs up (``Cancelled``)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(connect_timeout)
    try:
        sock.connect(str(path))
        sock.sendall(json.dumps(request, ensure_ascii=False).encode() + b"\n")
        sock.settimeout(0.1 if cancel is not None else None)
        chunks = []
        while True:
            try:
                chunk = sock.recv(1 << 16)
            except socket.timeout:
                if cancel is not None and cancel.is_set():
                    raise Cancelled("fill cancelled")
                continue
            if not chunk:
                break
            chunks.append(chunk)
            if chunk.endswith(b"\n"):
                break
    except OSError as exc:
        raise ServerGone(str(exc)) from exc
    finally:
        sock.close()
    if not chunks:
        raise ServerGone("the server hung up")
    return json.loads(b"".join(chunks))


class RemoteFiller:
    """``Filler``'s fill methods, answered by the server at ``path``.

    When the server cannot answer (gone, another model), ``fallback()`` loads a local
    ``Filler`` once and every later fill runs there.
    """

    def __init__(self, path: Path, request: LoadRequest, fallback: Callable[[], Any],
                 model: dict[str, Any]) -> None:
        self.path = path
        self.request = request
        self.served_by = model
        self._fallback = fallback
        self._local: Any = None

    def fill_text(self, text: str, language: str | None = None, seed: int = 0, *,
                  path: str | None = None, syntax: MarkerSyntax | None = None,
                  options: Any = None, on_frame: Any = None, cancel: Any = None, **kw: Any):
        options = _options(options, kw)
        marked = parse_markers(text, syntax or MarkerSyntax(), path)
        if not marked.spans:  # what the engine answers for text without markers
            from infill.languages import guess_language, normalise_language

            lang = normalise_language(language) or guess_language(path, text)
            return FillResult(text, (), (), (), 0.0, None, 0, 0.0, lang)
        if self._local is not None:
            return self._local.fill_text(text, language, seed, path=path, syntax=syntax,
                                         options=options, on_frame=on_frame, cancel=cancel)
        return self.fill_spans(marked.text, marked.spans, language, seed, path=path,
                               options=options, on_frame=on_frame, cancel=cancel)

    def fill_spans(self, text: str, spans: Sequence[Span], language: str | None = None,
                   seed: int = 0, *, path: str | None = None, options: Any = None,
                   on_frame: Any = None, cancel: Any = None):
        """As ``Filler.fill_spans``; ``on_frame`` is called with the frames once the fill is
        back (the socket carries whole results)."""
        options = _options(options, {})
        if self._local is None:
            request = {"op": "fill", "load": self.request.to_json(), "text": text,
                       "spans": [wire.span_to_json(s) for s in spans], "language": language,
                       "seed": seed, "path": path, "options": wire.options_to_json(options)}
            try:
                answer = call(self.path, request, cancel)
            except ServerGone:
                answer = {"ok": False, "kind": "gone"}
            if answer.get("ok"):
                result = wire.result_from_json(answer["result"])
                for frame in result.trajectory if on_frame is not None else ():
                    on_frame(frame)
                return result
            kind = answer.get("kind")
            if kind == "cancelled":
                raise Cancelled("fill cancelled")
            if kind in _ERRORS:
                raise _ERRORS[kind](answer["error"], path=answer.get("path"),
                                    line=answer.get("line"))
            self._local = self._fallback()
        return self._local.fill_spans(text, spans, language, seed, path=path, options=options,
                                      on_frame=on_frame, cancel=cancel)


def connect(request: LoadRequest, fallback: Callable[[], Any]) -> RemoteFiller | None:
    """A ``RemoteFiller`` when a server for ``request`` listens on the per-user socket."""
    if os.environ.get("INFILL_SERVER", "").lower() in ("off", "0", "no"):
        return None
    path = socket_path()
    if not path.exists() or not private_dir(path, create=False):
        return None
    try:
        hello = call(path, {"op": "hello"}, connect_timeout=1.0)
    except (ServerGone, ValueError):
        return None
    if not hello.get("ok") or hello.get("protocol") != PROTOCOL:
        return None
    served = LoadRequest(**hello["model"]["request"])
    info = _Info(hello["model"])
    from infill.server.host import mismatch

    if mismatch(served, info, request):
        return None
    return RemoteFiller(path, request, fallback, hello["model"])


def _options(options: Any, kw: dict[str, Any]) -> Any:
    """A ``FillOptions`` from either form the engine takes (``options=`` or keywords)."""
    from infill.options import FillOptions

    if options is not None and kw:
        raise TypeError("pass sampler options as options= or as keywords, not both")
    return options if options is not None else FillOptions.from_kwargs(**kw)


def connect_for(settings: Any, trust_remote_code: bool, fallback: Callable[[], Any],
                device_map: str | None = None) -> RemoteFiller | None:
    """``connect`` for the model ``settings`` name; None if that model cannot be resolved
    (the local load then reports why)."""
    if os.environ.get("INFILL_SERVER", "").lower() in ("off", "0", "no"):
        return None
    try:
        request = LoadRequest.from_settings(settings, trust_remote_code, device_map)
    except InfillError:
        return None
    return connect(request, fallback)


class _Info:
    def __init__(self, model: dict[str, Any]) -> None:
        self.device = model["device"]
        self.backend = model["backend"]
