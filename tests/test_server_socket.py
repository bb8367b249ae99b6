"""The per-user fill socket: ``infill fill`` and the hook borrow a warm server's model, give
the same output as loading it themselves, and fall back when the server cannot answer."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from infill.errors import Cancelled, InputError
from infill.server import usersock, wire
from infill.server.host import LoadRequest, ModelHost
from infill.server.usersock import FillSocketServer, RemoteFiller, call, connect

SOURCE = "def add(a, b):\n    return __FILL__\n"


@pytest.fixture
def short_dir():
    """A directory with a short path (a Unix socket path has at most 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="infill-t-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def served(tiny_model_dir, tiny_filler, short_dir, monkeypatch):
    """A fill socket serving the tiny model in this process; clients find it by INFILL_SOCKET."""
    path = short_dir / "run" / "serve.sock"
    monkeypatch.setenv("INFILL_SOCKET", str(path))
    monkeypatch.setenv("INFILL_SERVER", "on")
    request = LoadRequest(str(tiny_model_dir), "cpu").resolved()
    server = FillSocketServer(ModelHost(request, filler=tiny_filler), path)
    assert server.start()
    yield server
    server.close()


def _timeless(result) -> dict:
    """A result as JSON without its clock readings (the only thing that differs by run)."""
    data = wire.result_to_json(result) | {"elapsed": 0}
    data["trajectory"] = [frame | {"elapsed": 0} for frame in data["trajectory"]]
    return data


def _request(model_dir, **changes) -> LoadRequest:
    return dataclasses.replace(LoadRequest(str(model_dir), "cpu").resolved(), **changes)


def _never():
    raise AssertionError("the client loaded the model although the server could answer")


def test_remote_fills_equal_local_fills(served, tiny_model_dir, tiny_filler):
    remote = connect(_request(tiny_model_dir), _never)
    assert isinstance(remote, RemoteFiller)
    local = tiny_filler.fill_text(SOURCE, path="calc.py", seed=3, steps=6)
    got = remote.fill_text(SOURCE, path="calc.py", seed=3, steps=6)
    assert _timeless(got) == _timeless(local)
    assert served.fills == 1
    # Text without markers comes back unchanged without asking anyone.
    assert remote.fill_text("x = 1\n", path="x.py").text == "x = 1\n"
    assert served.fills == 1


def test_errors_come_back_as_the_same_errors(served, tiny_model_dir, tiny_filler):
    from infill.markers import Span

    remote = connect(_request(tiny_model_dir), _never)
    overlapping = [Span(0, 5, "rewrite", line=1), Span(3, 8, "rewrite", line=1)]
    with pytest.raises(InputError) as local_error:
        tiny_filler.fill_spans(SOURCE, overlapping, path="calc.py")
    with pytest.raises(InputError) as remote_error:
        remote.fill_spans(SOURCE, overlapping, path="calc.py")
    assert str(remote_error.value) == str(local_error.value)


@pytest.mark.parametrize("change", [{"device": None}, {"backend": "llada"}, {"device_map": "auto"},
                                    {"model": "/elsewhere"}])
def test_a_server_with_another_model_is_not_used(served, tiny_model_dir, change):
    assert connect(_request(tiny_model_dir, **change), _never) is None


def test_no_server_or_switched_off_means_local(served, tiny_model_dir, monkeypatch, short_dir):
    monkeypatch.setenv("INFILL_SERVER", "off")
    assert connect(_request(tiny_model_dir), _never) is None
    monkeypatch.setenv("INFILL_SERVER", "on")
    monkeypatch.setenv("INFILL_SOCKET", str(short_dir / "none" / "serve.sock"))
    assert connect(_request(tiny_model_dir), _never) is None


def test_a_server_that_goes_away_hands_over_to_a_local_model(served, tiny_model_dir,
                                                             tiny_filler):
    loads = []
    remote = connect(_request(tiny_model_dir), lambda: loads.append(1) or tiny_filler)
    served.close()
    result = remote.fill_text(SOURCE, path="calc.py")
    assert loads == [1] and result.text == tiny_filler.fill_text(SOURCE, path="calc.py").text


def test_hanging_up_cancels_and_cancel_stops_the_client(served, tiny_model_dir):
    many = "".join(f"def f{i}(a):\n    return __FILL__\n" for i in range(10))
    remote = connect(_request(tiny_model_dir), _never)
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(Cancelled):
        remote.fill_text(many, path="many.py", cancel=cancel)
    assert time.monotonic() - started < 5
    # The server saw the hang-up: the next fill is answered at once, and nothing counted.
    assert remote.fill_text(SOURCE, path="calc.py").text
    assert served.fills == 1


def test_the_socket_directory_must_be_private(short_dir, monkeypatch):
    folder = short_dir / "shared"
    folder.mkdir(mode=0o755)
    os.chmod(folder, 0o755)
    path = folder / "serve.sock"
    assert not usersock.private_dir(path, create=False)
    assert not FillSocketServer(host=None, path=path).start()
    assert usersock.private_dir(short_dir / "mine" / "serve.sock", create=True)
    assert (short_dir / "mine").stat().st_mode & 0o777 == 0o700


def test_a_socket_appears_only_once_it_listens(short_dir, monkeypatch):
    """No client may find the path bound but not yet listening (it would be refused)."""
    import socket

    path = short_dir / "lsp.sock"
    path.write_text("stale")
    seen_before_listen = []
    chmod = os.chmod
    monkeypatch.setattr(usersock.os, "chmod",
                        lambda p, mode: (seen_before_listen.append(path.is_socket()),
                                         chmod(p, mode)))
    sock = usersock.listen_at(path)
    try:
        assert seen_before_listen == [False]
        assert path.is_socket() and path.stat().st_mode & 0o777 == 0o600
        assert sorted(p.name for p in short_dir.iterdir()) == ["lsp.sock"]
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect(str(path))
        client.close()
    finally:
        sock.close()


def test_socket_path_per_user(monkeypatch, short_dir):
    monkeypatch.delenv("INFILL_SOCKET", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(short_dir))
    assert usersock.socket_path() == short_dir / "infill" / "serve.sock"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert usersock.socket_path() == Path(f"/tmp/infill-{os.getuid()}/serve.sock")


def test_bad_requests_get_an_answer(served):
    assert call(served.path, {"op": "nope"})["kind"] == "protocol"
    assert call(served.path, {"op": "fill"})["kind"] == "protocol"


def test_results_from_the_wire_are_the_engine_types(served, tiny_model_dir, tiny_filler):
    from infill import engine

    remote = connect(_request(tiny_model_dir), _never)
    result = remote.fill_text(SOURCE, path="calc.py")
    assert isinstance(result, engine.FillResult) and isinstance(result.spans[0], engine.SpanFill)
    assert result == wire.result_from_json(wire.result_to_json(result))


# ------------------------------------------------------------- the CLI and the hook, end to end


def _cli(args, cwd, env):
    return subprocess.run([sys.executable, "-m", "infill", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=300)


@pytest.fixture
def serve_process(tiny_model_dir, short_dir):
    """``infill serve --fill-only`` on the tiny model, and the env that finds it."""
    sock = short_dir / "run" / "serve.sock"
    env = dict(os.environ, INFILL_SOCKET=str(sock), INFILL_SERVER="on", INFILL_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "infill", "serve", "--fill-only", "--model",
                             str(tiny_model_dir), "--device", "cpu"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    while not sock.exists():
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline, "infill serve did not open its socket"
        time.sleep(0.2)
    yield env
    proc.terminate()
    proc.wait(timeout=60)
    assert not sock.exists()  # the server removes its socket


def _fills(env) -> int:
    return call(Path(env["INFILL_SOCKET"]), {"op": "hello"})["fills"]


@pytest.mark.slow
def test_infill_fill_output_is_identical_through_the_server(serve_process, tiny_model_dir,
                                                            tmp_path):
    (tmp_path / "a.py").write_text(SOURCE)
    (tmp_path / "b.py").write_text("x = __FILL__\n")
    flags = ["--model", str(tiny_model_dir), "--device", "cpu"]
    local_env = dict(serve_process, INFILL_SERVER="off")
    for args in (["a.py"], ["a.py", "b.py"], ["--json", "a.py", "b.py"]):
        before = _fills(serve_process)
        served = _cli(["fill", *args, *flags], tmp_path, serve_process)
        alone = _cli(["fill", *args, *flags], tmp_path, local_env)
        assert served.returncode == alone.returncode == 0, served.stderr + alone.stderr
        if args[0] == "--json":  # elapsed differs, everything else is the same
            import json

            def strip(out):
                data = json.loads(out)
                for entry in data["files"]:
                    entry.pop("elapsed", None)
                return data

            assert strip(served.stdout) == strip(alone.stdout)
        else:
            assert served.stdout == alone.stdout
        assert _fills(serve_process) == before + len([a for a in args if a.endswith(".py")])
    # A client that asks for another model does not use this server.
    before = _fills(serve_process)
    other = _cli(["fill", "a.py", "--model", str(tiny_model_dir), "--device", "cpu",
                  "--backend", "llada"], tmp_path, serve_process)
    assert other.returncode == 2 and _fills(serve_process) == before


@pytest.mark.slow
def test_the_hook_fills_through_the_server_like_alone(serve_process, tiny_model_dir, git_env):
    outputs = []
    for mode in ("on", "off"):
        repo = git_env / f"repo-{mode}"
        repo.mkdir()
        env = dict(os.environ, INFILL_SOCKET=serve_process["INFILL_SOCKET"], INFILL_SERVER=mode)
        subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
        (repo / "calc.py").write_text(SOURCE)
        subprocess.run(["git", "add", "calc.py"], cwd=repo, check=True, env=env)
        before = _fills(serve_process)
        hook = _cli(["hook", "--model", str(tiny_model_dir), "--device", "cpu"], repo, env)
        assert hook.returncode == 1, hook.stderr  # it changed a file: review and re-stage
        assert _fills(serve_process) == before + (mode == "on")
        outputs.append((repo / "calc.py").read_text())
    assert outputs[0] == outputs[1] and "__FILL__" not in outputs[0]
