"""The directory walk at the edge: which files a ``PATH`` argument of ``infill fill`` names.

``iter_files`` expands directory arguments in sorted order, skipping ``.git``, what git
ignores, binary files, excluded globs and symbolic links (a write through a link found in
a walk could leave the directory the user named; a link named on the command line is
followed). It asks git (one long-lived ``git check-ignore --stdin`` process per directory
argument) which paths are ignored, and prunes ignored directories before descending into
them. This is I/O and a subprocess, so it lives here and not in the pure ``document``.
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
from collections.abc import Iterator, Sequence

from infill.document import SNIFF_BYTES, is_binary
from infill.errors import InputError


def iter_files(paths: Sequence[str], exclude: Sequence[str] = ()) -> Iterator[str]:
    """The text files named by ``paths``, directories expanded, each real file once.

    Directories are walked in sorted order, skipping ``.git``, what git ignores (no
    filtering outside a work tree or without git), binary files, and anything whose path
    relative to the directory argument, path as yielded, or base name matches an
    ``exclude`` glob. Explicit file arguments are yielded as given, even when ignored.
    """
    seen: set[str] = set()

    def first_time(path: str) -> bool:
        key = os.path.realpath(path)
        if key in seen:
            return False
        seen.add(key)
        return True

    for arg in paths:
        if os.path.isdir(arg):
            with _GitIgnore(arg) as ignore:
                for path in _walk(arg, "", exclude, ignore, ""):
                    if first_time(path):
                        yield path
        elif os.path.exists(arg):
            if first_time(arg):
                yield arg
        else:
            raise InputError("no such file or directory", path=arg)


def _walk(
    root: str, rel: str, exclude: Sequence[str], ignore: _GitIgnore, base: str
) -> Iterator[str]:
    """Yield the files under ``root/rel``; ``ignore`` answers for paths under ``base``."""
    directory = os.path.join(root, rel) if rel else root
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return
    candidates = []
    for entry in entries:
        if entry.name == ".git":
            continue
        entry_rel = f"{rel}/{entry.name}" if rel else entry.name
        shown = os.path.normpath(os.path.join(root, entry_rel))
        if any(_matches(pattern, entry_rel, shown, entry.name) for pattern in exclude):
            continue
        candidates.append((entry, entry_rel, shown))
    ignored = ignore.ignored([entry_rel[len(base) :] for _, entry_rel, _ in candidates])
    for (entry, entry_rel, shown), skip in zip(candidates, ignored):
        if skip:
            continue
        try:
            if entry.is_dir(follow_symlinks=False):
                if os.path.lexists(os.path.join(entry.path, ".git")):
                    # A submodule or nested repository: its own rules apply, and the
                    # outer git refuses paths inside it.
                    with _GitIgnore(entry.path) as inner:
                        yield from _walk(root, entry_rel, exclude, inner, entry_rel + "/")
                else:
                    yield from _walk(root, entry_rel, exclude, ignore, base)
            elif entry.is_symlink():
                # Not followed: a write through it could leave the directory that was named.
                continue
            elif entry.is_file(follow_symlinks=False) and not _file_is_binary(entry.path):
                yield shown
        except OSError:
            continue


def _matches(pattern: str, rel: str, shown: str, name: str) -> bool:
    return any(fnmatch.fnmatch(candidate, pattern) for candidate in (rel, shown, name))


def _file_is_binary(path: str) -> bool:
    try:
        with open(path, "rb") as handle:
            return is_binary(handle.read(SNIFF_BYTES))
    except OSError:
        return False  # yield it: reading it later gives the user a clear error


def _git_environment() -> dict[str, str]:
    """The environment for ``check-ignore``, run in the directory argument.

    A git hook runs with ``GIT_DIR`` (and ``GIT_INDEX_FILE``) set, maybe relative; with
    ``GIT_DIR`` but no ``GIT_WORK_TREE`` git would take the directory argument for the top
    of the work tree. So, like pre-commit, let git discover the repository itself, unless
    both are given (a bare repository with a detached work tree), then make them absolute.
    """
    env = {**os.environ, "GIT_FLUSH": "1"}
    names = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE")
    for name in names:
        if "GIT_WORK_TREE" not in env:
            env.pop(name, None)
        elif env.get(name):
            env[name] = os.path.abspath(env[name])
    return env


class _GitIgnore:
    """A long-lived ``git check-ignore --stdin`` for one directory argument.

    Asked one directory's entries at a time, so that ignored directories are pruned before
    the walk enters them (a virtualenv or ``node_modules`` holds tens of thousands of
    files). Each batch is kept under the pipe's capacity and fully answered before the
    next, so writing can never block on git blocking on its output. When git is missing,
    the directory is not in a work tree, or git fails, nothing is ignored.
    """

    _BATCH_BYTES = 8192

    def __init__(self, root: str):
        self._buffer = b""
        try:
            self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
                ["git", "check-ignore", "--stdin", "-z", "--verbose", "--non-matching"],
                cwd=root,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                env=_git_environment(),
            )
        except OSError:
            self._proc = None

    def __enter__(self) -> _GitIgnore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()  # it holds no state worth a clean exit
            proc.communicate()

    def ignored(self, rels: list[str]) -> list[bool]:
        answers: list[bool] = []
        batch: list[bytes] = []
        size = 0
        for rel in rels:
            encoded = os.fsencode(rel) + b"\0"
            if batch and size + len(encoded) > self._BATCH_BYTES:
                answers += self._ask(batch)
                batch, size = [], 0
            batch.append(encoded)
            size += len(encoded)
        if batch:
            answers += self._ask(batch)
        return answers

    def _ask(self, batch: list[bytes]) -> list[bool]:
        if self._proc is None:
            return [False] * len(batch)
        try:
            self._proc.stdin.write(b"".join(batch))  # type: ignore[union-attr]
            self._proc.stdin.flush()  # type: ignore[union-attr]
            fields = self._read_fields(4 * len(batch))
        except (OSError, EOFError):
            self.close()  # not a work tree, or git failed: stop filtering
            return [False] * len(batch)
        # Records are (source, line number, pattern, path); a "!pattern" re-includes.
        patterns = fields[2::4]
        return [bool(pattern) and not pattern.startswith(b"!") for pattern in patterns]

    def _read_fields(self, count: int) -> list[bytes]:
        while self._buffer.count(b"\0") < count:
            chunk = self._proc.stdout.read1(65536)  # type: ignore[union-attr]
            if not chunk:
                raise EOFError
            self._buffer += chunk
        parts = self._buffer.split(b"\0", count)
        self._buffer = parts[count]
        return parts[:count]
