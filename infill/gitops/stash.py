"""Set unstaged changes aside while the hook writes, the way pre-commit does, and restore them.

``unstaged_changes_set_aside(root, paths, patch_dir)`` saves the work tree's changes to
``paths`` against the index as a binary patch on disk *before* it touches anything, checks
out the index version of those files, and in ``finally`` re-applies the patch file by
file. A patch carries three lines of context, so an edit two lines below a hole no longer
applies once the hole is filled; such a file gets a second chance, a three-way merge
(``git merge-file``: base the index version, one side the fill, the other the user's file),
which succeeds whenever the edit and the fill touch different lines. Only when both fail
(the user edited the very lines that were filled) is the fill rolled back (the index
version checked out again) and the patch applied to that, which cannot fail; the file's
name goes to ``SetAside.conflicts`` and the patch file is kept, so the caller can say where
it is. When every file was restored without a conflict the patch file is removed.

Unlike pre-commit this works per file and only on the files the hook is about to write:
the window in which the user's edits live only in the patch file is the few milliseconds
of the write, not the whole fill, and a conflict in one file leaves the fills of the others.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infill.errors import InfillError
from infill.gitops.repo import GitError, apply_patch_file, checkout_index, git, unstaged_patch
from infill.patch import Patch, apply_patch, fsync_directory
from infill.signals import deferred_interrupts


@dataclass
class SetAside:
    """What ``unstaged_changes_set_aside`` did; filled in as it goes."""

    patch_path: Path | None = None  # None: there was nothing to set aside
    paths: list[str] = field(default_factory=list)  # files whose changes were set aside
    conflicts: list[str] = field(default_factory=list)  # fills rolled back for these
    merged: list[str] = field(default_factory=list)  # fill and changes merged three-way
    refilled: list[str] = field(default_factory=list)  # the fills put into the user's version


def patch_file_name(now: float | None = None) -> str:
    """``20260522-101502-4242.patch``: sortable, and unique per process."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{stamp}-{os.getpid()}.patch"


@contextlib.contextmanager
def unstaged_changes_set_aside(
    root: Path, paths: Sequence[str], patch_dir: Path,
    refills: Mapping[str, Callable[[bytes], bytes | None]] | None = None,
) -> Iterator[SetAside]:
    """Within the block, ``paths`` hold their index version in the work tree.

    Ctrl-C and SIGTERM are held back from the moment the patch is saved until every file
    is restored (``deferred_interrupts``), and git's children run in their own process
    group, so a signal to the terminal's group cannot kill a checkout half-way. The patch
    is on disk (fsynced) before the first file is touched and is named ``*.inprogress.patch``
    until the restore has finished: a SIGKILL leaves it there, and the next hook run names
    it (``interrupted_patches``).
    """
    state = SetAside()
    patches = {path: unstaged_patch(root, [path]) for path in paths}
    patches = {path: patch for path, patch in patches.items() if patch.strip()}
    if not patches:
        yield state
        return

    with deferred_interrupts():
        patch_dir.mkdir(parents=True, exist_ok=True)
        pending = patch_dir / patch_file_name().replace(".patch", PENDING)
        _write_durably(pending, b"".join(patches.values()))
        state.patch_path = pending.with_name(pending.name.replace(PENDING, ".patch"))
        theirs = {path: _regular_file(root / path) for path in patches}
        bases: dict[str, tuple[bytes, int] | None] = {}
        try:
            for path in patches:
                state.paths.append(path)  # before the checkout: restore it whatever happens
                checkout_index(root, [path])
                bases[path] = _regular_file(root / path)
            yield state
        finally:
            _restore(root, state, patches, bases, theirs, pending, refills or {})


#: The suffix of a patch whose changes are set aside right now (or were, by a killed run).
PENDING = ".inprogress.patch"


def interrupted_patches(patch_dir: Path) -> list[Path]:
    """Patches left by a hook run that was killed while it had changes set aside."""
    found = []
    for path in sorted(patch_dir.glob(f"*{PENDING}")):
        pid = path.name[: -len(PENDING)].rsplit("-", 1)[-1]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            found.append(path)
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _restore(
    root: Path,
    state: SetAside,
    patches: dict[str, bytes],
    bases: dict[str, tuple[bytes, int] | None],
    theirs: dict[str, tuple[bytes, int] | None],
    pending: Path,
    refills: Mapping[str, Callable[[bytes], bytes | None]],
) -> None:
    lost: list[str] = []
    for path in state.paths:
        patch = patches[path]
        if apply_patch_file(root, patch):
            continue
        if _merge_back(root, path, bases.get(path), theirs[path]):
            state.merged.append(path)
            continue
        if path in refills and _refill_theirs(root, path, theirs[path], refills[path]):
            state.refilled.append(path)
            continue
        state.conflicts.append(path)
        try:
            checkout_index(root, [path])  # roll the fill back
        except GitError:
            lost.append(path)
            continue
        if not apply_patch_file(root, patch):
            lost.append(path)
    if lost or state.conflicts:
        os.replace(pending, state.patch_path)  # kept: the caller names it
    else:
        pending.unlink(missing_ok=True)
    if lost:
        raise GitError(
            f"could not restore your unstaged changes to {', '.join(lost)}; they are safe in "
            f"{state.patch_path} (restore them with: git apply {state.patch_path})"
        )


def _merge_back(
    root: Path, path: str, base: tuple[bytes, int] | None, theirs: tuple[bytes, int] | None
) -> bool:
    """Merge the user's version into the filled file three-way; whether it merged cleanly."""
    ours = _regular_file(root / path)
    if base is None or theirs is None or ours is None:
        return False  # deleted or turned into a link: only the patch can say that
    with tempfile.TemporaryDirectory(prefix="infill-merge-") as scratch:
        names = []
        for label, data in (("ours", ours[0]), ("base", base[0]), ("theirs", theirs[0])):
            name = os.path.join(scratch, label)
            Path(name).write_bytes(data)
            names.append(name)
        proc = git(["merge-file", "-p", "-q", *names], root, check=False)
    if proc.returncode != 0:  # >0: conflicts; <0: an error (binary content)
        return False
    try:
        apply_patch(Patch(path=str(root / path), old_sha256=hashlib.sha256(ours[0]).hexdigest(),
                          new_bytes=proc.stdout, diff=""), within=root)
        os.chmod(root / path, stat.S_IMODE(theirs[1]))  # an unstaged chmod is a change too
    except (InfillError, OSError):
        return False
    return True


def _refill_theirs(root: Path, path: str, theirs: tuple[bytes, int] | None,
                   refill: Callable[[bytes], bytes | None]) -> bool:
    """Put the same fills into the user's version (its markers match); whether it worked."""
    ours = _regular_file(root / path)
    if theirs is None or ours is None:
        return False
    new = refill(theirs[0])
    if new is None:
        return False
    try:
        apply_patch(Patch(path=str(root / path), old_sha256=hashlib.sha256(ours[0]).hexdigest(),
                          new_bytes=new, diff=""), within=root)
        os.chmod(root / path, stat.S_IMODE(theirs[1]))
    except (InfillError, OSError):
        return False
    return True


def _regular_file(path: Path) -> tuple[bytes, int] | None:
    """The bytes and mode of a regular file; None for a missing file or a link."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            return None
        return path.read_bytes(), info.st_mode
    except OSError:
        return None


def _write_durably(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    fsync_directory(str(path.parent))  # the name too, not only the bytes
