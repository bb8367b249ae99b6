"""Patches: a fill as a unified diff, and the guarded atomic write that applies it.

``build_patch`` and ``build_patch_bytes`` are pure: they produce the diff format ``git apply``
reads (``diff --git`` header, hunks, ``\\ No newline at end of file`` exactly where git puts
it). ``build_patch`` diffs decoded text; ``build_patch_bytes`` diffs the real bytes split on
``b"\\n"`` only, so a CR before the newline stays part of the line and the patch applies to
CRLF files byte for byte.

``apply_patch`` is the one place that writes a user's file (DESIGN section 7). It refuses
when the file no longer holds the bytes the fill was computed from, writes a temporary file
beside the target, fsyncs it, gives it the original mode and moves it into place with
``os.replace``, which is atomic on POSIX and Windows. Anything that goes wrong before the
replace, Ctrl-C included, removes the temporary file and leaves the original untouched.
Symlinks are resolved: the target is rewritten and the link stays a link. A file with
several hard links loses the link (like every editor that saves atomically).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass, field

from infill.document import Document, encode_text, split_lines
from infill.errors import InputError, StaleFileError

_NO_NEWLINE = "\\ No newline at end of file\n"
# Git's C-style escapes for quoted path names; other odd bytes become octal.
_ESCAPES = {
    0x07: "\\a",
    0x08: "\\b",
    0x09: "\\t",
    0x0A: "\\n",
    0x0B: "\\v",
    0x0C: "\\f",
    0x0D: "\\r",
    0x22: '\\"',
    0x5C: "\\\\",
}


@dataclass(frozen=True)
class Patch:
    """The new bytes of one file, and the hash of the bytes they replace."""

    path: str
    old_sha256: str
    new_bytes: bytes = field(repr=False)
    diff: str = field(repr=False)


def build_patch(old: str, new: str, path: str, context: int = 3) -> str:
    """A unified diff from ``old`` to ``new`` (``"\\n"`` line endings) that ``git apply`` takes.

    ``path`` is relative to where the patch will be applied. Returns ``""`` when nothing
    changed.
    """
    if old == new:
        return ""
    return _unified(split_lines(old), split_lines(new), path, context)


def build_patch_bytes(old: bytes, new: bytes, path: str, context: int = 3) -> bytes:
    """Like ``build_patch`` over raw bytes: CRs and undecodable bytes are kept exactly.

    Meant for UTF-8 and other ASCII-compatible files; git treats UTF-16 files as binary.
    """
    if old == new:
        return b""
    # surrogateescape maps every byte to one character and back, whatever the encoding.
    old_text = old.decode("utf-8", "surrogateescape")
    new_text = new.decode("utf-8", "surrogateescape")
    text = _unified(split_lines(old_text), split_lines(new_text), path, context)
    return text.encode("utf-8", "surrogateescape")


def make_patch(doc: Document, new_text: str, display_path: str | None = None) -> Patch:
    """The patch that turns ``doc`` into ``new_text``, kept in the file's own bytes.

    ``diff`` is the diff of the real bytes for UTF-8 files (so ``git apply`` reproduces
    ``new_bytes`` exactly, CRLF included) and a diff of the text for UTF-16/32 files, which
    git treats as binary. ``display_path`` names the file in the diff (default: its path).
    """
    if doc.path is None:
        raise ValueError("make_patch needs a document read from a file")
    new_bytes = encode_text(doc, new_text)
    shown = display_path if display_path is not None else doc.path
    if doc.encoding == "utf-8":
        diff = build_patch_bytes(doc.raw, new_bytes, shown).decode("utf-8", "surrogateescape")
    else:
        diff = build_patch(doc.text, new_text, shown)
    return Patch(path=doc.path, old_sha256=doc.sha256, new_bytes=new_bytes, diff=diff)


def apply_patch(patch: Patch, *, within: str | os.PathLike[str] | None = None) -> None:
    """Write ``patch.new_bytes`` over ``patch.path`` atomically, if the file is unchanged.

    Raises ``StaleFileError`` when the file's bytes are not the ones the patch was made
    from (checked when it is opened and again just before the rename), and ``InputError``
    when the file cannot be read or written, is read-only, or (with ``within``) resolves
    through a symlink to a place outside the directory ``within``. In every failure the
    file is left as it was and no temporary file remains.
    """
    target = os.path.realpath(patch.path)
    if within is not None:
        top = os.path.realpath(within)
        if os.path.commonpath([top, target]) != top:
            raise InputError(f"is a symbolic link to {target}, outside {within}; not written",
                             path=patch.path)
    current, info = _read_current(target, patch.path)
    if not stat.S_ISREG(info.st_mode):
        raise InputError("not a regular file; not written", path=patch.path)
    if hashlib.sha256(current).hexdigest() != patch.old_sha256:
        raise StaleFileError(
            "changed on disk since it was read; nothing was written", path=patch.path
        )
    if info.st_mode & 0o222 == 0 or not os.access(target, os.W_OK):
        raise InputError("is read-only; not written (make it writable to fill it)",
                         path=patch.path)

    directory, name = os.path.split(target)
    _remove_stale_temporaries(directory, name)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=TEMP_SUFFIX,
                                         dir=directory)
    except OSError as error:
        raise InputError(
            f"cannot write in {directory}: {error.strerror or error}", path=patch.path
        ) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(patch.new_bytes)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temporary, stat.S_IMODE(info.st_mode))
        try:
            os.chown(temporary, info.st_uid, info.st_gid)  # keeps a shared group, where allowed
        except (OSError, AttributeError):
            pass
        # The fsync above takes milliseconds: an editor may have saved meanwhile. Look
        # again, as late as possible; what is left is the time between this read and the
        # rename (docs/GIT.md gives the measured figure).
        again, _ = _read_current(target, patch.path)
        if again != current:
            raise StaleFileError(
                "changed on disk while infill was writing it; nothing was written",
                path=patch.path)
        os.replace(temporary, target)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError):
            raise InputError(
                f"cannot write: {error.strerror or error}; nothing was written", path=patch.path
            ) from error
        raise
    fsync_directory(directory)


def create_file(path: str, data: bytes, mode: int | None = None) -> None:
    """Write a *new* file at ``path`` atomically: a fully written, fsynced temporary file is
    linked into place, which fails (``StaleFileError``) rather than replace a file that
    appeared meanwhile. Used by "save as" to a new name."""
    directory = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    try:
        fd, temporary = tempfile.mkstemp(prefix=f".{name}.{os.getpid()}.", suffix=TEMP_SUFFIX,
                                         dir=directory)
    except OSError as error:
        raise InputError(f"cannot write in {directory}: {error.strerror or error}",
                         path=path) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, stat.S_IMODE(mode))
        os.link(temporary, path)  # fails if the name exists: never replaces a file
    except FileExistsError:
        raise StaleFileError("was created by someone else meanwhile; nothing was written",
                             path=path) from None
    except OSError as error:
        raise InputError(f"cannot write: {error.strerror or error}", path=path) from None
    finally:
        try:
            os.unlink(temporary)
        except OSError:
            pass
    fsync_directory(directory)


#: Temporary files are ``.NAME.PID.RANDOM.infill`` beside their target.
TEMP_SUFFIX = ".infill"


def _read_current(target: str, shown: str) -> tuple[bytes, os.stat_result]:
    """The bytes and status of the file about to be replaced (never blocks on a FIFO)."""
    try:
        fd = os.open(target, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise StaleFileError("no longer exists; nothing was written", path=shown) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path=shown) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        return b"", info
    with os.fdopen(fd, "rb") as handle:
        try:
            return handle.read(), info
        except OSError as error:
            raise InputError(f"cannot read: {error.strerror or error}", path=shown) from None


def _remove_stale_temporaries(directory: str, name: str) -> None:
    """Remove ``.NAME.PID.*.infill`` files whose process is gone (a SIGKILL mid-write)."""
    prefix = f".{name}."
    try:
        entries = [e for e in os.listdir(directory)
                   if e.startswith(prefix) and e.endswith(TEMP_SUFFIX)]
    except OSError:
        return
    for entry in entries:
        pid = entry[len(prefix):].split(".", 1)[0]
        if not pid.isdigit() or _process_alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(directory, entry))
        except OSError:
            pass


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


def fsync_directory(directory: str) -> None:
    """Make the rename durable; not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unified(old: list[str], new: list[str], path: str, context: int) -> str:
    name = _normalise(path)
    out = [
        f"diff --git {_quote('a/' + name)} {_quote('b/' + name)}\n",
        f"--- {_quote('a/' + name)}\n",
        f"+++ {_quote('b/' + name)}\n",
    ]
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for group in matcher.get_grouped_opcodes(context):
        i1, i2 = group[0][1], group[-1][2]
        j1, j2 = group[0][3], group[-1][4]
        out.append(f"@@ -{_range(i1, i2)} +{_range(j1, j2)} @@\n")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out += _marked(" ", old[a1:a2])
                continue
            out += _marked("-", old[a1:a2])
            out += _marked("+", new[b1:b2])
    return "".join(out)


def _marked(sign: str, lines: list[str]) -> list[str]:
    return [
        sign + line if line.endswith("\n") else f"{sign}{line}\n{_NO_NEWLINE}"
        for line in lines
    ]


def _range(start: int, stop: int) -> str:
    """A hunk range as git writes it: ``3`` for one line, ``0,0`` before the first."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start + 1 if length else start},{length}"


def _normalise(path: str) -> str:
    name = path.replace(os.sep, "/")
    while name.startswith("./"):
        name = name[2:]
    return name


def _quote(name: str) -> str:
    """Quote a path the way git does when it holds a quote, backslash or control byte."""
    data = name.encode("utf-8", "surrogateescape")
    if not any(byte < 0x20 or byte in (0x22, 0x5C, 0x7F) or byte >= 0x80 for byte in data):
        return name
    parts = []
    for byte in data:
        if byte in _ESCAPES:
            parts.append(_ESCAPES[byte])
        elif byte < 0x20 or byte >= 0x7F:
            parts.append(f"\\{byte:03o}")
        else:
            parts.append(chr(byte))
    return '"' + "".join(parts) + '"'
