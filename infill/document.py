"""Documents: the bytes of a file, the text infill works on, and the way back to bytes.

The engine only ever sees ``Document.text``: decoded, BOM removed, every line ending turned
into ``"\\n"``. Everything needed to turn an edited text back into the file's own bytes is
kept beside it (encoding, BOM, the raw bytes themselves), so that writing a fill changes the
lines that were filled and nothing else.

Newlines. A file may mix ``"\\r\\n"``, ``"\\n"`` and ``"\\r"``. ``Document.newline`` is the
*dominant* style (the most frequent; a tie goes to the one seen first; ``"\\n"`` when the
file has no line ending at all). ``encode_text`` diffs the new text against the old one
line by line: lines that did not change are written back from the original bytes, with
their original terminators; lines infill produced (inserted or replaced) take the dominant
style. So ``encode_text(doc, doc.text) == doc.raw`` for every decodable input, and an edit
never rewrites the line endings of lines it did not touch.

Encodings. UTF-8 (with or without a BOM) first, then UTF-16 or UTF-32 when the file starts
with their BOM. Anything else is refused with the line of the first bad byte, rather than
guessed: a wrong guess would be written back as a silently corrupted file.

Pure: no subprocess, no git. Expanding directory arguments (and asking git what it
ignores) is the edge's job: ``infill.walk``.
"""

from __future__ import annotations

import codecs
import difflib
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field

from infill.errors import InputError

#: How much of a file is sniffed for binary content (git looks at the same amount).
SNIFF_BYTES = 8192

# Longest BOMs first: the UTF-32-LE BOM starts with the UTF-16-LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_LINE_END = re.compile(r"\r\n|\r|\n")
# Control bytes that do not occur in text. Tab, newlines, form feed, vertical tab,
# backspace and escape (ANSI colours in logs) do.
_NON_TEXT = frozenset(range(0x20)) - frozenset(b"\t\n\r\f\v\b\x1b") | {0x7F}
_BINARY_MESSAGE = "binary file; infill works on text files"


@dataclass(frozen=True)
class Document:
    """One file (or stdin) as infill sees it; ``text`` is what the engine edits."""

    path: str | None
    raw: bytes = field(repr=False)
    text: str = field(repr=False)
    encoding: str = "utf-8"
    bom: bool = False
    newline: str = "\n"
    mode: int | None = None
    sha256: str = ""

    def line_of(self, offset: int) -> int:
        """The 1-based line of character ``offset`` in ``text``."""
        return self.text.count("\n", 0, max(offset, 0)) + 1


def is_binary(head: bytes) -> bool:
    """Whether the first bytes of a file say it is not text.

    A NUL byte, or mostly control bytes, like git and grep. A UTF-16/32 BOM says text even
    though such files are full of NUL bytes.
    """
    head = head[:SNIFF_BYTES]
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_BE)):
        return False
    if b"\0" in head:
        return True
    if not head:
        return False
    non_text = sum(1 for byte in head if byte in _NON_TEXT)
    return non_text / len(head) > 0.3


def decode_document(raw: bytes, path: str | None = None, mode: int | None = None) -> Document:
    """Decode ``raw`` into a ``Document``, or say why it cannot be edited as text."""
    encoding, bom_bytes = _detect_bom(raw)
    if encoding == "utf-8" and is_binary(raw):
        raise InputError(_BINARY_MESSAGE, path=path)
    decoded = _decode_body(raw[len(bom_bytes) :], encoding, path)
    if "\0" in decoded[:SNIFF_BYTES]:
        raise InputError(_BINARY_MESSAGE, path=path)
    return Document(
        path=path,
        raw=raw,
        text=_LINE_END.sub("\n", decoded),
        encoding=encoding,
        bom=bool(bom_bytes),
        newline=dominant_newline(decoded),
        mode=mode,
        sha256=hashlib.sha256(raw).hexdigest(),
    )


def read_document(path: str | os.PathLike[str]) -> Document:
    """Read and decode the file at ``path`` (symlinks are followed)."""
    name = os.fspath(path)
    try:
        # Non-blocking, so that opening a FIFO returns at once instead of waiting for a writer.
        fd = os.open(name, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError("no such file", path=name) from None
    except IsADirectoryError:
        raise InputError("is a directory, not a file", path=name) from None
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path=name) from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise InputError("is a directory, not a file", path=name)
        # /dev/zero never ends and a FIFO may never be written: neither is a file to fill.
        raise InputError("not a regular file (a device, FIFO or socket); infill reads "
                         "files, or '-' for stdin", path=name)
    with os.fdopen(fd, "rb") as handle:
        try:
            raw = handle.read()
        except OSError as error:
            raise InputError(f"cannot read: {error.strerror or error}", path=name) from None
    return decode_document(raw, path=name, mode=mode)


def dominant_newline(text: str) -> str:
    """The most frequent line ending of ``text``; ties go to the first seen; else ``"\\n"``."""
    counts: dict[str, int] = {}
    for match in _LINE_END.finditer(text):
        counts[match.group()] = counts.get(match.group(), 0) + 1
    if not counts:
        return "\n"
    return max(counts, key=counts.__getitem__)  # dicts keep first-seen order on ties


def split_lines(text: str) -> list[str]:
    """``text`` split after each ``"\\n"`` (``str.splitlines`` also splits at \\f, \\x85...)."""
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def encode_text(doc: Document, new_text: str) -> bytes:
    """The bytes of ``doc`` with its text replaced by ``new_text``.

    Unchanged lines keep their original bytes (terminators included); new or changed lines
    use the dominant newline. Line endings in ``new_text`` may be any of the three styles.
    """
    old_lines = _raw_lines(doc)
    old_text_lines = [content + ("\n" if end else "") for content, end in old_lines]
    new_lines = split_lines(_LINE_END.sub("\n", new_text))

    # Trim the common head and tail first: most edits touch a few lines of a long file.
    head = 0
    limit = min(len(old_text_lines), len(new_lines))
    while head < limit and old_text_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while tail < limit - head and old_text_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1

    def original(lo: int, hi: int) -> list[str]:
        return [content + end for content, end in old_lines[lo:hi]]

    def produced(lines: list[str]) -> list[str]:
        return [line[:-1] + doc.newline if line.endswith("\n") else line for line in lines]

    old_mid = old_text_lines[head : len(old_text_lines) - tail]
    new_mid = new_lines[head : len(new_lines) - tail]
    out = original(0, head)
    matcher = difflib.SequenceMatcher(None, old_mid, new_mid, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += original(head + i1, head + i2)
        else:
            out += produced(new_mid[j1:j2])
    out += original(len(old_lines) - tail, len(old_lines))

    body = "".join(out)
    try:
        encoded = body.encode(doc.encoding)
    except UnicodeEncodeError as error:
        line = body.count("\n", 0, error.start) + 1
        raise InputError(
            f"the new text cannot be written as {doc.encoding}: {error.reason}",
            path=doc.path,
            line=line,
        ) from None
    return (_bom_for(doc.encoding) if doc.bom else b"") + encoded


# ---------------------------------------------------------------------------- decoding


def _detect_bom(raw: bytes) -> tuple[str, bytes]:
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return encoding, bom
    return "utf-8", b""


def _bom_for(encoding: str) -> bytes:
    return next(bom for bom, name in _BOMS if name == encoding)


def _decode_body(body: bytes, encoding: str, path: str | None) -> str:
    try:
        return body.decode(encoding)
    except UnicodeDecodeError as error:
        before = body[: error.start].decode(encoding, errors="replace")
        line = len(_LINE_END.findall(before)) + 1
        column = len(before) - max(before.rfind("\n"), before.rfind("\r"))
        if encoding == "utf-8":
            reason = (
                f"not valid UTF-8 (byte 0x{body[error.start]:02x} at column {column}); "
                "re-encode the file as UTF-8"
            )
        else:
            reason = f"not valid {encoding.upper()} at column {column}; re-encode the file as UTF-8"
        raise InputError(reason, path=path, line=line) from None


def _raw_lines(doc: Document) -> list[tuple[str, str]]:
    """The original lines of ``doc`` as (content, original terminator) pairs."""
    encoding, bom_bytes = _detect_bom(doc.raw)
    decoded = doc.raw[len(bom_bytes) :].decode(encoding)
    lines: list[tuple[str, str]] = []
    start = 0
    for match in _LINE_END.finditer(decoded):
        lines.append((decoded[start : match.start()], match.group()))
        start = match.end()
    if start < len(decoded):
        lines.append((decoded[start:], ""))
    return lines
