"""Diff mode's glue over ``infill.gitops.diff``: no Textual, and no git of its own.

``open_diff`` loads what ``git diff [--staged] [REV] [-- PATH...]`` shows; the rest turns a
``FileDiff`` into what the screen needs: a line per file and per hunk for the file list, the
*regions* the buffer keeps anchored (each hunk's lines, its added lines), the patch text the
diff pane shows, and, after a write, the file reloaded against the same base and its patch
against ``HEAD``.

A fill is written to the work tree, so after a write the file is compared from there: with
``--staged`` its base is ``HEAD`` (or ``REV``), as before, and its new side the work tree.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from infill.document import read_document
from infill.errors import InfillError, InputError
from infill.gitops.diff import (head_base, work_tree_root, ADDED as ADDED_FILE, COPIED, DELETED, MODIFIED, RENAMED,
                                TYPECHANGE, UNMERGED, WORKTREE, FileDiff, Hunk, hunk_span,
                                lines_span, load_diff)

from .spans import ADDED

HUNK, WHOLE = "hunk", "whole"  # region tags, with ":INDEX": a hunk's lines, its span
Region = tuple[int, int, str]

_LETTERS = {ADDED_FILE: "A", DELETED: "D", MODIFIED: "M", RENAMED: "R", COPIED: "C",
            TYPECHANGE: "T", UNMERGED: "U"}
HUNK_LABEL_WIDTH = 20


@dataclass(frozen=True)
class DiffRequest:
    """What the user asked for: ``git diff [--staged] [REV] [-- PATHS]`` run in ``repo_dir``."""

    repo_dir: str
    root: Path  # the top of the work tree: FileDiff paths are relative to it
    rev: str | None = None
    staged: bool = False
    paths: tuple[str, ...] = ()

    def describe(self) -> str:
        words = ["git diff", *(["--staged"] if self.staged else []),
                 *([self.rev] if self.rev else []), *(["--", *self.paths] if self.paths else [])]
        return " ".join(words)

    def path_of(self, file_diff: FileDiff) -> str:
        return str(self.root / file_diff.path)


@dataclass(frozen=True)
class FileRow:
    """One line of the file list: a file (``hunk`` None) or one of its hunks."""

    label: str
    file: int
    hunk: int | None
    editable: bool


@dataclass(frozen=True)
class HunkPlace:
    """Where hunk ``index`` is in the buffer now: its lines, the span ``ctrl+o`` marks (empty
    where a hunk only removed lines) and its runs of added lines; ``(start, end)`` offsets."""

    index: int
    area: tuple[int, int]
    whole: tuple[int, int] | None
    runs: tuple[tuple[int, int], ...]

    @property
    def target(self) -> int:
        """Where the cursor goes to show the hunk: its first added line."""
        return self.whole[0] if self.whole is not None else self.area[0]


def open_diff(repo_dir: str | os.PathLike[str], rev: str | None = None, staged: bool = False,
              paths: Sequence[str] = ()) -> tuple[DiffRequest, list[FileDiff]]:
    """The request and its files; ``InputError`` outside a git work tree or for a bad REV."""
    root = work_tree_root(repo_dir)
    try:
        files = load_diff(repo_dir, rev=rev, staged=staged, paths=tuple(paths))
    except InputError:
        raise
    except InfillError as error:  # git failed
        raise InputError(error.reason, path=error.path) from None
    return DiffRequest(os.fspath(repo_dir), root, rev, staged, tuple(paths)), files


def unavailable(file_diff: FileDiff) -> str | None:
    """Why ``file_diff`` cannot be edited, or None when it can."""
    if file_diff.new_text is not None:
        return None
    if file_diff.status == DELETED:
        return "deleted (there is no new version)"
    if file_diff.binary:
        return "binary file (infill edits text only)"
    return file_diff.note or file_diff.status


def file_label(file_diff: FileDiff) -> str:
    """``M a.py``, ``R old.py → new.py``, ``A logo.png (binary)``."""
    letter = _LETTERS.get(file_diff.status, "?")
    if file_diff.status in (RENAMED, COPIED) and file_diff.old_path:
        name = f"{file_diff.old_path} → {file_diff.new_path}"
    else:
        name = file_diff.path
    return f"{letter} {name}" + (" (binary)" if file_diff.binary else "")


def hunk_label(hunk: Hunk) -> str:
    """``L12 +3 -1 def parse(`` (the section cut to fit the list)."""
    added = sum(line.kind == "+" for line in hunk.lines)
    removed = sum(line.kind == "-" for line in hunk.lines)
    label = f"L{hunk.new_start} +{added} -{removed} {hunk.section}".rstrip()
    return label if len(label) <= HUNK_LABEL_WIDTH else label[:HUNK_LABEL_WIDTH - 1] + "…"


def file_rows(files: Sequence[FileDiff]) -> list[FileRow]:
    """The file list: each file, then (when it can be edited) its hunks."""
    rows = []
    for index, file_diff in enumerate(files):
        editable = unavailable(file_diff) is None
        rows.append(FileRow(file_label(file_diff), index, None, editable))
        if editable:
            rows.extend(FileRow(f"  {hunk_label(hunk)}", index, number, True)
                        for number, hunk in enumerate(file_diff.hunks))
    return rows


# ---------------------------------------------------------------------------- regions


def diff_regions(file_diff: FileDiff) -> tuple[Region, ...]:
    """Regions over ``new_text`` for the buffer to anchor: per hunk, its shown lines
    (``hunk:I``), the span ``hunk_span`` gives (``whole:I``) and each run of added lines."""
    if file_diff.new_text is None:
        return ()
    regions: list[Region] = []
    for index, hunk in enumerate(file_diff.hunks):
        try:
            whole = hunk_span(file_diff, hunk)
            shown = [line.new_line for line in hunk.lines if line.new_line is not None]
            area = lines_span(file_diff, min(shown), max(shown)) if shown else whole
            runs = [lines_span(file_diff, first, last) for first, last in hunk.added_runs()]
        except InputError:  # a filter changed the line count: this hunk cannot be placed
            continue
        regions.append((area.start, area.end, f"{HUNK}:{index}"))
        regions.append((whole.start, whole.end, f"{WHOLE}:{index}"))
        regions.extend((run.start, run.end, ADDED) for run in runs)
    return tuple(regions)


def hunk_places(regions: Sequence[Region]) -> list[HunkPlace]:
    """The hunks the regions still show, in text order (an edit may have removed some)."""
    areas: dict[int, tuple[int, int]] = {}
    wholes: dict[int, tuple[int, int]] = {}
    runs: list[tuple[int, int]] = []
    for start, end, tag in regions:
        kind, _, number = tag.partition(":")
        if kind == HUNK:
            areas[int(number)] = (start, end)
        elif kind == WHOLE:
            wholes[int(number)] = (start, end)
        elif kind == ADDED:
            runs.append((start, end))
    places = []
    for index, (start, end) in sorted(areas.items(), key=lambda item: item[1]):
        inside = tuple(sorted(r for r in runs if start <= r[0] and r[1] <= end))
        places.append(HunkPlace(index, (start, end), wholes.get(index), inside))
    return places


def place_at(places: Sequence[HunkPlace], offset: int) -> HunkPlace | None:
    """The hunk whose lines hold ``offset`` (an empty hunk counts at its own offset)."""
    for place in places:
        start, end = place.area
        if start <= offset < end or start == end == offset:
            return place
    return None


# ---------------------------------------------------------------------------- patches


def format_patch(file_diff: FileDiff) -> str:
    """The file's diff as ``git diff`` prints it (from the parsed hunks)."""
    old = f"a/{file_diff.old_path}" if file_diff.old_path else "/dev/null"
    new = f"b/{file_diff.new_path}" if file_diff.new_path else "/dev/null"
    lines = [f"diff --git a/{file_diff.old_path or file_diff.path} b/{file_diff.path}"]
    if file_diff.status in (RENAMED, COPIED) and file_diff.old_path:
        verb = "rename" if file_diff.status == RENAMED else "copy"
        if file_diff.similarity is not None:
            lines.append(f"similarity index {file_diff.similarity}%")
        lines += [f"{verb} from {file_diff.old_path}", f"{verb} to {file_diff.new_path}"]
    if file_diff.status == ADDED_FILE:
        lines.append(f"new file mode {file_diff.new_mode}")
    elif file_diff.status == DELETED:
        lines.append(f"deleted file mode {file_diff.old_mode}")
    elif file_diff.old_mode != file_diff.new_mode and file_diff.old_mode.strip("0"):
        lines += [f"old mode {file_diff.old_mode}", f"new mode {file_diff.new_mode}"]
    if file_diff.binary:
        lines.append(f"Binary files {old} and {new} differ")
    elif file_diff.hunks:
        lines += [f"--- {old}", f"+++ {new}"]
        for hunk in file_diff.hunks:
            lines.append(hunk.header)
            for line in hunk.lines:
                lines.append(f"{line.kind}{line.text}")
                if line.no_newline:
                    lines.append("\\ No newline at end of file")
    elif file_diff.note:
        lines.append(f"({file_diff.note})")
    return "\n".join(lines) + "\n"


def _pathspecs(file_diff: FileDiff) -> list[str]:
    names = dict.fromkeys(p for p in (file_diff.old_path, file_diff.new_path) if p)
    return [f":(top,literal){name}" for name in names]


def _base(request: DiffRequest) -> str | None:
    """What the work tree is compared with after a write: the request's own base."""
    if request.rev is not None:
        return request.rev
    if request.staged:
        return head_base(request.root)  # the empty tree before the first commit
    return None  # the index, as plain ``git diff``


def reload_file(request: DiffRequest, file_diff: FileDiff) -> FileDiff:
    """``file_diff`` as the work tree holds it now, against the base it was shown against.

    A file that no longer differs comes back with no hunks (and its text, still editable).
    """
    base = _base(request)
    for fresh in load_diff(request.root, rev=base, paths=_pathspecs(file_diff)):
        if fresh.new_path == file_diff.new_path:
            return fresh
    document = read_document(request.root / file_diff.path)
    return replace(file_diff, hunks=(), new_document=document, source=WORKTREE, binary=False,
                   note=None)


def head_patch(request: DiffRequest, file_diff: FileDiff) -> str:
    """``git diff HEAD -- FILE``: the file's patch against ``HEAD`` (against nothing before
    the first commit)."""
    head = head_base(request.root)
    files = load_diff(request.root, rev=head, paths=_pathspecs(file_diff))
    return "".join(format_patch(fresh) for fresh in files)
