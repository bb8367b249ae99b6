"""``infill install-hook`` / ``uninstall-hook``: a plain git hook, in temporary repositories."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from infill.errors import InfillError
from infill.gitops.install import (BACKUP_SUFFIX, MARKER, hook_path, hook_script, install_hook,
                                   is_infill_hook, uninstall_hook)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def repo(git_env):
    path = git_env / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    return path


def git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_install_writes_an_executable_sh_script_that_runs_this_python(repo):
    path = install_hook(repo)
    assert path == repo / ".git" / "hooks" / "pre-commit"
    text = path.read_text()
    assert text.startswith("#!/bin/sh\n") and MARKER in text
    assert f"INFILL_PYTHON={sys.executable}\n" in text
    assert 'exec "$INFILL_PYTHON" -m infill hook' in text
    assert path.stat().st_mode & stat.S_IXUSR
    assert subprocess.run(["sh", "-n", str(path)]).returncode == 0


def test_python_path_with_spaces_is_quoted(tmp_path):
    script = tmp_path / "hook"
    script.write_text(hook_script("/opt/my python/bin/python3"))
    out = subprocess.run(["sh", "-c", '. /dev/stdin; echo "$INFILL_PYTHON"'],
                         input="\n".join(script.read_text().splitlines()[:6]),
                         capture_output=True, text=True)
    assert out.stdout == "/opt/my python/bin/python3\n"


def test_installed_from_a_subdirectory(repo):
    (repo / "src" / "pkg").mkdir(parents=True)
    assert install_hook(repo / "src" / "pkg") == repo / ".git" / "hooks" / "pre-commit"


def test_core_hooks_path_is_respected(repo):
    git(repo, "config", "core.hooksPath", ".githooks")
    path = install_hook(repo)
    assert path == repo / ".githooks" / "pre-commit" and is_infill_hook(path)
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    assert uninstall_hook(repo) and not path.exists()


def test_absolute_core_hooks_path(repo, tmp_path):
    shared = tmp_path / "shared-hooks"
    git(repo, "config", "core.hooksPath", str(shared))
    assert install_hook(repo) == shared / "pre-commit"


def test_reinstall_over_our_own_hook_needs_no_force(repo):
    install_hook(repo, python="/old/python")
    path = install_hook(repo)
    assert sys.executable in path.read_text() and "/old/python" not in path.read_text()
    assert not path.with_name("pre-commit" + BACKUP_SUFFIX).exists()


def test_a_foreign_hook_is_refused_then_backed_up_with_force_and_restored(repo):
    path = hook_path(repo)
    path.write_text("#!/bin/sh\necho mine\n")
    path.chmod(0o755)
    with pytest.raises(InfillError, match="--force"):
        install_hook(repo)
    assert path.read_text() == "#!/bin/sh\necho mine\n"

    install_hook(repo, force=True)
    backup = path.with_name("pre-commit" + BACKUP_SUFFIX)
    assert backup.read_text() == "#!/bin/sh\necho mine\n" and is_infill_hook(path)

    assert uninstall_hook(repo)
    assert path.read_text() == "#!/bin/sh\necho mine\n" and not backup.exists()
    assert path.stat().st_mode & stat.S_IXUSR


def test_force_refuses_to_overwrite_an_old_backup(repo):
    path = hook_path(repo)
    path.write_text("#!/bin/sh\necho one\n")
    path.with_name("pre-commit" + BACKUP_SUFFIX).write_text("#!/bin/sh\necho two\n")
    with pytest.raises(InfillError, match="already exists"):
        install_hook(repo, force=True)
    assert path.read_text() == "#!/bin/sh\necho one\n"


def test_uninstall_leaves_a_foreign_hook_alone(repo):
    path = hook_path(repo)
    assert not uninstall_hook(repo)
    path.write_text("#!/bin/sh\necho mine\n")
    assert not uninstall_hook(repo)
    assert path.read_text() == "#!/bin/sh\necho mine\n"


def test_not_a_repository(tmp_path):
    with pytest.raises(InfillError, match="not inside a git work tree"):
        install_hook(tmp_path)


def test_a_missing_python_stops_the_commit_with_a_message(repo):
    install_hook(repo, python=str(repo / "gone" / "python"))
    (repo / "a.txt").write_text("x\n")
    git(repo, "add", "a.txt")
    proc = subprocess.run(["git", "commit", "-m", "x"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 1
    assert "is gone" in proc.stderr and "--no-verify" in proc.stderr


@pytest.mark.slow
def test_git_commit_runs_the_installed_hook(repo, tmp_path, monkeypatch):
    """The whole path: git → the sh hook → python -m infill hook → the real engine."""
    pytest.importorskip("torch")
    from infill.testing import make_tiny_model

    monkeypatch.setenv("INFILL_MODEL", str(make_tiny_model(tmp_path / "tiny")))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    cli = subprocess.run([sys.executable, "-m", "infill", "install-hook"], cwd=repo,
                         capture_output=True, text=True)
    assert cli.returncode == 0 and "installed the infill pre-commit hook" in cli.stdout
    (repo / "a.py").write_text("def add(a, b):\n    return __FILL__\n")
    git(repo, "add", "a.py")

    # `git commit -a` runs the hook on a temporary index (GIT_INDEX_FILE).
    proc = subprocess.run(["git", "commit", "-a", "-m", "hole"], cwd=repo, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "a.py: filled 1 hole (review and re-stage)" in proc.stdout + proc.stderr
    assert "__FILL__" not in (repo / "a.py").read_text()
    assert subprocess.run(["git", "rev-parse", "-q", "--verify", "HEAD"], cwd=repo).returncode != 0

    git(repo, "add", "a.py")
    proc = subprocess.run(["git", "commit", "-m", "filled"], cwd=repo, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    shown = git(repo, "show", "HEAD:a.py").stdout
    assert "__FILL__" not in shown

    cli = subprocess.run([sys.executable, "-m", "infill", "uninstall-hook"], cwd=repo,
                         capture_output=True, text=True)
    assert cli.returncode == 0 and not hook_path(repo).exists()
