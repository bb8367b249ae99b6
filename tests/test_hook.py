"""``infill hook``: real git in temporary repositories, a fake filler (the engine's API).

The end-to-end tests at the bottom run the real engine on a tiny random-weight model: they
check structure (markers gone, files written where they should be), not fill quality.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from infill.errors import Cancelled, InfillError, InputError
from infill.gitops.hook import run_hook
from infill.markers import HOLE, MarkerSyntax, parse_markers, splice
from infill.settings import Settings

REPO = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------------------- fixtures


def git(repo: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, input=input, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


@pytest.fixture
def repo(git_env):
    path = git_env / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "core.autocrlf", "false")
    return path


def commit_file(repo: Path, name: str, data: bytes | str) -> None:
    write(repo, name, data)
    git(repo, "add", name)
    git(repo, "commit", "-q", "-m", f"add {name}")


def write(repo: Path, name: str, data: bytes | str) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def staged(repo: Path, name: str) -> bytes:
    return subprocess.run(["git", "show", f":{name}"], cwd=repo, capture_output=True,
                          check=True).stdout


@dataclass
class FakeResult:
    text: str


class FakeFiller:
    """Fills every hole with ``42`` and every region with ``pass``; counts its calls."""

    def __init__(self, hole: str = "42", region: str = "pass\n"):
        self.hole, self.region = hole, region
        self.calls: list[str] = []

    def fill_text(self, text, language=None, seed=0, *, path=None, syntax=None, on_frame=None,
                  cancel=None, **options):
        self.calls.append(path)
        marked = parse_markers(text, syntax or MarkerSyntax(), path)
        fills = [self.hole if s.kind == HOLE else self.region for s in marked.spans]
        return FakeResult(splice(marked.text, marked.spans, fills))


class Factory:
    def __init__(self, filler=None):
        self.filler = filler or FakeFiller()
        self.loads = 0

    def __call__(self):
        self.loads += 1
        return self.filler


def hook(repo: Path, files=(), **kwargs):
    """Run the hook in ``repo``; returns (exit code, messages, factory)."""
    messages: list[str] = []
    factory = kwargs.pop("factory", None) or Factory()
    kwargs.setdefault("environ", {})
    code = run_hook(files, filler_factory=factory, out=messages.append, repo_dir=repo, **kwargs)
    return code, messages, factory


HOLED = "def add(a, b):\n    return __FILL__\n"
FILLED = "def add(a, b):\n    return 42\n"


# ---------------------------------------------------------------------------- basic runs


def test_staged_hole_is_filled_in_the_work_tree_not_the_index(repo):
    commit_file(repo, "README.md", "hello\n")
    write(repo, "a.py", HOLED)
    git(repo, "add", "a.py")

    code, messages, factory = hook(repo)

    assert code == 1
    assert messages == ["a.py: filled 1 hole (review and re-stage)"]
    assert (repo / "a.py").read_text() == FILLED
    assert staged(repo, "a.py").decode() == HOLED  # never git add
    assert factory.loads == 1

    git(repo, "add", "a.py")
    code, messages, factory = hook(repo)
    assert (code, messages, factory.loads) == (0, [], 0)


def test_nothing_staged_loads_no_model(repo):
    commit_file(repo, "a.py", HOLED)  # committed, not staged: not the hook's business
    code, messages, factory = hook(repo)
    assert (code, messages, factory.loads) == (0, [], 0)


def test_running_twice_without_restaging_keeps_the_fill(repo):
    write(repo, "a.py", HOLED)
    git(repo, "add", "a.py")
    assert hook(repo)[0] == 1
    code, messages, _ = hook(repo)
    assert code == 1  # the staged file still holds the marker
    assert (repo / "a.py").read_text() == FILLED
    assert "already" in messages[0] and "re-stage" in messages[0]
    assert not list((repo / ".git" / "infill" / "patches").glob("*.patch"))


def test_repository_with_no_commits(repo):
    write(repo, "a.py", HOLED)
    write(repo, "notes.md", "# notes\n__FILL__\n")
    git(repo, "add", ".")
    code, messages, factory = hook(repo)
    assert code == 1
    assert sorted(messages) == ["a.py: filled 1 hole (review and re-stage)",
                                "notes.md: filled 1 hole (review and re-stage)"]
    assert factory.loads == 1 and sorted(factory.filler.calls) == ["a.py", "notes.md"]


def test_regions_and_counts(repo):
    write(repo, "b.py", "x = __FILL__\ny = __FILL_1__\n# >>> infill\nold\n# <<< infill\n")
    git(repo, "add", "b.py")
    code, messages, _ = hook(repo)
    assert code == 1
    assert messages == ["b.py: filled 2 holes and rewrote 1 region (review and re-stage)"]
    assert (repo / "b.py").read_text() == "x = 42\ny = 42\npass\n"


def test_crlf_and_bom_are_kept(repo):
    data = "\ufeffa = 1\r\nb = __FILL__\r\nc = 3\r\n".encode()
    write(repo, "c.py", data)
    git(repo, "add", "c.py")
    assert hook(repo)[0] == 1
    assert (repo / "c.py").read_bytes() == "\ufeffa = 1\r\nb = 42\r\nc = 3\r\n".encode()


def test_file_mode_is_kept(repo):
    write(repo, "run.sh", "#!/bin/sh\necho __FILL__\n")
    (repo / "run.sh").chmod(0o755)
    git(repo, "add", "run.sh")
    assert hook(repo)[0] == 1
    assert (repo / "run.sh").stat().st_mode & 0o777 == 0o755


def test_files_given_on_the_command_line(repo):
    write(repo, "a.py", HOLED)
    write(repo, "b.py", HOLED)
    git(repo, "add", ".")
    code, messages, _ = hook(repo, ["b.py"])
    assert messages == ["b.py: filled 1 hole (review and re-stage)"]
    assert (repo / "a.py").read_text() == HOLED


# ------------------------------------------------------------------- what is skipped


def test_excluded_binary_deleted_symlink_and_submodule_entries_are_skipped(repo, git_env):
    commit_file(repo, "gone.py", HOLED)
    write(repo, "docs/guide.md", "use __FILL__ like this\n")
    write(repo, "blob.bin", b"\0\x01__FILL__\0")
    os.symlink("__FILL__", repo / "link")
    sub = git_env / "sub"
    sub.mkdir()
    git(sub, "init", "-q")
    commit_file(sub, "x.py", HOLED)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "sub")
    git(repo, "rm", "-q", "gone.py")
    git(repo, "add", ".")

    settings = Settings(exclude=("docs/*",))
    code, messages, factory = hook(repo, settings=settings)
    assert (code, messages, factory.loads) == (0, [], 0)


def test_marker_strings_from_settings(repo):
    write(repo, "a.py", "x = <<HOLE>>\ny = '__FILL__'\n")
    git(repo, "add", "a.py")
    settings = Settings(hole="<<HOLE>>")
    assert hook(repo, settings=settings)[0] == 1
    assert (repo / "a.py").read_text() == "x = 42\ny = '__FILL__'\n"


def test_settings_are_read_from_the_repository_pyproject(repo):
    write(repo, "pyproject.toml", '[tool.infill]\nexclude = ["vendor/*"]\n')
    write(repo, "vendor/lib.py", HOLED)
    git(repo, "add", ".")
    code, messages, factory = hook(repo, settings=None)
    assert (code, factory.loads) == (0, 0)


# ------------------------------------------------------------------ check and errors


def test_check_lists_markers_and_writes_nothing(repo):
    write(repo, "a.py", "x = 1\ny = __FILL__\n")
    git(repo, "add", "a.py")
    code, messages, factory = hook(repo, check=True)
    assert code == 1
    assert messages == ["a.py:2:5: __FILL__"]
    assert factory.loads == 0
    assert (repo / "a.py").read_text() == "x = 1\ny = __FILL__\n"


def test_check_all_files_looks_at_the_whole_index(repo):
    commit_file(repo, "a.py", HOLED)
    assert hook(repo, check=True)[0] == 0
    code, messages, _ = hook(repo, check=True, all_files=True)
    assert code == 1 and messages == ["a.py:2:12: __FILL__"]


def test_bad_markers_are_an_error_and_nothing_is_written(repo):
    write(repo, "good.py", HOLED)
    write(repo, "bad.py", "# >>> infill\nx = 1\n")
    git(repo, "add", ".")
    messages: list[str] = []
    factory = Factory()
    with pytest.raises(InputError, match=r"bad.py:1: .*never closed"):
        run_hook((), filler_factory=factory, out=messages.append, repo_dir=repo, environ={})
    assert factory.loads == 0
    assert (repo / "good.py").read_text() == HOLED


def test_not_a_repository(tmp_path):
    with pytest.raises(InfillError, match="not inside a git work tree"):
        run_hook((), filler_factory=Factory(), repo_dir=tmp_path, environ={})


# ----------------------------------------------------------------------------- timeout


class SlowFiller(FakeFiller):
    def fill_text(self, text, *args, cancel=None, **kwargs):
        assert isinstance(cancel, threading.Event)
        if not cancel.wait(timeout=30):
            raise AssertionError("the hook never cancelled the fill")
        raise Cancelled()


def test_timeout_stops_writes_nothing_and_exits_1(repo):
    write(repo, "a.py", HOLED)
    git(repo, "add", "a.py")
    code, messages, _ = hook(repo, timeout=0.2, factory=Factory(SlowFiller()))
    assert code == 1
    assert len(messages) == 1 and "time limit" in messages[0] and "nothing was written" in messages[0]
    assert (repo / "a.py").read_text() == HOLED


# ----------------------------------------------------------- partially staged files


PARTIAL_STAGED = "import os\n\n\ndef add(a, b):\n    return __FILL__\n\n\nX = 1\n"


def test_partially_staged_file_keeps_its_unstaged_edit(repo):
    commit_file(repo, "a.py", "import os\n\n\ndef add(a, b):\n    pass\n\n\nX = 1\n")
    write(repo, "a.py", PARTIAL_STAGED)
    git(repo, "add", "a.py")
    # An unstaged edit far from the hole, with a CRLF line and no final newline.
    worktree = PARTIAL_STAGED.replace("X = 1\n", "X = 1\r\nY = 'unstaged'")
    write(repo, "a.py", worktree)

    code, messages, _ = hook(repo)

    assert code == 1
    assert messages == ["a.py: filled 1 hole (review and re-stage)"]
    assert (repo / "a.py").read_bytes() == worktree.replace("__FILL__", "42").encode()
    assert staged(repo, "a.py").decode() == PARTIAL_STAGED
    assert not list((repo / ".git" / "infill" / "patches").glob("*"))


def test_unstaged_edit_that_clashes_with_the_fill_is_restored_byte_for_byte(repo):
    write(repo, "a.py", PARTIAL_STAGED)
    git(repo, "add", "a.py")
    worktree = PARTIAL_STAGED.replace("return __FILL__", "return a + b  # mine\r") + "\0tail"
    write(repo, "a.py", worktree)

    code, messages, _ = hook(repo)

    assert code == 1
    assert (repo / "a.py").read_bytes() == worktree.encode()
    assert staged(repo, "a.py").decode() == PARTIAL_STAGED
    patches = sorted((repo / ".git" / "infill" / "patches").iterdir())
    assert len(patches) == 2  # the user's changes and the rolled-back fill
    kept = [p for p in patches if not p.name.endswith("-fills.patch")][0]
    fills = [p for p in patches if p.name.endswith("-fills.patch")][0]
    assert len(messages) == 1
    assert "clashes" in messages[0] and str(kept) in messages[0] and str(fills) in messages[0]
    assert "+    return 42" in fills.read_text()
    # The kept patch is the user's changes: it applies to the staged content.
    git(repo, "apply", "--check", "--cached", str(kept))


def test_one_clash_does_not_cost_the_other_files_their_fills(repo):
    write(repo, "a.py", PARTIAL_STAGED)
    write(repo, "b.py", PARTIAL_STAGED)
    git(repo, "add", ".")
    write(repo, "a.py", PARTIAL_STAGED.replace("__FILL__", "mine"))
    write(repo, "b.py", PARTIAL_STAGED + "# more\n")
    code, messages, _ = hook(repo)
    assert code == 1
    assert (repo / "a.py").read_text() == PARTIAL_STAGED.replace("__FILL__", "mine")
    assert (repo / "b.py").read_text() == PARTIAL_STAGED.replace("__FILL__", "42") + "# more\n"
    assert "a.py: the fill clashes" in messages[0]
    assert messages[1] == "b.py: filled 1 hole (review and re-stage)"


def test_file_deleted_in_the_work_tree_stays_deleted(repo):
    write(repo, "a.py", HOLED)
    git(repo, "add", "a.py")
    (repo / "a.py").unlink()
    code, _, _ = hook(repo)
    assert code == 1
    assert not (repo / "a.py").exists()
    assert staged(repo, "a.py").decode() == HOLED


def test_partial_commit_index_is_honoured(repo, monkeypatch):
    """``git commit PATH`` runs the hook with GIT_INDEX_FILE set to a temporary index."""
    commit_file(repo, "a.py", "x = 1\n")
    write(repo, "a.py", HOLED)
    other_index = repo / ".git" / "other-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(other_index)}
    subprocess.run(["git", "read-tree", "HEAD"], cwd=repo, env=env, check=True)
    subprocess.run(["git", "add", "a.py"], cwd=repo, env=env, check=True)
    monkeypatch.setenv("GIT_INDEX_FILE", str(other_index))
    code, messages, _ = hook(repo)
    assert code == 1 and messages == ["a.py: filled 1 hole (review and re-stage)"]


# ----------------------------------------------------------------- under pre-commit


def test_under_the_framework_files_are_read_from_the_work_tree(repo):
    commit_file(repo, "a.py", "x = 1\n")
    write(repo, "a.py", HOLED)  # `pre-commit run --files a.py`: not staged, not stashed
    code, messages, _ = hook(repo, ["a.py"], environ={"PRE_COMMIT": "1"})
    assert code == 1
    assert (repo / "a.py").read_text() == FILLED


def test_edit_more_than_three_lines_away_applies_as_a_patch(repo):
    staged_text = "a = __FILL__\n" + "".join(f"line{i} = {i}\n" for i in range(10))
    write(repo, "a.py", staged_text)
    git(repo, "add", "a.py")
    worktree = staged_text.replace("line9 = 9", "line9 = 'nine'")
    write(repo, "a.py", worktree)
    (repo / "a.py").chmod(0o755)  # an unstaged mode change is kept too
    assert hook(repo)[0] == 1
    assert (repo / "a.py").read_text() == worktree.replace("__FILL__", "42")
    assert (repo / "a.py").stat().st_mode & 0o777 == 0o755


def test_edit_next_to_the_fill_is_merged_back(repo):
    write(repo, "a.py", "def f():\n    return __FILL__\n\nZ = 0\n")
    git(repo, "add", "a.py")
    worktree = "def f():\n    return __FILL__\n\nZ = 1  # within the patch's context\n"
    write(repo, "a.py", worktree)
    code, messages, _ = hook(repo)
    assert code == 1 and messages == ["a.py: filled 1 hole (review and re-stage)"]
    assert (repo / "a.py").read_text() == worktree.replace("__FILL__", "42")


# -------------------------------------------------- end to end: the real CLI and engine


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pytest.importorskip("torch")
    from infill.testing import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("model") / "tiny")


@pytest.fixture
def cli_env(git_env, tiny_model, monkeypatch):
    """``infill`` on PATH (this interpreter, this checkout) and the tiny model as default."""
    bin_dir = git_env / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "infill"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m infill "$@"\n')
    shim.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.setenv("INFILL_MODEL", str(tiny_model))
    monkeypatch.setenv("PRE_COMMIT_HOME", str(git_env / "pre-commit-cache"))
    return git_env


def run(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=repo, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cli_hook_with_the_real_engine(repo, cli_env):
    write(repo, "a.py", "def add(a, b):\n    return __FILL__\n\n\nX = __FILL_1__\n")
    git(repo, "add", "a.py")
    first = run(repo, "infill", "hook")
    assert first.returncode == 1, first.stderr
    # The tiny random model's fills may read names nothing binds: a note per such fill.
    *notes, last = first.stdout.splitlines()
    assert last == "a.py: filled 2 holes (review and re-stage)"
    assert all(n.startswith(("a.py:2: note: ", "a.py:5: note: ")) for n in notes), notes
    text = (repo / "a.py").read_text()
    assert "__FILL" not in text and text.startswith("def add(a, b):\n    return ")
    git(repo, "add", "a.py")
    second = run(repo, "infill", "hook")
    assert (second.returncode, second.stdout) == (0, "")


@pytest.mark.slow
def test_pre_commit_framework_runs_the_manifest_hook(repo, cli_env):
    pytest.importorskip("pre_commit")
    pre_commit = (sys.executable, "-m", "pre_commit")
    hooks_repo = cli_env / "hooks-repo"
    hooks_repo.mkdir()
    git(hooks_repo, "init", "-q")
    write(hooks_repo, ".pre-commit-hooks.yaml", (REPO / ".pre-commit-hooks.yaml").read_bytes())
    git(hooks_repo, "add", ".")
    git(hooks_repo, "commit", "-q", "-m", "hooks")
    rev = git(hooks_repo, "rev-parse", "HEAD").strip()
    commit_file(repo, ".pre-commit-config.yaml",
                f"repos:\n- repo: {hooks_repo}\n  rev: {rev}\n  hooks:\n"
                "  - id: infill-system\n  - id: infill-check\n    stages: [manual]\n")
    installed = run(repo, *pre_commit, "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    staged_text = "def add(a, b):\n    return __FILL__\n" + "\n" * 5 + "X = 1\n"
    write(repo, "a.py", staged_text)
    git(repo, "add", "a.py")
    worktree = staged_text.replace("X = 1\n", "X = 1\nY = 'unstaged'\n")
    write(repo, "a.py", worktree)

    check = run(repo, *pre_commit, "run", "--hook-stage", "manual", "infill-check")
    assert check.returncode == 1 and "a.py:2:12: __FILL__" in check.stdout

    commit = run(repo, "git", "commit", "-m", "with a hole")
    assert commit.returncode == 1, commit.stdout + commit.stderr
    assert "a.py: filled 1 hole" in commit.stdout + commit.stderr, commit.stderr
    filled = (repo / "a.py").read_text()
    assert "__FILL__" not in filled and filled.endswith("X = 1\nY = 'unstaged'\n")
    assert staged(repo, "a.py").decode() == staged_text  # not committed, not added

    # The user reviews, stages the fill (without the unstaged line) and commits.
    write(repo, "a.py", filled.replace("Y = 'unstaged'\n", ""))
    git(repo, "add", "a.py")
    write(repo, "a.py", filled)
    commit = run(repo, "git", "commit", "-m", "filled")
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert (repo / "a.py").read_text() == filled


def test_the_git_modules_import_no_torch_git_or_textual():
    code = ("import sys, infill, infill.gitops.hook, infill.gitops.install, infill.gitops.diff, "
            "infill.gitops.commands; "
            "print([m for m in ('torch', 'git', 'textual', 'transformers') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_cli_check_needs_no_model(repo, monkeypatch):
    monkeypatch.setenv("INFILL_MODEL", str(repo / "no-such-model"))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    write(repo, "a.py", HOLED)
    git(repo, "add", "a.py")
    proc = subprocess.run([sys.executable, "-m", "infill", "hook", "--check"], cwd=repo,
                          capture_output=True, text=True)
    assert (proc.returncode, proc.stdout) == (1, "a.py:2:12: __FILL__\n")
