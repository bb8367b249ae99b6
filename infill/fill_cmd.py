"""``infill fill``: batch infill of marked spans across files, and ``infill models``.

Order of work, so that bad input never leaves anything half-written: read and parse every
file first (any error stops the run before the model loads), load the model once, fill every
file, and only then print or write. ``--write`` goes through the guarded atomic write of
``patch.apply_patch``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass

from infill.document import (Document, decode_document, encode_text, is_binary,
                             read_document)
from infill.guard import caution_fills, guard_fills, keep_refused_markers
from infill.errors import InfillError, InputError, Interrupted
from infill.markers import MarkedText, MarkerSyntax, find_markers, parse_markers
from infill.patch import make_patch, apply_patch
from infill.settings import Settings, load_settings
from infill.signals import deferred_interrupts
from infill.trajectory import write_jsonl
from infill.walk import iter_files


@dataclass
class _Job:
    doc: Document
    marked: MarkedText
    shown: str  # the path as the user spelled it


def settings_for(args: argparse.Namespace, start: str) -> Settings:
    overrides = {k: v for k, v in vars(args).items() if k not in ("paths", "command")}
    for flag in ("hole", "region_open", "region_close"):
        if getattr(args, flag, None):
            overrides[flag] = getattr(args, flag)
    return load_settings(start, overrides)


def load_filler(settings: Settings, trust_remote_code: bool = False,
                device_map: str | None = None):
    """The model the settings name (the house model by default), loaded once per run; or a
    warm ``infill serve`` holding that model on the per-user socket (``infill.server.usersock``:
    the same fills, without the load). ``device_map`` splits it over devices
    (``infill.placement``)."""
    import infill
    from infill.server.usersock import connect_for

    def load():
        if device_map:
            from infill.placement import load_placed

            return load_placed(settings.model, device_map, device=settings.device,
                               backend=settings.backend, trust_remote_code=trust_remote_code)
        return infill.load(settings.model, settings.device, settings.backend, trust_remote_code)

    return connect_for(settings, trust_remote_code, load, device_map) or load()


def run_fill(args: argparse.Namespace) -> int:
    stdin_mode = args.paths == ["-"]
    if "-" in args.paths and not stdin_mode:
        raise InfillError("'-' (stdin) cannot be combined with other paths")
    first = "." if stdin_mode else args.paths[0]
    settings = settings_for(args, first)
    syntax = settings.marker_syntax()

    if stdin_mode:
        jobs, unreadable = [_read_stdin(syntax)], []
    else:
        jobs, unreadable = _read_jobs(args.paths, settings, syntax)
    if args.check:
        return _check(jobs, syntax, unreadable)
    if unreadable:
        for error in unreadable[:-1]:
            print(f"infill: {error}", file=sys.stderr)
        raise unreadable[-1]
    if args.trajectory:
        _check_trajectory_path(args.trajectory, jobs)

    todo = [job for job in jobs if job.marked.spans]
    results = {}
    if todo and getattr(args, "ray", None):
        results = _fill_over_ray(todo, settings, args)
    elif todo:
        device_map = getattr(args, "device_map", None)
        filler = (load_filler(settings, args.trust_remote_code, device_map=device_map)
                  if device_map else load_filler(settings, args.trust_remote_code))
        trajectory = open(args.trajectory, "w", encoding="utf-8") if args.trajectory else None
        try:
            for job in _progress(todo, args):
                result = filler.fill_spans(job.marked.text, job.marked.spans,
                                           settings.language, settings.seed, path=job.shown,
                                           options=settings.fill)
                results[id(job)] = result
                if trajectory:
                    write_jsonl(result.trajectory, trajectory)
        finally:
            if trajectory:
                trajectory.close()

    texts, refused, cautioned = {}, {}, {}
    for job in todo:
        texts[id(job)], refused[id(job)], cautioned[id(job)] = _guarded(
            job, results[id(job)], settings, syntax)
        for refusal in refused[id(job)]:
            print(f"{job.shown}:{refusal.line}: {refusal.reason}", file=sys.stderr)
        for caution in cautioned[id(job)]:
            print(f"{job.shown}:{caution.line}: note: {caution.reason}", file=sys.stderr)
    left = EXIT_MARKERS_LEFT if any(refused.values()) else 0

    if args.json:
        print(json.dumps(_report(jobs, results, texts, refused, cautioned), indent=2,
                         ensure_ascii=False))
        return left
    if stdin_mode:
        job = jobs[0]
        sys.stdout.buffer.write(encode_text(job.doc, texts.get(id(job), job.doc.text)))
        sys.stdout.flush()
        return left
    patches = [make_patch(job.doc, texts[id(job)], display_path=job.shown)
               for job in todo if texts[id(job)] != job.doc.text]
    if args.write:
        return _write_patches(patches, args.quiet) or left
    if len(jobs) == 1 and not args.diff:
        job = jobs[0]
        sys.stdout.buffer.write(encode_text(job.doc, texts.get(id(job), job.doc.text)))
        sys.stdout.flush()
        return left
    _print_diff("".join(p.diff for p in patches))
    return left


#: Exit code when the quality guard kept markers in (DESIGN section 4: "markers left").
EXIT_MARKERS_LEFT = 1


def _guarded(job: _Job, result, settings: Settings, syntax: MarkerSyntax):
    """The text to write for ``job``, the guard's refusals (markers kept for those) and its
    cautions about the fills that are written."""
    fills = [span.text for span in result.spans]
    refusals = (guard_fills(job.marked.text, job.marked.spans, fills, result.language)
                if settings.guard else [])
    refused = {r.index for r in refusals}
    cautions = [c for c in caution_fills(job.marked.text, job.marked.spans, fills,
                                         result.language) if c.index not in refused]
    if not refusals:
        return result.text, [], cautions
    text = keep_refused_markers(job.marked.text, job.marked.spans, fills, refusals, syntax,
                                result.language)
    return text, refusals, cautions


def _write_patches(patches: list, quiet: bool) -> int:
    """Write every patch that can be written; name each failure; 2 if any failed.

    One stale or read-only file does not stop the others. Each write runs with Ctrl-C held
    back until it is over, so that an interrupted run knows exactly which files it wrote.
    """
    written: list[str] = []
    failed: list[str] = []
    try:
        for patch in patches:
            try:
                with deferred_interrupts():  # a held Ctrl-C is raised after the bookkeeping
                    apply_patch(patch)
                    written.append(patch.path)
            except InfillError as error:
                print(f"infill: {error}", file=sys.stderr)
                failed.append(patch.path)
                continue
            if not quiet:
                print(f"filled {patch.path}", file=sys.stderr)
    except KeyboardInterrupt as interrupt:
        left = [p.path for p in patches if p.path not in written and p.path not in failed]
        kind = type(interrupt) if isinstance(interrupt, Interrupted) else Interrupted
        raise kind(_interrupted_message(written, left)) from None
    if failed:
        print(f"infill: {len(failed)} of {len(patches)} files not written: "
              f"{', '.join(failed)}", file=sys.stderr)
        return 2
    return 0


def _interrupted_message(written: list[str], left: list[str]) -> str:
    if not written:
        return "interrupted; nothing was written"
    return (f"interrupted after writing {len(written)} file(s): {', '.join(written)}; "
            f"not written: {', '.join(left) or 'none'}")


def _check_trajectory_path(name: str, jobs: list[_Job]) -> None:
    """Refuse a trajectory file that would overwrite an input, or that cannot be created."""
    target = os.path.realpath(name)
    for job in jobs:
        if job.doc.path is not None and os.path.realpath(job.doc.path) == target:
            raise InputError("--trajectory names an input file; choose another name",
                             path=name)
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        raise InputError(f"--trajectory: no such directory {os.path.dirname(name) or '.'}",
                         path=name)
    if os.path.exists(target) and not os.path.isfile(target):
        raise InputError("--trajectory: not a regular file", path=name)


def _fill_over_ray(todo: list[_Job], settings: Settings, args: argparse.Namespace) -> dict:
    """The fills of ``todo`` from a Ray cluster (``infill.distributed``), by ``id(job)``."""
    from infill.distributed import FillTask, fill_over_ray, worker_request

    tasks = [FillTask(job.marked.text, tuple(job.marked.spans), job.shown) for job in todo]
    request = worker_request(settings, args.trust_remote_code, getattr(args, "device_map", None))
    filled = fill_over_ray(tasks, request, args.ray, language=settings.language,
                           seed=settings.seed, options=settings.fill,
                           workers=getattr(args, "ray_workers", None),
                           trajectory=bool(args.trajectory),
                           progress=not args.quiet and len(todo) > 1)
    if args.trajectory:
        with open(args.trajectory, "w", encoding="utf-8") as trajectory:
            for result in filled:
                write_jsonl(result.trajectory, trajectory)
    return {id(job): result for job, result in zip(todo, filled)}


def run_models(args: argparse.Namespace) -> int:
    """The bundled house model and the checkpoints in the local Hugging Face cache that a
    backend can run, with their default settings."""
    from infill.backends import BACKENDS, default_model_path, find_cached_models
    from infill.config import load_config

    path = default_model_path()
    if path is None:
        print("house model: not found (models/house is missing; see docs/TRAINING.md)")
    else:
        config = load_config(path)
        training = config.training if config else {}
        print(f"house model (default): {path}")
        print(f"  backend hf-mlm, context {(config and config.max_context) or '?'} tokens, "
              f"{training.get('tokens_seen', '?')} training tokens")
        print(f"  sampler defaults: {json.dumps(config.sampler if config else {})}")
    print("backends (--backend):")
    for spec in BACKENDS.values():
        extra = ", needs --trust-remote-code" if spec.needs_remote_code else ""
        print(f"  {spec.name}: {spec.summary}{extra}")
    cached = find_cached_models()
    print(f"local Hugging Face cache: {len(cached)} checkpoint(s) a backend can run")
    for name, backend, where in cached:
        extra = " (needs --trust-remote-code)" if BACKENDS[backend].needs_remote_code else ""
        print(f"  {name}: backend {backend}{extra}  {where}")
        if backend in ("llada", "dream"):
            from infill.backends.native_backend import describe
            print(f"    {describe(where, backend)}")
    return 0 if path is not None or cached else 2


def _read_stdin(syntax: MarkerSyntax) -> _Job:
    doc = decode_document(sys.stdin.buffer.read(), "<stdin>")
    return _Job(doc, parse_markers(doc.text, syntax, "<stdin>"), "<stdin>")


def _read_jobs(paths, settings: Settings, syntax: MarkerSyntax):
    """The files to fill, and the errors of files under a directory that may hold markers.

    An explicit file that cannot be read is an error at once. Under a directory, a file
    that is not decodable text is skipped unless it seems to hold a marker (or cannot be
    read at all, so nobody can tell): those are returned, for ``--check`` to fail on.
    """
    explicit = {os.path.normpath(p) for p in paths if not os.path.isdir(p)}
    jobs, unreadable = [], []
    for path in iter_files(paths, settings.exclude):
        try:
            doc = read_document(path)
        except InfillError as error:
            if os.path.normpath(path) in explicit:
                raise
            if _may_hold_marker(path, syntax):
                unreadable.append(InputError(f"{error.reason}, and it may hold a marker",
                                             path=error.path, line=error.line))
            continue  # found under a directory and not decodable text: not ours to fill
        jobs.append(_Job(doc, parse_markers(doc.text, syntax, path), path))
    return jobs, unreadable


def _may_hold_marker(path: str, syntax: MarkerSyntax) -> bool:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return True  # unreadable: it may
    if is_binary(raw):
        return False
    text = raw.decode("utf-8", "replace")
    return (syntax.region_open in text or syntax.region_close in text
            or bool(syntax.hole_pattern().search(text)))


def _check(jobs: list[_Job], syntax: MarkerSyntax, unreadable=()) -> int:
    left = 0
    for job in jobs:
        for hit in find_markers(job.doc.text, syntax):
            print(f"{job.shown}:{hit.line}:{hit.column}: {hit.kind} marker '{hit.text}'")
            left += 1
    for error in unreadable:
        print(f"infill: {error}", file=sys.stderr)
    if unreadable:
        return 2  # a file that may hold a marker could not be checked: 2 wins over 1
    return 1 if left else 0


def _report(jobs: list[_Job], results: dict, texts: dict, refused: dict,
            cautioned: dict) -> dict:
    files = []
    for job in jobs:
        result = results.get(id(job))
        entry = {"path": job.shown, "spans": [], "language": None}
        if result is not None:
            entry.update(
                language=result.language, forward_passes=result.forward_passes,
                elapsed=round(result.elapsed, 4), score=result.score,
                parse_errors=result.parse_errors, text=texts[id(job)],
                refused=[{"line": r.line, "span": r.index, "reason": r.reason}
                         for r in refused[id(job)]],
                cautions=[{"line": c.line, "span": c.index, "reason": c.reason}
                          for c in cautioned[id(job)]],
                spans=[{"line": s.line, "kind": s.kind, "text": s.text, "tokens": s.tokens,
                        "confidence": round(s.confidence, 4)} for s in result.spans],
                candidates=[{"text": c.text, "score": c.score, "parse_errors": c.parse_errors}
                            for c in result.candidates])
        files.append(entry)
    return {"files": files}


def _progress(items: list, args: argparse.Namespace):
    if len(items) < 2 or args.quiet or not sys.stderr.isatty():
        yield from items
        return
    from rich.progress import Progress

    with Progress(transient=True) as progress:
        task = progress.add_task("filling", total=len(items))
        for item in items:
            yield item
            progress.advance(task)


def _print_diff(diff: str) -> None:
    if not diff:
        return
    if sys.stdout.isatty() and not os.environ.get("NO_COLOR"):
        from rich.console import Console
        from rich.syntax import Syntax

        Console().print(Syntax(diff, "diff", theme="ansi_dark", background_color="default"))
    else:
        sys.stdout.write(diff)
        sys.stdout.flush()
