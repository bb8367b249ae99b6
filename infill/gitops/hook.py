"""``infill hook``: fill the markers of staged files, as a pre-commit hook (DESIGN section 7).

What is filled is the *staged* content: the commit is what the hook is about. The result is
written to the work tree and never added to the index, the convention of formatters: the
commit stops (exit 1), the user reviews the fills and stages them. A staged file that still
holds a marker stops the commit too, so a commit never carries a hole marker.

Two ways to run:

- **Plain git hook** (``infill install-hook``; no ``PRE_COMMIT`` in the environment): the
  files are the staged ones; their staged blobs are read from the index (``GIT_INDEX_FILE``,
  which git sets for ``git commit -a`` and ``git commit PATH``). Fills are computed first,
  with the work tree untouched. Then files with unstaged changes have those changes set
  aside as a binary patch (``stash.py``) for the moment of the write, and re-applied.
- **Under the pre-commit framework** (``PRE_COMMIT=1``): the framework has already set
  unstaged changes aside (on ``git commit``) or asked for the files as they are
  (``pre-commit run --all-files``); the files it passes are read from the work tree, like
  every other hook it runs.

Layers, as in black: ``scan`` (pure, text to markers and counts) feeds ``plan`` (which files
need what), both in ``hook_plan.py`` with the sources; then the I/O of filling and writing
here; then ``Report`` (one outcome per file, the messages and the exit code). Exit codes: 0 nothing to do; 1 a file was changed or a staged
file still holds a marker (``--check``, a conflict, a time-out); ``InfillError`` (exit 2)
for bad markers, in which case nothing is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from infill.document import decode_document, encode_text
from infill.errors import Cancelled, InfillError, InputError, Interrupted
from infill.gitops import repo as gitrepo
from infill.gitops.hook_plan import (CONFLICT, FAILED, FILLED, Out, Report, Target, excluded, plan,
                                     staged_sources, with_checkout_bytes, worktree_sources)
from infill.gitops.stash import interrupted_patches, unstaged_changes_set_aside
from infill.guard import Caution, Refusal, caution_fills, guard_fills, keep_refused_markers
from infill.markers import HOLE, MarkerSyntax, parse_markers
from infill.settings import Settings, load_settings
from infill.signals import deferred_interrupts

def run_hook(
    files: Sequence[str] = (),
    *,
    filler_factory: Callable[[], Any],
    settings: Settings | None = None,
    check: bool = False,
    timeout: float | None = None,
    out: Out = print,
    repo_dir: str | os.PathLike[str] | None = None,
    all_files: bool = False,
    fill_options: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run the hook on ``files`` (relative to the current directory), or the staged files.

    ``filler_factory`` is called at most once, and only when a file needs filling; it
    returns an object with ``fill_text`` (``infill.load`` in the CLI, a fake in tests).
    ``settings`` gives ``exclude``, the marker strings and ``hook_timeout`` (read from the
    repository's ``pyproject.toml`` when None). ``timeout`` is in seconds; None takes
    ``settings.hook_timeout``; 0 or less means no limit. ``all_files`` checks every
    file in the index instead of the staged changes (``--check`` in CI). Returns 0 or 1.
    """
    environ = os.environ if environ is None else environ
    cwd = Path(repo_dir) if repo_dir is not None else Path.cwd()
    root = gitrepo.repo_root(cwd)
    if settings is None:
        settings = load_settings(root)
    syntax = settings.marker_syntax()
    exclude = settings.exclude
    if timeout is None:
        timeout = settings.hook_timeout
    framework = environ.get("PRE_COMMIT") == "1"

    paths = [gitrepo.relative_to_root(root, f, cwd) for f in files]
    if framework and paths:
        sources = worktree_sources(root, paths)
    else:
        sources = staged_sources(root, paths, all_files)
    sources = {p: raw for p, raw in sources.items() if not excluded(p, exclude)}

    report = Report()
    _name_interrupted_runs(root, report, out)
    targets, errors = plan(sources, syntax, report, out, check)
    if errors:
        for error in errors[:-1]:
            out(str(error))
        if len(errors) > 1:
            raise InputError(f"{errors[-1]} ({len(errors)} files have marker errors; "
                             "nothing was written)")
        raise errors[0]
    if check or not targets:
        return report.exit_code

    if not framework:
        targets = [with_checkout_bytes(root, t, syntax) for t in targets]
    try:
        with _deadline(timeout) as cancel:
            fills = _fill_all(targets, filler_factory, syntax, cancel, fill_options or {},
                              settings.guard)
    except Cancelled:
        report.timed_out = True
        out(f"infill hook: stopped after the time limit of {timeout:g} s (hook-timeout); "
            "nothing was written")
        return report.exit_code
    try:
        with deferred_interrupts():  # the fills and the restore finish, then Ctrl-C counts
            _write_all(root, targets, fills, report, out, stash=not framework, syntax=syntax)
    except KeyboardInterrupt as interrupt:
        kind = type(interrupt) if isinstance(interrupt, Interrupted) else Interrupted
        raise kind("interrupted after writing the files listed above; your unstaged "
                   "changes were restored") from None
    return report.exit_code


def _name_interrupted_runs(root: Path, report: Report, out: Out) -> None:
    """Say where a killed run left unstaged changes it had set aside (and stop the commit)."""
    for patch in interrupted_patches(gitrepo.git_dir(root) / "infill" / "patches"):
        report.add(str(patch), FAILED,
                   f"infill hook: an earlier run was killed while your unstaged changes were "
                   f"set aside; they are saved in {patch}. Check 'git diff', restore what is "
                   f"missing with: git apply {patch} (then delete the file)", out)


# ---------------------------------------------------------------------------- filling


@contextlib.contextmanager
def _deadline(seconds: float | None) -> Iterator[threading.Event]:
    """An event that a timer sets after ``seconds`` (never, for None or <= 0)."""
    cancel = threading.Event()
    timer = None
    if seconds is not None and seconds > 0:
        timer = threading.Timer(seconds, cancel.set)
        timer.daemon = True
        timer.start()
    try:
        yield cancel
    finally:
        if timer is not None:
            timer.cancel()


@dataclass(frozen=True)
class Filled:
    """One target's fill: the text to write, the fill per span, and the guard's refusals."""

    text: str
    fills: tuple[str, ...] | None  # per span, in marker order; None when not reported
    refusals: tuple[Refusal, ...] = ()
    cautions: tuple[Caution, ...] = ()  # fills written that may be wrong (``guard.caution_fills``)


def _fill_all(
    targets: Sequence[Target],
    filler_factory: Callable[[], Any],
    syntax: MarkerSyntax,
    cancel: threading.Event,
    options: Mapping[str, Any],
    guard: bool = True,
) -> list[Filled]:
    """The fill of every target; loads the model once. ``Cancelled`` at the deadline."""
    filler = filler_factory()
    fills = []
    for target in targets:
        if cancel.is_set():  # loading alone can use up the time
            raise Cancelled()
        try:
            result = filler.fill_text(target.document.text, path=target.path, syntax=syntax,
                                      cancel=cancel, **options)
        except InfillError as error:
            raise error.at(target.path)
        fills.append(_guard(target, result, syntax, guard))
    if cancel.is_set():
        raise Cancelled()
    return fills


def _guard(target: Target, result: Any, syntax: MarkerSyntax, guard: bool) -> Filled:
    spans = getattr(result, "spans", None)
    if spans is None:
        return Filled(result.text, None)
    per_span = tuple(span.text for span in spans)
    marked = parse_markers(target.document.text, syntax, target.path)
    language = getattr(result, "language", None)
    refusals = guard_fills(marked.text, marked.spans, per_span, language) if guard else []
    refused = {r.index for r in refusals}
    cautions = tuple(c for c in caution_fills(marked.text, marked.spans, per_span, language)
                     if c.index not in refused)
    if not refusals:
        return Filled(result.text, per_span, (), cautions)
    text = keep_refused_markers(marked.text, marked.spans, per_span, refusals, syntax,
                                result.language)
    return Filled(text, per_span, tuple(refusals), cautions)


def _refill(target: Target, filled: Filled, syntax: MarkerSyntax) -> Callable[[bytes], bytes | None]:
    """Apply ``filled``'s fills to another version of the file (the user's, with unstaged
    edits) when its markers are the same ones; None when they are not (DESIGN section 7)."""

    def refill(theirs: bytes) -> bytes | None:
        if filled.fills is None:
            return None
        try:
            document = decode_document(theirs, path=target.path)
            mine = parse_markers(target.document.text, syntax, target.path)
            other = parse_markers(document.text, syntax, target.path)
        except InfillError:
            return None
        shape = [(s.kind, s.max_lines, s.strength, s.instruction) for s in mine.spans]
        if shape != [(s.kind, s.max_lines, s.strength, s.instruction) for s in other.spans]:
            return None
        # A rewrite's fill replaces the old lines: only safe when they are unchanged too.
        for a, b in zip(mine.spans, other.spans):
            if mine.text[a.start:a.end] != document.text[b.start:b.end] and a.kind != HOLE:
                return None
        text = keep_refused_markers(other.text, other.spans, filled.fills, filled.refusals,
                                    syntax, None)
        return encode_text(document, text)

    return refill


# ---------------------------------------------------------------------------- writing


def _write_all(
    root: Path,
    targets: Sequence[Target],
    fills: Sequence[Filled],
    report: Report,
    out: Out,
    stash: bool,
    syntax: MarkerSyntax = MarkerSyntax(),
) -> None:
    """Write every fill to the work tree; unstaged changes are set aside when ``stash``."""
    from infill.patch import apply_patch, make_patch

    patches = {}
    refills = {}
    for target, filled in zip(targets, fills):
        for refusal in filled.refusals:
            report.add(target.path, FAILED, f"{target.path}:{refusal.line}: {refusal.reason}", out)
        for caution in filled.cautions:
            out(f"{target.path}:{caution.line}: note: {caution.reason}")
        if filled.text == target.document.text:
            continue  # every fill refused: nothing to write
        located = dataclasses.replace(target.document, path=str(root / target.path))
        try:
            patches[target.path] = make_patch(located, filled.text, display_path=target.path)
        except InfillError as error:  # the fill cannot be written in the file's encoding
            report.add(target.path, FAILED, f"{error.at(target.path)} (not filled)", out)
        refills[target.path] = _refill(target, filled, syntax)
    targets = [t for t in targets if t.path in patches]

    # A second run before the user re-stages finds its own fill there: nothing to write.
    done = {t.path for t in targets if _worktree_bytes(root, t) == patches[t.path].new_bytes}
    todo = [t for t in targets if t.path not in done]
    dirty = [t.path for t in todo if stash and _worktree_bytes(root, t) != t.document.raw]
    written: list[str] = []
    patch_dir = gitrepo.git_dir(root) / "infill" / "patches"
    with unstaged_changes_set_aside(root, dirty, patch_dir, refills) as aside:
        for target in todo:
            try:
                apply_patch(patches[target.path], within=root)  # no write through a link out
            except InfillError as error:
                report.add(target.path, FAILED,
                           f"{error.at(target.path)} (not filled; the staged file keeps its "
                           "markers)", out)
                continue
            written.append(target.path)

    conflicts = set(aside.conflicts)
    if conflicts:
        fills_path = aside.patch_path.with_name(aside.patch_path.stem + "-fills.patch")
        fills_path.write_text("".join(patches[p].diff for p in sorted(conflicts)),
                              encoding="utf-8", errors="surrogateescape")
    for target in targets:
        if target.path in conflicts:
            report.add(target.path, CONFLICT,
                       f"{target.path}: the fill clashes with your unstaged changes, so it was "
                       f"rolled back and your changes restored (kept in {aside.patch_path}); "
                       f"the fill is saved in {fills_path}", out)
        elif target.path in done:
            report.add(target.path, FILLED,
                       f"{target.path}: already filled in the work tree; the staged file still "
                       "holds markers (review and re-stage)", out)
        elif target.path in aside.refilled:
            report.add(target.path, FILLED,
                       f"{target.path}: {_counts(target)}; your unstaged edits are next to the "
                       "markers, so the same fills were put into your version of the file "
                       "(review and re-stage)", out)
        elif target.path in written:
            report.add(target.path, FILLED,
                       f"{target.path}: {_counts(target)} (review and re-stage)", out)


def _worktree_bytes(root: Path, target: Target) -> bytes | None:
    """The file's bytes in the work tree; None when it is deleted or unreadable there."""
    try:
        return (root / target.path).read_bytes()
    except OSError:
        return None


def _counts(target: Target) -> str:
    parts = []
    if target.holes:
        parts.append(f"filled {target.holes} hole{'s' if target.holes != 1 else ''}")
    if target.regions:
        parts.append(f"rewrote {target.regions} region{'s' if target.regions != 1 else ''}")
    return " and ".join(parts) or "filled"
