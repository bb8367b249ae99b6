"""Diff mode's data: a git diff as files and hunks, and hunks or lines as spans to fill.

``load_diff`` reads what ``git diff [--staged] [REV] [-- PATH...]`` shows and returns one
``FileDiff`` per changed file: its paths and status, its hunks with old and new line numbers,
and the *whole new version* of the file as a ``Document`` (the work tree, or the index for
``--staged``), because that is the model's context (DESIGN section 7). ``hunk_span``,
``change_spans`` and ``lines_span`` turn what the user picks into ``infill.markers.Span``s
over ``FileDiff.new_text``, ready for ``Filler.fill_spans``; ``write_fill`` puts the
accepted text back into the work tree through the guarded atomic write.

Nothing here knows about the UI. The diff itself comes from git (``git diff`` with every
setting that changes its output pinned on the command line: prefixes, colour, external diff
drivers, textconv, quoting), once as ``--raw -z`` for exact paths and statuses and once as a
patch for the hunks; the two list files in the same order.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from infill.document import Document, decode_document, read_document
from infill.errors import InfillError, InputError, StaleFileError
from infill.gitops import repo as gitrepo
from infill.markers import REWRITE, Span

ADDED, DELETED, MODIFIED, RENAMED, COPIED = "added", "deleted", "modified", "renamed", "copied"
TYPECHANGE, UNMERGED = "typechange", "unmerged"
WORKTREE, INDEX = "worktree", "index"

_STATUS = {"A": ADDED, "D": DELETED, "M": MODIFIED, "R": RENAMED, "C": COPIED,
           "T": TYPECHANGE, "U": UNMERGED}
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")
_PINNED = ("-c", "core.quotePath=true", "-c", "diff.noprefix=false",
           "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false")
_FLAGS = ("--no-color", "--no-ext-diff", "--no-textconv", "--submodule=short", "-M",
          "--src-prefix=a/", "--dst-prefix=b/")


@dataclass(frozen=True)
class DiffLine:
    """One line of a hunk: ``kind`` is " " (context), "+" (added) or "-" (removed)."""

    kind: str
    text: str  # without its line ending
    old_line: int | None  # 1-based, None for an added line
    new_line: int | None  # 1-based, None for a removed line
    no_newline: bool = False  # "\ No newline at end of file" follows it


@dataclass(frozen=True)
class Hunk:
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    section: str  # the text after the second "@@" (git's function context)
    lines: tuple[DiffLine, ...]

    @property
    def header(self) -> str:
        tail = f" {self.section}" if self.section else ""
        return f"@@ -{self.old_start},{self.old_count} +{self.new_start},{self.new_count} @@{tail}"

    @property
    def added_lines(self) -> list[int]:
        """The new line numbers of the added lines."""
        return [line.new_line for line in self.lines if line.kind == "+"]  # type: ignore[misc]

    def added_runs(self) -> list[tuple[int, int]]:
        """Runs of consecutive added lines, as (first, last) new line numbers."""
        runs: list[tuple[int, int]] = []
        for number in self.added_lines:
            if runs and runs[-1][1] == number - 1:
                runs[-1] = (runs[-1][0], number)
            else:
                runs.append((number, number))
        return runs


@dataclass(frozen=True)
class FileDiff:
    """One changed file. ``new_document`` is None when there is no text to fill (``note``)."""

    old_path: str | None  # None for an added file
    new_path: str | None  # None for a deleted file
    status: str
    hunks: tuple[Hunk, ...] = ()
    binary: bool = False
    new_document: Document | None = field(default=None, repr=False)
    source: str = WORKTREE  # where the new version lives, and where a fill is written
    old_mode: str = ""
    new_mode: str = ""
    similarity: int | None = None  # for renames and copies, in percent
    note: str | None = None  # why the file cannot be filled: binary, submodule, ...

    @property
    def path(self) -> str:
        return self.new_path or self.old_path or ""

    @property
    def new_text(self) -> str | None:
        return self.new_document.text if self.new_document is not None else None

    @property
    def label(self) -> str:
        """What a file list shows: ``modified``, ``renamed from X``, ``binary``..."""
        if self.binary:
            return f"{self.status}, binary"
        if self.status in (RENAMED, COPIED) and self.old_path:
            return f"{self.status} from {self.old_path}"
        return self.status


# ---------------------------------------------------------------------------- loading


def load_diff(
    repo_dir: str | os.PathLike[str] = ".",
    rev: str | None = None,
    staged: bool = False,
    paths: Sequence[str] = (),
    context: int = 3,
) -> list[FileDiff]:
    """The files ``git diff [--staged] [REV] [-- PATHS]`` shows, in git's order.

    ``paths`` are pathspecs relative to ``repo_dir``, as for git. Works in a repository
    with no commits (``--staged`` then shows every staged file as added). Untracked files
    are not shown, as in ``git diff``.
    """
    cwd = Path(repo_dir)
    root = gitrepo.repo_root(cwd)
    if rev is not None:
        if ".." in rev:
            raise InputError(f"'{rev}': diff mode compares the work tree (or, with --staged, "
                             "the index) with one revision; a range is not supported")
        gitrepo.resolve_tree(root, rev)
    args = ["diff", *_FLAGS, f"-U{context}", "--inter-hunk-context=0"]
    if staged:
        args.append("--cached")
    if rev is not None:
        args.append(rev)
    spec = ["--", *paths]
    raw = gitrepo.git([*_PINNED, *args, "--raw", "-z", *spec], cwd).stdout
    patch = gitrepo.git([*_PINNED, *args, "-p", *spec], cwd).stdout
    entries = _parse_raw(raw)
    sections = _split_patch(patch)
    if len(sections) != len(entries):  # not expected; then ask for each file on its own
        sections = []
        for entry in entries:
            one = gitrepo.git([*_PINNED, *args, "-p", "--", *_literal(entry)], root).stdout
            sections.append((_split_patch(one) or [[]])[0])
    source = INDEX if staged else WORKTREE
    return [_file_diff(root, entry, section, source) for entry, section in zip(entries, sections)]


@dataclass(frozen=True)
class _RawEntry:
    old_mode: str
    new_mode: str
    status: str
    score: int | None
    old_path: str
    new_path: str


def _parse_raw(out: bytes) -> list[_RawEntry]:
    fields = out.split(b"\0")
    entries = []
    i = 0
    while i < len(fields) and fields[i]:
        meta = fields[i].decode().lstrip(":").split()
        old_mode, new_mode, status = meta[0], meta[1], meta[4]
        letter, score = status[0], int(status[1:]) if status[1:] else None
        if letter in "RC":
            old, new = os.fsdecode(fields[i + 1]), os.fsdecode(fields[i + 2])
            i += 3
        else:
            old = new = os.fsdecode(fields[i + 1])
            i += 2
        entries.append(_RawEntry(old_mode, new_mode, letter, score, old, new))
    return entries


def _split_patch(out: bytes) -> list[list[str]]:
    """The patch's per-file sections, as lines (bytes kept via surrogateescape)."""
    text = out.decode("utf-8", "surrogateescape")
    sections: list[list[str]] = []
    for line in text.split("\n"):
        if line.startswith(("diff --git ", "diff --cc ", "diff --combined ")):
            sections.append([])
        if sections:
            sections[-1].append(line)
    return sections


def _literal(entry: _RawEntry) -> list[str]:
    return [f":(top,literal){p}" for p in dict.fromkeys((entry.old_path, entry.new_path))]


def _file_diff(root: Path, entry: _RawEntry, section: list[str], source: str) -> FileDiff:
    status = _STATUS.get(entry.status, MODIFIED)
    old_path = None if status == ADDED else entry.old_path
    new_path = None if status == DELETED else entry.new_path
    binary = any(line.startswith(("Binary files ", "GIT binary patch")) for line in section)
    hunks = () if binary or status == UNMERGED else _parse_hunks(section)
    document, note = None, None
    if status == UNMERGED:
        note = "unmerged: resolve the conflict first"
    elif new_path is None:
        note = "deleted"
    elif entry.new_mode == gitrepo.MODE_SUBMODULE:
        note = "submodule"
    elif entry.new_mode == gitrepo.MODE_SYMLINK:
        note = "symbolic link"
    elif binary:
        note = "binary file"
    else:
        document, note = _new_document(root, new_path, source)
        binary = binary or (note == "binary file")
    return FileDiff(old_path, new_path, status, hunks, binary, document, source,
                    entry.old_mode, entry.new_mode, entry.score, note)


def _new_document(root: Path, path: str, source: str) -> tuple[Document | None, str | None]:
    try:
        if source == WORKTREE:
            return read_document(root / path), None
        # The index version as a checkout would write it (eol and smudge filters), so that
        # a fill written to the work tree keeps the file's line endings.
        raw = gitrepo.git(["cat-file", "--filters", f":0:{path}"], root).stdout
        return decode_document(raw, path=str(root / path)), None
    except InputError as error:
        return None, ("binary file" if "binary" in error.reason else error.reason)
    except InfillError as error:
        return None, str(error)


def _parse_hunks(section: list[str]) -> tuple[Hunk, ...]:
    hunks: list[Hunk] = []
    lines: list[DiffLine] = []
    head: re.Match[str] | None = None
    old = new = 0

    def close() -> None:
        if head is not None:
            hunks.append(Hunk(int(head.group(1)), _count(head.group(2)), int(head.group(3)),
                              _count(head.group(4)), head.group(5), tuple(lines)))

    for text in section:
        match = _HUNK.match(text)
        if match:
            close()
            head, lines = match, []
            old, new = int(match.group(1)), int(match.group(3))
            continue
        if head is None or not text:
            continue
        kind, body = text[0], text[1:]
        if kind == " ":
            lines.append(DiffLine(" ", body, old, new))
            old, new = old + 1, new + 1
        elif kind == "-":
            lines.append(DiffLine("-", body, old, None))
            old += 1
        elif kind == "+":
            lines.append(DiffLine("+", body, None, new))
            new += 1
        elif kind == "\\" and lines:
            last = lines[-1]
            lines[-1] = DiffLine(last.kind, last.text, last.old_line, last.new_line, True)
    close()
    return tuple(hunks)


def _count(group: str | None) -> int:
    return 1 if group is None else int(group)


# ---------------------------------------------------------------------------- spans


def lines_span(file_diff: FileDiff, first: int, last: int, **options: object) -> Span:
    """A rewrite span over new lines ``first`` to ``last`` (1-based, inclusive), whole lines.

    ``last == first - 1`` gives an empty span before line ``first``: new lines are written
    there (an empty region is filled like a hole). ``options``: ``strength``,
    ``instruction``, ``max_lines``, as for ``Span``.
    """
    text = _text(file_diff)
    starts = _line_starts(text)
    lines = len(starts) - (1 if starts[-1] == len(text) else 0)
    if not (1 <= first <= lines + 1 and first - 1 <= last <= lines):
        raise InputError(f"lines {first}-{last} are outside the file (it has {lines})",
                         path=file_diff.path)
    start = starts[first - 1]
    end = starts[last] if last < len(starts) else len(text)
    return Span(start, end, REWRITE, block=True, line=first, **options)  # type: ignore[arg-type]


def hunk_span(file_diff: FileDiff, hunk: Hunk, **options: object) -> Span:
    """A rewrite span from the hunk's first added line to its last one.

    A hunk that only removes lines gives an empty span where they were: the model writes
    new lines there.
    """
    added = hunk.added_lines
    if added:
        return lines_span(file_diff, added[0], added[-1], **options)
    return lines_span(file_diff, *_gap(hunk), **options)


def change_spans(file_diff: FileDiff, hunk: Hunk, **options: object) -> list[Span]:
    """One rewrite span per run of added lines in ``hunk`` (context lines are kept)."""
    runs = hunk.added_runs()
    if not runs:
        return [hunk_span(file_diff, hunk, **options)]
    return [lines_span(file_diff, first, last, **options) for first, last in runs]


def hunk_at(file_diff: FileDiff, new_line: int) -> Hunk | None:
    """The hunk that shows new line ``new_line``, if any."""
    for hunk in file_diff.hunks:
        if any(line.new_line == new_line for line in hunk.lines):
            return hunk
    return None


def _gap(hunk: Hunk) -> tuple[int, int]:
    """(first, first - 1): the empty span where a removal-only hunk's lines were."""
    after = None
    for line in hunk.lines:
        if line.kind == "-":
            break
        after = line.new_line
    first = (after + 1) if after is not None else max(hunk.new_start, 1)
    if hunk.new_count == 0:
        first = hunk.new_start + 1
    return first, first - 1


def _text(file_diff: FileDiff) -> str:
    if file_diff.new_text is None:
        raise InputError(f"no text to fill ({file_diff.note or file_diff.status})",
                         path=file_diff.path)
    return file_diff.new_text


def _line_starts(text: str) -> list[int]:
    starts = [0]
    for index, char in enumerate(text):
        if char == "\n":
            starts.append(index + 1)
    return starts


# ---------------------------------------------------------------------------- for the UI


def work_tree_root(repo_dir: str | os.PathLike[str]) -> Path:
    """The top of the work tree holding ``repo_dir``; ``InputError`` outside one."""
    try:
        return gitrepo.repo_root(repo_dir)
    except gitrepo.GitError as error:
        raise InputError(error.reason, path=error.path) from None


def head_base(root: Path) -> str:
    """What ``HEAD`` is as a diff base: its tree, or the empty tree before the first commit."""
    return gitrepo.head_tree(root)


# ---------------------------------------------------------------------------- writing


def write_fill(file_diff: FileDiff, new_text: str) -> str:
    """Write ``new_text`` (the whole new version, filled) to the work tree; return the diff.

    The work-tree file must still hold the bytes the diff was loaded from: for ``--staged``
    that means it has no unstaged changes. Otherwise ``StaleFileError`` and nothing is
    written. The index is never touched: the user stages the fill.
    """
    from infill.patch import apply_patch, make_patch

    document = file_diff.new_document
    if document is None or document.path is None:
        raise InputError(f"no text to fill ({file_diff.note or file_diff.status})",
                         path=file_diff.path)
    patch = make_patch(document, new_text, display_path=file_diff.path)
    top = document.path[: -len(file_diff.path)] if document.path.endswith(file_diff.path) else None
    try:
        apply_patch(patch, within=top or None)  # never through a link out of the work tree
    except StaleFileError as error:
        where = ("has unstaged changes (the fill was made from the staged version)"
                 if file_diff.source == INDEX else "changed on disk since the diff was loaded")
        raise StaleFileError(f"{where}; nothing was written", path=file_diff.path) from error
    return patch.diff
