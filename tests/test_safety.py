"""Issue 12: nothing is written where it should not be, nothing is lost, bad input is refused.

``fill`` runs in-process with a fake filler (the engine's API) where the model does not
matter; real git in temporary repositories for the hook."""

from __future__ import annotations

import atexit  # noqa: F401  (used in the subprocess scripts below)
import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from types import SimpleNamespace

import pytest

import infill.fill_cmd as fill_cmd
from infill.cli import main
from infill.document import read_document
from infill.errors import InputError, StaleFileError
from infill.gitops.hook import run_hook
from infill.markers import HOLE, MarkerSyntax, parse_markers, splice
from infill.patch import Patch, apply_patch

HOLE_FILE = "def add(a, b):\n    return __FILL__\n"


class FakeFiller:
    """Fills every hole with ``a + b``; ``on_fill`` runs before each fill (to race it)."""

    def __init__(self, on_fill=None):
        self.on_fill = on_fill
        self.paths: list[str] = []

    def fill_spans(self, text, spans, language=None, seed=0, *, path=None, **options):
        self.paths.append(path)
        if self.on_fill:
            self.on_fill(path)
        fills = ["a + b" if s.kind == HOLE else "pass\n" for s in spans]
        return SimpleNamespace(text=splice(text, spans, fills), trajectory=[], language="python",
                               spans=tuple(SimpleNamespace(text=f) for f in fills))

    def fill_text(self, text, language=None, seed=0, *, path=None, syntax=None, **options):
        marked = parse_markers(text, syntax or MarkerSyntax(), path)
        return self.fill_spans(marked.text, marked.spans, path=path)


@pytest.fixture
def fake(monkeypatch):
    filler = FakeFiller()
    monkeypatch.setattr(fill_cmd, "load_filler", lambda settings, trust=False: filler)
    return filler


def run(argv, capsys):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# ------------------------------------------------------------------------- symlinks


def test_directory_walk_does_not_write_through_a_symlink_out_of_it(tmp_path, fake, capsys):
    outside = tmp_path / "outside.py"
    outside.write_text(HOLE_FILE)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "own.py").write_text(HOLE_FILE)
    (tree / "link.py").symlink_to(outside)
    code, _, err = run(["fill", "--write", str(tree)], capsys)
    assert code == 0, err
    assert outside.read_text() == HOLE_FILE
    assert (tree / "link.py").is_symlink()
    assert "a + b" in (tree / "own.py").read_text()


def test_a_symlink_named_on_the_command_line_is_followed(tmp_path, fake, capsys):
    outside = tmp_path / "outside.py"
    outside.write_text(HOLE_FILE)
    (tmp_path / "link.py").symlink_to(outside)
    code, _, err = run(["fill", "--write", str(tmp_path / "link.py")], capsys)
    assert code == 0, err
    assert "a + b" in outside.read_text()


def test_apply_patch_within_refuses_a_link_out(tmp_path):
    outside = tmp_path / "outside.py"
    outside.write_text("x\n")
    top = tmp_path / "top"
    top.mkdir()
    (top / "a.py").symlink_to(outside)
    patch = Patch(str(top / "a.py"), hashlib.sha256(b"x\n").hexdigest(), b"y\n", "")
    with pytest.raises(InputError, match="outside"):
        apply_patch(patch, within=top)
    assert outside.read_text() == "x\n"


def test_hook_never_writes_through_a_work_tree_symlink_out_of_the_repository(git_env):
    repo = git_env / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    (repo / "a.py").write_text(HOLE_FILE)
    subprocess.run(["git", "add", "a.py"], cwd=repo, check=True)
    outside = git_env / "outside.py"
    outside.write_text(HOLE_FILE)
    (repo / "a.py").unlink()
    (repo / "a.py").symlink_to(outside)  # the work tree now links out; the index has a file
    lines: list[str] = []
    code = run_hook(filler_factory=FakeFiller, repo_dir=repo, out=lines.append, environ={})
    assert code == 1
    assert outside.read_text() == HOLE_FILE
    assert any("outside" in line for line in lines), lines


# ------------------------------------------------------------------------ writing


def test_write_refuses_a_read_only_file_and_writes_the_others(tmp_path, fake, capsys):
    a, b, c = (tmp_path / n for n in ("a.py", "b.py", "c.py"))
    for f in (a, b, c):
        f.write_text(HOLE_FILE)
    b.chmod(0o444)
    code, _, err = run(["fill", "--write", str(a), str(b), str(c)], capsys)
    assert code == 2
    assert "read-only" in err and str(b) in err
    assert b.read_text() == HOLE_FILE and b.stat().st_mode & 0o777 == 0o444
    assert "a + b" in a.read_text() and "a + b" in c.read_text()


def test_a_file_changed_mid_run_is_named_and_the_others_are_written(tmp_path, monkeypatch, capsys):
    names = [tmp_path / f"f{i}.py" for i in range(4)]
    for f in names:
        f.write_text(HOLE_FILE)
    stale = {names[0], names[2]}

    def edit(path):  # while f3 is being filled, the user saves f0 and f2
        if path == str(names[3]):
            for f in stale:
                f.write_text(HOLE_FILE + "# edited\n")

    filler = FakeFiller(edit)
    monkeypatch.setattr(fill_cmd, "load_filler", lambda settings, trust=False: filler)
    code, _, err = run(["fill", "--write", *map(str, names)], capsys)
    assert code == 2
    for f in stale:
        assert f.read_text().endswith("# edited\n") and str(f) in err
    for f in set(names) - stale:
        assert "a + b" in f.read_text()


def test_an_edit_during_the_write_window_is_not_overwritten(tmp_path, monkeypatch):
    target = tmp_path / "a.py"
    target.write_text("old\n")
    patch = Patch(str(target), hashlib.sha256(b"old\n").hexdigest(), b"new\n", "")
    real_fsync = os.fsync

    def fsync_and_race(fd):  # an editor saves while the temporary file is being synced
        real_fsync(fd)
        target.write_text("edited\n")

    monkeypatch.setattr(os, "fsync", fsync_and_race)
    with pytest.raises(StaleFileError):
        apply_patch(patch)
    assert target.read_text() == "edited\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]


def test_temporaries_of_dead_processes_are_removed(tmp_path):
    target = tmp_path / "a.py"
    target.write_text("old\n")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f".a.py.{dead.pid}.abc123.infill"
    stale.write_text("half")
    alive = tmp_path / f".a.py.{os.getppid()}.def456.infill"
    alive.write_text("in progress")
    apply_patch(Patch(str(target), hashlib.sha256(b"old\n").hexdigest(), b"new\n", ""))
    assert not stale.exists() and alive.exists()
    assert target.read_text() == "new\n"


def test_ctrl_c_during_write_dir_names_exactly_the_files_written(tmp_path, fake, monkeypatch, capsys):
    names = [tmp_path / f"f{i}.py" for i in range(4)]
    for f in names:
        f.write_text(HOLE_FILE)
    real = fill_cmd.apply_patch
    calls = []

    def apply_then_interrupt(patch):
        calls.append(patch.path)
        if len(calls) == 2:  # Ctrl-C arrives in the middle of the second write
            os.kill(os.getpid(), signal.SIGINT)
        real(patch)

    monkeypatch.setattr(fill_cmd, "apply_patch", apply_then_interrupt)
    code, _, err = run(["fill", "--write", str(tmp_path)], capsys)
    assert code == 130
    written = [f for f in names if "a + b" in f.read_text()]
    assert written == names[:2]
    assert "nothing was written" not in err
    for f in names:
        assert (str(f) in err.split("not written")[0]) == (f in written), err


# ---------------------------------------------------------------------- bad input


def test_trajectory_naming_an_input_file_is_refused_before_anything(tmp_path, fake, capsys):
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    code, _, err = run(["fill", "--write", str(f), "--trajectory", str(f)], capsys)
    assert code == 2 and "input file" in err
    assert f.read_text() == HOLE_FILE
    assert fake.paths == []


def test_trajectory_into_a_missing_directory_is_exit_2(tmp_path, fake, capsys):
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    code, _, err = run(["fill", str(f), "--trajectory", str(tmp_path / "no" / "t.jsonl")], capsys)
    assert code == 2 and "no such directory" in err
    assert fake.paths == []


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_non_regular_files_are_refused_without_hanging(tmp_path, kind):
    if kind == "fifo":
        path = tmp_path / "pipe.py"
        os.mkfifo(path)
    else:
        path = "/dev/zero"
    proc = subprocess.run([sys.executable, "-m", "infill", "fill", str(path)],
                          capture_output=True, timeout=60)
    assert proc.returncode == 2
    assert b"not a regular file" in proc.stderr


def test_read_document_refuses_a_fifo(tmp_path):
    os.mkfifo(tmp_path / "p")
    with pytest.raises(InputError, match="not a regular file"):
        read_document(tmp_path / "p")


def test_negative_line_cap_is_an_error(tmp_path, fake, capsys):
    f = tmp_path / "a.py"
    f.write_text("x = 1\ny = __FILL_-1__\n")
    code, _, err = run(["fill", str(f)], capsys)
    assert code == 2
    assert f"{f}:2:" in err and "positive" in err


def test_check_dir_fails_on_a_non_utf8_file_that_holds_a_marker(tmp_path, capsys):
    (tmp_path / "ok.py").write_text("x = 1\n")
    (tmp_path / "latin.py").write_bytes("caf\xe9 = __FILL__\n".encode("latin-1"))
    (tmp_path / "latin-clean.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    code, _, err = run(["fill", "--check", str(tmp_path)], capsys)
    assert code == 2
    assert "latin.py" in err and "latin-clean" not in err


def test_broken_pipe_is_not_success_and_prints_no_traceback(tmp_path):
    (tmp_path / "many.py").write_text("x = __FILL__\n" * 20000)
    proc = subprocess.Popen([sys.executable, "-m", "infill", "fill", "--check", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) not in (0, 1)
    assert b"Traceback" not in err and b"Exception ignored" not in err


def test_ctrl_c_at_exit_is_130_without_a_traceback(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    script = textwrap.dedent(f"""
        import atexit, os, signal, sys, time
        atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(2)))
        sys.argv = ["infill", "fill", "--check", {str(tmp_path / "a.py")!r}]
        from infill.cli import entry
        entry()
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == 130, proc.stderr
    assert b"Traceback" not in proc.stderr


# ------------------------------------------------------------- hook and signals


def _partially_staged_repo(git_env):
    repo = git_env / "repo"
    repo.mkdir()
    g = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    g("init", "-q", "-b", "main")
    body = "".join(f"line{i} = {i}\n" for i in range(20))
    (repo / "a.py").write_text(body)
    g("add", "a.py")
    g("commit", "-q", "-m", "a")
    staged_text = "x = __FILL__\n" + body
    (repo / "a.py").write_text(staged_text)
    g("add", "a.py")
    user_text = staged_text.replace("line15 = 15", "line15 = 'my unstaged edit'")
    (repo / "a.py").write_text(user_text)
    return repo


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_while_changes_are_set_aside_loses_nothing(git_env, monkeypatch, signum):
    import infill.gitops.stash as stash
    from infill.signals import terminate_as_interrupt

    repo = _partially_staged_repo(git_env)
    real = stash.checkout_index

    def checkout_then_signal(root, paths):
        real(root, paths)
        os.kill(os.getpid(), signum)  # right after the work tree lost the edit

    monkeypatch.setattr(stash, "checkout_index", checkout_then_signal)
    previous = signal.getsignal(signal.SIGTERM)
    terminate_as_interrupt()
    try:
        with pytest.raises(KeyboardInterrupt):
            run_hook(filler_factory=FakeFiller, repo_dir=repo, out=lambda line: None,
                     environ={})
    finally:
        signal.signal(signal.SIGTERM, previous)
    text = (repo / "a.py").read_text()
    assert "my unstaged edit" in text
    assert "x = a + b" in text
    assert list((repo / ".git" / "infill" / "patches").glob("*")) == []


def test_a_killed_run_s_patch_is_named_with_the_restore_command(git_env):
    repo = _partially_staged_repo(git_env)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    patches = repo / ".git" / "infill" / "patches"
    patches.mkdir(parents=True)
    left = patches / f"20260101-000000-{dead.pid}.inprogress.patch"
    left.write_text("diff --git a/a.py b/a.py\n")
    lines: list[str] = []
    code = run_hook(filler_factory=FakeFiller, repo_dir=repo, out=lines.append, environ={},
                    check=True)
    assert code == 1
    assert any(f"git apply {left}" in line for line in lines), lines


def test_sigterm_runs_the_clean_up_and_exits_143():
    import time

    proc = subprocess.Popen([sys.executable, "-m", "infill", "fill", "-"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(5)  # it waits for stdin (the handler is set before anything heavy loads)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert b"Traceback" not in err
