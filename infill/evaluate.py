"""``infill eval``: fill quality on held-out records (DESIGN section 8).

Each record is ``{prefix, suffix, middle, language, kind}``, and may carry ``before`` and
``after``: the rest of its file. The engine gets the record's whole text with one hole
(``before + prefix`` | ``suffix + after``) and places its own window, as ``infill fill`` does
with a file. Every set gets two rows: the **empty fill** (every hole left empty: the floor a
model must beat) and the model. Reported per row:

- ``exact``: the fill equals the middle, ignoring whitespace at both ends;
- ``one_line``: the fill is text on one line (a line break may end it: whole-line holes); a
  blank fill is not one line;
- ``parse_valid``: the record's whole text with the fill parses without errors
  (``syntax.count_errors``: tree-sitter, and for Python Python's own parser too), over the
  records whose original parses (languages with a grammar only); a blank fill never counts;
- ``blank``: share of fills that are empty or whitespace;
- ``length_ratio``: mean fill length over mean true length (characters);
- ``passes_per_token``: forward passes per filled token (lower is faster);
- latency p50 / p95 in milliseconds;
- with ``--execute``, ``pass_rate`` (pass@1) of records carrying a ``test``: the program
  ``before + prefix + fill + suffix + after`` (``before``/``after``: the file outside the
  window, when a record has them) and then the test run in a subprocess with a time limit in
  a temporary directory. Without it, generated code is never run.

``--jobs N`` fills and judges the records in N worker processes (one model copy each); the
records and reports are those of one process.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from infill.errors import InputError
from infill.markers import HOLE, Span
from infill.options import FillOptions

TEST_TIMEOUT = 10.0


@dataclass
class SetReport:
    name: str
    system: str = "model"  # "model", or "empty fill" for the floor row
    records: int = 0
    exact: float = 0.0
    one_line: float = 0.0
    parse_valid: float | None = None
    blank: float = 0.0
    length_ratio: float | None = None  # mean fill length / mean true length, in characters
    passes_per_token: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    pass_rate: float | None = None
    tested: int = 0
    examples: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class Outcome:
    """One record's fill and what it cost."""

    fill: str
    language: str | None
    elapsed: float = 0.0
    forward_passes: int = 0
    tokens: int = 0


def read_records(path: str | Path, limit: int | None = None) -> list[dict]:
    records = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise InputError(f"not a JSON object ({exc.msg})", path=str(path), line=number) from exc
            missing = {"prefix", "suffix", "middle"} - set(record)
            if missing:
                raise InputError(f"record lacks {', '.join(sorted(missing))}", path=str(path), line=number)
            records.append(record)
            if limit and len(records) >= limit:
                break
    return records


def is_blank(fill: str) -> bool:
    return not fill.strip()


def is_one_line(fill: str) -> bool:
    """Text on one line: not blank, no line break except one that ends it (whole-line holes)."""
    return not is_blank(fill) and "\n" not in fill.rstrip("\r\n")


def program_of(record: dict, fill: str) -> str:
    """A record's whole text with ``fill`` in its hole: what the parse check judges and the
    test runs (``before``/``after``: the file outside the record's window, when it has them)."""
    return record.get("before", "") + record["prefix"] + fill + record["suffix"] + record.get("after", "")


def _fill_record(filler, record: dict, seed: int, options: FillOptions | None):
    prefix = record.get("before", "") + record["prefix"]
    suffix = record["suffix"] + record.get("after", "")
    return filler.fill_spans(prefix + suffix, [Span(len(prefix), len(prefix), HOLE)],
                             record.get("language"), seed, options=options)


def fill_with_model(filler, record: dict, seed: int = 0, options: FillOptions | None = None) -> Outcome:
    result = _fill_record(filler, record, seed, options)
    span = result.spans[0]
    return Outcome(span.text, result.language, result.elapsed, result.forward_passes, max(1, span.tokens))


def fill_candidates(filler, record: dict, seed: int = 0, options: FillOptions | None = None) -> list[str]:
    """The distinct fills of a record's hole among the engine's candidates, best first."""
    result = _fill_record(filler, record, seed, options)
    texts: list[str] = []
    for text in [result.spans[0].text] + [c.spans[0].text for c in result.candidates]:
        if text not in texts:
            texts.append(text)
    return texts


@dataclass(frozen=True)
class Judged:
    """One record's verdicts: the row of ``--records`` and what a set's report adds up."""

    set: str
    system: str
    index: int  # the record's place in its set (ids may repeat: two holes at one offset)
    id: str | None
    fill: str
    exact: bool
    one_line: bool
    blank: bool
    parse_valid: bool | None  # None: the original does not parse (or no grammar)
    passed: bool | None  # None: not executed, or the record has no test
    forward_passes: int
    elapsed_ms: float


def judge(name: str, system: str, index: int, record: dict, out: Outcome, execute: bool = False) -> Judged:
    """Score one fill against its record (the test runs only with ``execute``)."""
    from infill import syntax

    middle, fill = record["middle"], out.fill
    language = out.language or record.get("language")
    valid = None
    if syntax.count_errors(program_of(record, middle), language) == 0:
        # A blank fill is never counted as valid, even where the text still parses.
        valid = not is_blank(fill) and syntax.count_errors(program_of(record, fill), language) == 0
    passed = run_test(program_of(record, fill), record["test"]) if execute and record.get("test") else None
    return Judged(name, system, index, record.get("id"), fill, fill.strip() == middle.strip(),
                  is_one_line(fill), is_blank(fill), valid, passed, out.forward_passes,
                  out.elapsed * 1000)


def score(name: str, system: str, records: list[dict], outcomes: list[Outcome], execute: bool = False,
          judged: list[Judged] | None = None) -> SetReport:
    """Exact, one-line, parse-valid, blank, length ratio, cost and (``execute``) pass rate.

    ``judged``, when given, receives every record's verdicts (``infill eval --records``).
    """
    verdicts = [judge(name, system, i, record, out, execute)
                for i, (record, out) in enumerate(zip(records, outcomes))]
    if judged is not None:
        judged.extend(verdicts)
    return summarize(name, system, records, outcomes, verdicts)


def summarize(name: str, system: str, records: list[dict], outcomes: list[Outcome],
              verdicts: list[Judged]) -> SetReport:
    """One row of the report from every record's outcome and verdicts."""
    report = SetReport(name, system, records=len(records))
    if not records:
        return report
    n = len(records)
    valid = [v.parse_valid for v in verdicts if v.parse_valid is not None]
    tested = [v.passed for v in verdicts if v.passed is not None]
    true_chars = sum(len(r["middle"]) for r in records)
    tokens = sum(out.tokens for out in outcomes)
    latencies = sorted(v.elapsed_ms for v in verdicts)
    report.exact = sum(v.exact for v in verdicts) / n
    report.one_line = sum(v.one_line for v in verdicts) / n
    report.blank = sum(v.blank for v in verdicts) / n
    report.parse_valid = sum(valid) / len(valid) if valid else None
    report.length_ratio = sum(len(out.fill) for out in outcomes) / true_chars if true_chars else None
    report.passes_per_token = sum(v.forward_passes for v in verdicts) / tokens if tokens else 0.0
    report.latency_p50_ms = statistics.median(latencies)
    report.latency_p95_ms = latencies[min(n - 1, int(0.95 * n))]
    report.pass_rate = sum(tested) / len(tested) if tested else None
    report.tested = len(tested)
    report.examples = [{"id": r.get("id"), "middle": r["middle"], "fill": out.fill}
                       for r, out in zip(records[:5], outcomes)]
    return report


def evaluate_records(filler, records: list[dict], name: str, execute: bool = False,
                     seed: int = 0, options: FillOptions | None = None,
                     judged: list[Judged] | None = None) -> SetReport:
    """The model's row: fill every record's hole with ``filler`` and score it."""
    outcomes = [fill_with_model(filler, r, seed, options) for r in records]
    return score(name, "model", records, outcomes, execute, judged)


def empty_fill_report(records: list[dict], name: str, execute: bool = False,
                      judged: list[Judged] | None = None) -> SetReport:
    """The floor: every hole left empty."""
    return score(name, "empty fill", records, [Outcome("", r.get("language")) for r in records], execute,
                 judged)


def run_test(program: str, test: str) -> bool:
    """Run ``program`` then ``test`` as Python in a fresh temporary directory, time-limited."""
    with tempfile.TemporaryDirectory(prefix="infill-eval-") as tmp:
        script = Path(tmp) / "candidate.py"
        script.write_text(program + "\n\n" + test + "\n", encoding="utf-8")
        try:
            proc = subprocess.run([sys.executable, "-I", str(script)], cwd=tmp, timeout=TEST_TIMEOUT,
                                  capture_output=True, env={"PATH": os.environ.get("PATH", "")})
        except subprocess.TimeoutExpired:
            return False
        return proc.returncode == 0


def format_table(reports: list[SetReport]) -> str:
    def pct(x):
        return "—" if x is None else f"{100 * x:5.1f}%"

    lines = ["| set | system | n | exact | one-line | parse-valid | blank | len/true | pass@1 | passes/token | p50 ms | p95 ms |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in reports:
        ratio = "—" if r.length_ratio is None else f"{r.length_ratio:.2f}"
        passed = "—" if r.pass_rate is None else f"{pct(r.pass_rate)} of {r.tested}"
        cost = ("—", "—", "—") if r.system == "empty fill" else (
            f"{r.passes_per_token:.2f}", f"{r.latency_p50_ms:.0f}", f"{r.latency_p95_ms:.0f}")
        lines.append(f"| {r.name} | {r.system} | {r.records} | {pct(r.exact)} | {pct(r.one_line)} | "
                     f"{pct(r.parse_valid)} | {pct(r.blank)} | {ratio} | {passed} | {' | '.join(cost)} |")
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    from infill.fill_cmd import settings_for

    settings = settings_for(args, ".")
    datasets = [(Path(p).stem, read_records(p, args.limit)) for p in args.data]
    jobs = getattr(args, "jobs", 1)
    if jobs < 1:
        raise InputError(f"--jobs {jobs}: expected at least 1 worker")
    sets = (_sets_in_workers(settings, args.trust_remote_code, datasets, args.execute, jobs)
            if jobs > 1 else _sets_here(settings, args.trust_remote_code, datasets, args.execute))
    reports: list[SetReport] = []
    judged: list[Judged] = []
    for rows, verdicts in sets:
        reports += rows
        judged += verdicts
        # Each set's rows as soon as they are known: a long run shows its progress, and an
        # interrupted one keeps what it measured.
        print("\n".join(format_table(rows).splitlines()[2:]), flush=True)
        if args.out:
            Path(args.out).write_text(json.dumps([asdict(r) for r in reports], indent=2) + "\n")
        if args.records:
            Path(args.records).write_text("".join(json.dumps(asdict(v)) + "\n" for v in judged))
    print(format_table(reports))
    return 0


def _describe(filler) -> str:
    info = filler.info
    return f"model: {info.path} ({info.parameters / 1e6:.1f}M parameters, {info.device})"


def _sets_here(settings, trust_remote_code: bool, datasets: list[tuple[str, list[dict]]],
               execute: bool):
    """Each set's (floor row, model row) and verdicts, filled in this process, in set order."""
    from infill.fill_cmd import load_filler

    filler = load_filler(settings, trust_remote_code)
    print(_describe(filler), flush=True)
    for name, records in datasets:
        verdicts: list[Judged] = []
        rows = [empty_fill_report(records, name, execute, verdicts),
                evaluate_records(filler, records, name, execute, settings.seed,
                                 options=settings.fill, judged=verdicts)]
        yield rows, verdicts


# ``--jobs N``: records are filled and judged by N worker processes, each with its own copy
# of the model, in chunks of this many records (small enough to share the work out evenly).
CHUNK = 4
_filler = None  # a worker's model
_failed: Exception | None = None  # or why it could not be loaded: raised by every task


def _start_worker(settings, trust_remote_code: bool, threads: int) -> None:
    global _filler, _failed
    if not os.environ.get("INFILL_THREADS"):
        os.environ["INFILL_THREADS"] = str(threads)
    from infill.fill_cmd import load_filler

    try:
        _filler = load_filler(settings, trust_remote_code)
    except Exception as exc:  # the parent shows it as a one-line error, like a serial run
        _failed = exc


def _worker_filler():
    if _failed is not None:
        raise _failed
    return _filler


def _worker_describe() -> str:
    return _describe(_worker_filler())


def _work(name: str, system: str, start: int, records: list[dict], execute: bool, seed: int,
          options: FillOptions | None) -> list[tuple[Outcome, Judged]]:
    """Fill (the model's row; the floor's fills are empty) and judge a chunk of one set's
    records, the first being record ``start`` of the set."""
    done = []
    for i, record in enumerate(records, start):
        out = (fill_with_model(_worker_filler(), record, seed, options) if system == "model"
               else Outcome("", record.get("language")))
        done.append((out, judge(name, system, i, record, out, execute)))
    return done


def _sets_in_workers(settings, trust_remote_code: bool, datasets: list[tuple[str, list[dict]]],
                     execute: bool, jobs: int):
    """``_sets_here``'s rows and verdicts, the records shared out over ``jobs`` processes
    (threads: the cores shared out, unless ``INFILL_THREADS`` says). Every record is filled
    with its own seed, as in one process, so the fills are the same."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    threads = max(1, (os.cpu_count() or 1) // jobs)
    pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker,
                               initargs=(settings, trust_remote_code, threads))
    try:
        described = pool.submit(_worker_describe)  # first: the model line comes before the rows
        chunks = []  # per set, per system: the futures of its chunks, in record order
        for name, records in datasets:
            chunks.append({system: [pool.submit(_work, name, system, i, records[i:i + CHUNK],
                                                execute, settings.seed, settings.fill)
                                    for i in range(0, len(records), CHUNK)]
                           for system in ("empty fill", "model")})
        print(described.result(), flush=True)
        for (name, records), futures in zip(datasets, chunks):
            rows, verdicts = [], []
            for system in ("empty fill", "model"):
                done = [pair for future in futures[system] for pair in future.result()]
                judged = [v for _, v in done]
                rows.append(summarize(name, system, records, [out for out, _ in done], judged))
                verdicts += judged
            yield rows, verdicts
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
