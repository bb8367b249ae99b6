"""What the hook reads and plans, before any filling: sources, markers, per-file outcomes.

``scan`` (pure: text to marker counts) feeds ``plan`` (which files need what); the sources
are the staged blobs (a plain git hook) or the work-tree files (under the pre-commit
framework). ``Report`` collects one outcome per file and gives the exit code. Split from
``hook.py``, which does the filling and writing, so that each reads in one sitting.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infill.document import Document, decode_document, is_binary
from infill.errors import InfillError, InputError
from infill.gitops import repo as gitrepo
from infill.markers import HOLE, MarkerSyntax, find_markers, marker_definition_lines, parse_markers

FILLED = "filled"  # the fill was written to the work tree
MARKERS = "markers"  # --check: markers found, nothing written
CONFLICT = "conflict"  # the fill clashed with unstaged changes and was rolled back
FAILED = "failed"  # this file could not be filled; the staged file keeps its markers

Out = Callable[[str], Any]


@dataclass(frozen=True)
class FileOutcome:
    path: str
    status: str
    message: str


@dataclass
class Report:
    """Per-file outcomes of one hook run; the exit code follows from them."""

    outcomes: list[FileOutcome] = field(default_factory=list)
    timed_out: bool = False

    def add(self, path: str, status: str, message: str, out: Out) -> None:
        self.outcomes.append(FileOutcome(path, status, message))
        out(message)

    @property
    def exit_code(self) -> int:
        return 1 if self.outcomes or self.timed_out else 0


@dataclass(frozen=True)
class Target:
    """A file that needs filling: its path and the document the fill is computed from."""

    path: str  # relative to the top of the work tree, "/"-separated
    document: Document
    holes: int
    regions: int


def scan(text: str, syntax: MarkerSyntax, path: str) -> tuple[int, int]:
    """The (holes, regions) that ``text`` asks to fill; ``InputError`` for bad markers."""
    marked = parse_markers(text, syntax, path=path)
    holes = sum(1 for span in marked.spans if span.kind == HOLE)
    return holes, len(marked.spans) - holes


def plan(
    sources: Mapping[str, tuple[bytes, int | None]],
    syntax: MarkerSyntax,
    report: Report,
    out: Out,
    check: bool,
) -> tuple[list[Target], list[InfillError]]:
    """The files that need filling, and the marker errors; ``--check`` reports markers."""
    targets: list[Target] = []
    errors: list[InfillError] = []
    for path, (raw, mode) in sources.items():
        try:
            document = decode_document(raw, path=path, mode=mode)
        except InputError as error:
            if not is_binary(raw) and _mentions_marker(raw, syntax):
                report.add(path, FAILED, f"{error} (it seems to hold a marker; not filled)", out)
            continue
        hits = find_markers(document.text, syntax)
        if path.rsplit("/", 1)[-1] == "pyproject.toml":
            # The [tool.infill] lines that define the markers are not markers.
            defined = marker_definition_lines(document.text)
            if all(hit.line in defined for hit in hits):
                continue
            if any(hit.line in defined for hit in hits) and not check:
                report.add(path, FAILED, f"{path}: holds markers besides the [tool.infill] "
                           "marker definitions; fill those by hand (not filled)", out)
                continue
            hits = [hit for hit in hits if hit.line not in defined]
        if not hits:
            continue
        if check:
            for hit in hits:
                report.add(path, MARKERS, f"{path}:{hit.line}:{hit.column}: {hit.text}", out)
            continue
        try:
            holes, regions = scan(document.text, syntax, path)
        except InfillError as error:
            errors.append(error)
            continue
        targets.append(Target(path, document, holes, regions))
    return targets, errors


# ---------------------------------------------------------------------------- sources


def staged_sources(
    root: Path, paths: Sequence[str], all_files: bool
) -> dict[str, tuple[bytes, int | None]]:
    """The staged blobs of ``paths`` (or of every staged change): regular files only."""
    if not paths and not all_files:
        paths = gitrepo.staged_paths(root)
        if not paths:
            return {}
    entries = gitrepo.index_entries(root, () if all_files and not paths else paths)
    # Symlinks, submodules (gitlinks) and unmerged entries are not text to fill.
    entries = [e for e in entries if e.is_regular_file and e.stage == 0]
    blobs = gitrepo.read_blobs(root, [e.oid for e in entries])
    return {e.path: (blob, int(e.mode, 8)) for e, blob in zip(entries, blobs)}


def worktree_sources(root: Path, paths: Sequence[str]) -> dict[str, tuple[bytes, int | None]]:
    """The work-tree files ``paths`` (what the pre-commit framework hands a hook)."""
    sources = {}
    for path in paths:
        full = root / path
        if full.is_symlink() or not full.is_file():
            continue  # deleted, a directory (submodule) or a link
        sources[path] = (full.read_bytes(), full.stat().st_mode)
    return sources


def with_checkout_bytes(root: Path, target: Target, syntax: MarkerSyntax) -> Target:
    """The target as the work tree would hold its staged blob (eol and smudge filters).

    Filling these bytes, not the raw blob, keeps a CRLF checkout CRLF.
    """
    proc = gitrepo.git(["cat-file", "--filters", f":0:{target.path}"], root, check=False)
    if proc.returncode != 0:
        return target
    try:
        document = decode_document(proc.stdout, path=target.path, mode=target.document.mode)
    except InputError:
        return target
    if find_markers(document.text, syntax) != find_markers(target.document.text, syntax):
        return target
    return Target(target.path, document, target.holes, target.regions)


def excluded(path: str, exclude: Sequence[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(path, pattern) or fnmatch.fnmatch(name, pattern)
               for pattern in exclude)


def _mentions_marker(raw: bytes, syntax: MarkerSyntax) -> bool:
    text = raw.decode("utf-8", "replace")
    return any(marker in text for marker in (syntax.region_open, syntax.region_close)) or bool(
        syntax.hole_pattern().search(text)
    )
