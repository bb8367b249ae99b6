"""Small helpers over the ``git`` command line.

Every git operation infill needs goes through ``git()`` here: plumbing commands with
machine-readable output (``-z``), run from the top of the work tree, with the caller's
environment passed through untouched. That last point matters inside a hook: git runs a
``pre-commit`` hook with ``GIT_INDEX_FILE`` pointing at the index being committed (a
temporary one for ``git commit -a`` or ``git commit PATH``), and every read of "the staged
content" must see that index.

The ``git`` executable is used rather than gitpython: it is what pre-commit does, it
handles every index extension and filter git knows, and nothing here needs a Python import
beyond ``subprocess``.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from infill.errors import InfillError

#: Index modes of entries that are not regular files.
MODE_SYMLINK = "120000"
MODE_SUBMODULE = "160000"


_OWN_GROUP = {"process_group": 0} if os.name == "posix" else {}


class GitError(InfillError):
    """A git command failed, or the path is not in a git work tree (exit code 2)."""


@dataclass(frozen=True)
class IndexEntry:
    """One entry of the index: ``git ls-files --stage``."""

    mode: str
    oid: str
    stage: int
    path: str  # relative to the top of the work tree, "/"-separated

    @property
    def is_regular_file(self) -> bool:
        return self.mode in ("100644", "100755")


def git(
    args: Sequence[str],
    cwd: str | os.PathLike[str],
    *,
    input: bytes | None = None,
    check: bool = True,
    ok_codes: Iterable[int] = (0,),
) -> subprocess.CompletedProcess[bytes]:
    """Run ``git ARGS`` in ``cwd`` and return the completed process (bytes out and err).

    Raises ``GitError`` with git's own message when the exit code is not in ``ok_codes``
    and ``check`` is true.
    """
    try:
        proc = subprocess.run(
            ["git", *args],
            cwd=os.fspath(cwd),
            input=input,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            check=False,
            # Its own process group: Ctrl-C in the terminal reaches infill, which decides
            # when to stop, and never kills a checkout (or its smudge filter) half-way.
            **_OWN_GROUP,
        )
    except FileNotFoundError:
        raise GitError("git is not installed (or not on PATH)") from None
    if check and proc.returncode not in tuple(ok_codes):
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = message[-1] if message else f"exit code {proc.returncode}"
        raise GitError(f"'git {' '.join(args[:2])}' failed: {reason}")
    return proc


def git_text(args: Sequence[str], cwd: str | os.PathLike[str]) -> str:
    """The stripped standard output of ``git ARGS`` as text."""
    return os.fsdecode(git(args, cwd).stdout).strip()


def repo_root(path: str | os.PathLike[str] = ".") -> Path:
    """The top of the work tree that holds ``path``; ``GitError`` outside one."""
    start = Path(path)
    if not start.is_dir():
        start = start.parent
    proc = git(["rev-parse", "--show-toplevel"], start, check=False)
    top = os.fsdecode(proc.stdout).strip()
    if proc.returncode != 0 or not top:
        raise GitError("not inside a git work tree (run it in a repository)", path=str(path))
    return Path(top)


def git_path(root: Path, name: str) -> Path:
    """``git rev-parse --git-path NAME``: where git keeps ``NAME`` (hooks, info, ...).

    This follows ``core.hooksPath`` for ``hooks`` and the common directory of a linked
    work tree, which a hand-built ``.git/NAME`` would not.
    """
    found = Path(git_text(["rev-parse", "--git-path", name], root))
    return found if found.is_absolute() else (root / found).resolve()


def git_dir(root: Path) -> Path:
    """The repository's own git directory (``.git``, or its linked work tree's)."""
    return Path(git_text(["rev-parse", "--absolute-git-dir"], root))


def head_tree(root: Path) -> str:
    """The tree of ``HEAD``, or the empty tree in a repository with no commits yet."""
    proc = git(["rev-parse", "--verify", "-q", "HEAD^{tree}"], root, check=False)
    if proc.returncode == 0:
        return proc.stdout.decode().strip()
    return empty_tree(root)


def empty_tree(root: Path) -> str:
    """The id of the empty tree in this repository's hash (SHA-1 or SHA-256)."""
    out = git(["hash-object", "-t", "tree", "--stdin"], root, input=b"").stdout
    return out.decode().strip()


def resolve_tree(root: Path, rev: str) -> str:
    """The tree a revision names; ``GitError`` with a clear message when it names none."""
    proc = git(["rev-parse", "--verify", "-q", f"{rev}^{{tree}}"], root, check=False)
    if proc.returncode != 0:
        raise GitError(f"unknown revision '{rev}' (a commit, branch or tag is expected)")
    return proc.stdout.decode().strip()


def index_entries(root: Path, paths: Sequence[str] = ()) -> list[IndexEntry]:
    """The index entries for ``paths`` (all of them when empty), in index order."""
    out = git(["ls-files", "--stage", "-z", "--", *_literal(paths)], root).stdout
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, oid, stage = meta.decode().split(" ")
        entries.append(IndexEntry(mode, oid, int(stage), os.fsdecode(name)))
    return entries


def staged_paths(root: Path) -> list[str]:
    """Paths added, copied, modified or renamed in the index since ``HEAD`` (no deletions)."""
    out = git(
        ["diff-index", "--cached", "--name-only", "-z", "--no-renames",
         "--diff-filter=ACMRT", "--ignore-submodules", head_tree(root), "--"],
        root,
    ).stdout
    return [os.fsdecode(name) for name in out.split(b"\0") if name]


def read_blobs(root: Path, oids: Sequence[str]) -> list[bytes]:
    """The contents of the blobs ``oids``, in order, through one ``git cat-file --batch``."""
    if not oids:
        return []
    out = git(["cat-file", "--batch"], root, input="".join(o + "\n" for o in oids).encode()).stdout
    blobs = []
    cursor = 0
    for oid in oids:
        newline = out.index(b"\n", cursor)
        header = out[cursor:newline].decode().split()
        if len(header) != 3:
            raise GitError(f"cannot read object {oid} from the index")
        size = int(header[2])
        start = newline + 1
        blobs.append(out[start : start + size])
        cursor = start + size + 1  # the content is followed by a newline
    return blobs


def unstaged_patch(root: Path, paths: Sequence[str]) -> bytes:
    """A binary patch of the work tree's changes to ``paths`` against the index.

    Plumbing (``diff-files``) rather than ``git diff``: a user's ``diff.noprefix``,
    ``diff.external`` or colour settings must not change a patch that ``git apply`` reads.
    """
    if not paths:
        return b""
    return git(
        ["diff-files", "-p", "--binary", "--no-color", "--no-ext-diff", "--ignore-submodules",
         "--", *_literal(paths)],
        root,
    ).stdout


def checkout_index(root: Path, paths: Sequence[str]) -> None:
    """Write the index version of ``paths`` to the work tree (filters and eol applied)."""
    if paths:
        git(["checkout-index", "-f", "-q", "--", *paths], root)


def apply_patch_file(root: Path, patch: bytes) -> bool:
    """``git apply`` a patch to the work tree; whether it applied (all or nothing)."""
    args = ["apply", "--whitespace=nowarn", "-"]
    if git(args, root, input=patch, check=False).returncode == 0:
        return True
    # pre-commit retries with autocrlf off: a CRLF work tree can make a clean patch fail.
    return git(["-c", "core.autocrlf=false", *args], root, input=patch, check=False).returncode == 0


def relative_to_root(root: Path, path: str, cwd: str | os.PathLike[str] | None = None) -> str:
    """``path`` (relative to ``cwd`` or absolute) as a "/"-separated path from ``root``."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    absolute = os.path.abspath(base / path)
    # Resolve the directory, not the file: a tracked symlink is named by its own path.
    full = Path(os.path.realpath(os.path.dirname(absolute))) / os.path.basename(absolute)
    try:
        rel = full.relative_to(root)
    except ValueError:
        rel = Path(os.path.relpath(full, root))
    return rel.as_posix()


def _literal(paths: Sequence[str]) -> list[str]:
    """Pathspecs that match ``paths`` literally (a file may be called ``*.py``)."""
    return [f":(literal){p}" for p in paths]
