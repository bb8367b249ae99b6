"""``infill install-hook`` and ``uninstall-hook``: a plain ``pre-commit`` hook, for repositories
that do not use the pre-commit framework.

The hook is a POSIX ``sh`` script that runs ``"<python>" -m infill hook`` with the Python
that installed it, so it works from any shell, GUI client or IDE whatever is on their PATH.
It lives where git looks for hooks: ``git rev-parse --git-path hooks``, which follows
``core.hooksPath`` and linked work trees. A line with ``MARKER`` identifies it as ours:

- installing over our own hook rewrites it (a new Python, a new version);
- installing over any other hook is refused unless ``force``; with ``force`` the other hook
  is moved to ``pre-commit.infill-backup`` (refused when that name is taken);
- uninstalling removes only our hook, and puts a backup we made back in its place.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from pathlib import Path

from infill.errors import InfillError
from infill.gitops.repo import git_path, repo_root

HOOK_NAME = "pre-commit"
BACKUP_SUFFIX = ".infill-backup"
MARKER = "# infill-managed-hook: written by 'infill install-hook'"

_TEMPLATE = """#!/bin/sh
{marker}
# Fills the marked holes and regions of staged files and stops the commit so that
# you can review the fills and stage them. Remove with: infill uninstall-hook
# Skip once with: git commit --no-verify
INFILL_PYTHON={python}
if [ ! -x "$INFILL_PYTHON" ]; then
    echo "infill: the Python this hook was installed with is gone: $INFILL_PYTHON" >&2
    echo "infill: reinstall with 'infill install-hook', or skip with 'git commit --no-verify'" >&2
    exit 1
fi
exec "$INFILL_PYTHON" -m infill hook "$@"
"""


def hook_path(repo_dir: str | os.PathLike[str] = ".") -> Path:
    """Where git runs the ``pre-commit`` hook of the repository holding ``repo_dir``."""
    return git_path(repo_root(repo_dir), "hooks") / HOOK_NAME


def hook_script(python: str | None = None) -> str:
    """The text of the hook, running ``python`` (default: this interpreter)."""
    return _TEMPLATE.format(marker=MARKER, python=shlex.quote(python or sys.executable))


def is_infill_hook(path: Path) -> bool:
    """Whether the file at ``path`` is a hook that ``install_hook`` wrote."""
    try:
        head = path.read_bytes()[:4096]
    except OSError:
        return False
    return MARKER.encode() in head


def install_hook(repo_dir: str | os.PathLike[str] = ".", force: bool = False,
                 python: str | None = None) -> Path:
    """Write the hook and return its path; see the module docstring for what is refused."""
    path = hook_path(repo_dir)
    backup = path.with_name(HOOK_NAME + BACKUP_SUFFIX)
    if path.exists() or path.is_symlink():
        if not is_infill_hook(path):
            if not force:
                raise InfillError(
                    f"a pre-commit hook that infill did not write is already there; keep it, "
                    f"or run 'infill install-hook --force' to replace it (it is kept as "
                    f"{backup.name})", path=str(path))
            if backup.exists() or backup.is_symlink():
                raise InfillError(
                    f"{backup} already exists; move it away first, then install again",
                    path=str(path))
            os.replace(path, backup)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{HOOK_NAME}.infill-tmp")
    temporary.write_text(hook_script(python), encoding="utf-8", newline="\n")
    mode = temporary.stat().st_mode
    temporary.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(temporary, path)
    return path


def uninstall_hook(repo_dir: str | os.PathLike[str] = ".") -> bool:
    """Remove our hook (and restore the one it replaced); False when there is none of ours."""
    path = hook_path(repo_dir)
    if not is_infill_hook(path):
        return False
    path.unlink()
    backup = path.with_name(HOOK_NAME + BACKUP_SUFFIX)
    if backup.exists() or backup.is_symlink():
        os.replace(backup, path)
    return True
