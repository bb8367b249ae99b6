"""``infill eval``: fill quality on held-out records (DESIGN section 8).

Each record is ``{prefix, suffix, middle, language, kind}``; the model sees prefix and suffix
around one hole. Reported per file:

- ``exact``: the fill equals the middle, ignoring whitespace at both ends;
- ``one_line``: the fill has no newline (what elastic length must get right on single-line sets);
- ``parse_valid``: prefix + fill + suffix parses without errors, over the records whose
  original parses (languages with a tree-sitter grammar only);
- ``passes_per_token``: forward passes per filled token (lower is faster);
- latency p50 / p95 in milliseconds;
- with ``--execute``, ``pass_rate`` of records carrying a ``test``, run in a subprocess with a
  time limit in a temporary directory. Without it, generated code is never run.
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
    records: int = 0
    exact: float = 0.0
    one_line: float = 0.0
    parse_valid: float | None = None
    passes_per_token: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    pass_rate: float | None = None
    examples: list[dict] = field(default_factory=list)


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


def evaluate_records(filler, records: list[dict], name: str, execute: bool = False,
                     seed: int = 0, options: FillOptions | None = None) -> SetReport:
    from infill import syntax

    report = SetReport(name, records=len(records))
    if not records:
        return report
    exact = one_line = valid = valid_of = passed = tested = 0
    passes = tokens = 0
    latencies = []
    for record in records:
        prefix, suffix, middle = record["prefix"], record["suffix"], record["middle"]
        language = record.get("language")
        result = filler.fill_spans(prefix + suffix, [Span(len(prefix), len(prefix), HOLE)],
                                   language, seed, options=options)
        fill = result.spans[0].text
        latencies.append(result.elapsed * 1000)
        passes += result.forward_passes
        tokens += max(1, result.spans[0].tokens)
        exact += fill.strip() == middle.strip()
        one_line += "\n" not in fill
        base = syntax.count_errors(prefix + middle + suffix, result.language)
        if base == 0:
            valid_of += 1
            valid += syntax.count_errors(prefix + fill + suffix, result.language) == 0
        if execute and record.get("test"):
            tested += 1
            passed += run_test(prefix + fill + suffix, record["test"])
        if len(report.examples) < 5:
            report.examples.append({"id": record.get("id"), "middle": middle, "fill": fill})
    n = len(records)
    report.exact = exact / n
    report.one_line = one_line / n
    report.parse_valid = valid / valid_of if valid_of else None
    report.passes_per_token = passes / tokens
    report.latency_p50_ms = statistics.median(latencies)
    report.latency_p95_ms = sorted(latencies)[min(n - 1, int(0.95 * n))]
    report.pass_rate = passed / tested if tested else None
    return report


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

    lines = ["| set | n | exact | one-line | parse-valid | passes/token | p50 ms | p95 ms |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in reports:
        lines.append(f"| {r.name} | {r.records} | {pct(r.exact)} | {pct(r.one_line)} | "
                     f"{pct(r.parse_valid)} | {r.passes_per_token:.2f} | {r.latency_p50_ms:.0f} | "
                     f"{r.latency_p95_ms:.0f} |" + (f" pass {pct(r.pass_rate)}" if r.pass_rate is not None else ""))
    return "\n".join(lines)


def run_eval(args: argparse.Namespace) -> int:
    from infill.fill_cmd import load_filler, settings_for

    settings = settings_for(args, ".")
    datasets = [(Path(p).stem, read_records(p, args.limit)) for p in args.data]
    filler = load_filler(settings, args.trust_remote_code)
    reports = [evaluate_records(filler, records, name, args.execute, settings.seed,
                                options=settings.fill)
               for name, records in datasets]
    print(f"model: {filler.info.path} ({filler.info.parameters / 1e6:.1f}M parameters, "
          f"{filler.info.device})")
    print(format_table(reports))
    if args.out:
        Path(args.out).write_text(json.dumps([asdict(r) for r in reports], indent=2) + "\n")
    return 0
