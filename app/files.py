"""Opening and saving the buffer: glue over ``infill.document``, ``markers`` and ``patch``.

Every write goes through the guarded atomic write of DESIGN section 7 (``apply_patch``):
a file that changed on disk since it was read is never overwritten (``StaleFileError``).
"Save as" to a new name links a fully written temporary file into place, which fails rather
than replace a file that appeared meanwhile.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from infill.document import Document, decode_document, encode_text, read_document
from infill.errors import InputError
from infill.markers import MarkerSyntax, Span, parse_markers
from infill.patch import Patch, apply_patch, build_patch, create_file, make_patch


@dataclass(frozen=True)
class Opened:
    """A file as the editor shows it: the clean text and the spans its markers held."""

    doc: Document | None     # None: a new file, not on disk yet
    text: str
    spans: tuple[Span, ...]
    warning: str | None = None


def open_file(path: str, syntax: MarkerSyntax = MarkerSyntax()) -> Opened:
    """Read ``path``; markers become spans over the clean text. A missing file is new."""
    if not os.path.lexists(path):
        return Opened(None, "", ())
    doc = read_document(path)
    try:
        marked = parse_markers(doc.text, syntax, path)
    except InputError as error:  # bad markers: edit the text as it is, and say why
        return Opened(doc, doc.text, (), f"{error}; markers shown as text")
    return Opened(doc, marked.text, marked.spans)


def save(doc: Document | None, path: str, text: str) -> Document:
    """Write ``text`` over ``doc``'s file, if it still holds what was read; the new document."""
    if doc is None:
        return _create(path, text.encode("utf-8"), None)
    patch = make_patch(doc, text)
    if patch.new_bytes != doc.raw:
        apply_patch(patch)
    return decode_document(patch.new_bytes, path=doc.path, mode=doc.mode)


def save_as(doc: Document | None, text: str, target: str, overwrite: bool = False) -> Document:
    """Write ``text`` (in ``doc``'s encoding and newlines) to ``target``.

    An existing ``target`` is replaced only with ``overwrite``, and only if it does not
    change between this call's read and its write.
    """
    data = encode_text(doc, text) if doc is not None else text.encode("utf-8")
    mode = doc.mode if doc is not None else None
    if not os.path.lexists(target):
        return _create(target, data, mode)
    if not overwrite:
        raise FileExistsError(target)
    try:
        with open(target, "rb") as handle:
            current = handle.read()
    except OSError as error:
        raise InputError(f"cannot read: {error.strerror or error}", path=target) from None
    apply_patch(Patch(target, hashlib.sha256(current).hexdigest(), data, ""))
    return decode_document(data, path=target, mode=mode)


def _create(path: str, data: bytes, mode: int | None) -> Document:
    create_file(path, data, mode)
    return decode_document(data, path=path, mode=os.stat(path).st_mode)


def diff_text(old: str, new: str, path: str) -> str:
    """The unified diff a fill makes to the buffer, named by the file's base name."""
    return build_patch(old, new, os.path.basename(path) or "buffer")
