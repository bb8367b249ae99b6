"""``infill bench``: latency, forward passes and exact match of fills, against a reference.

The reference sampler commits one token per forward pass (``confidence`` with steps =
slots: the slowest, most careful schedule); the configured one is the model's defaults or
the flags. Both run on the same model and inputs in one process, and **alternate fill by
fill** (reference first on even fills, configured first on odd ones), so that a machine
whose load drifts during the run (a shared CPU, a throttling laptop) shifts both alike.

Workloads: files of about 200, 1,000, 4,000 and 16,000 tokens with 1, 4 and 16 holes
(``--sizes``, ``--holes``), built from the held-out evaluation sets that ship with the
project (``evalsets/*-single-line.jsonl``): each hole is a record's own hole, with as much
of its prefix and suffix as the file's size leaves it, so the true middle is known and
exact match is reported beside the speed. ``--data FILE.jsonl`` times records as they are
(one hole each) instead. Nothing is downloaded.

Ratios are printed as reference ÷ configured with a word for the direction ("2.4x faster",
"3.1x fewer passes"), and the header says the date, the machine (CPU model, bf16 and AMX
support, cores, threads, load average), the model, its dtype and the exact command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from infill.markers import HOLE, Span
from infill.options import FillOptions

SIZES = (200, 1000, 4000, 16000)
HOLES = (1, 4, 16)
REFERENCE = {"strategy": "confidence", "steps": None, "cache_refresh": 1}  # vs the configured options
EVALSETS = Path(__file__).resolve().parent.parent / "evalsets"


@dataclass
class Workload:
    """One file with holes: ``text`` with the holes cut out, ``spans`` and their truths."""

    name: str
    text: str
    spans: list[Span]
    middles: list[str]
    language: str
    tokens: int = 0
    sources: list[str] = field(default_factory=list)   # the records the holes came from


@dataclass
class Timing:
    name: str
    fills: int = 0
    latencies: list[float] = field(default_factory=list)   # seconds, wall
    cpu: list[float] = field(default_factory=list)         # seconds of this process's CPU
    passes: int = 0
    tokens: int = 0
    exact: int = 0
    holes: int = 0

    def add(self, result, middles: list[str], wall: float, cpu: float) -> None:
        self.fills += 1
        self.latencies.append(wall)
        self.cpu.append(cpu)
        self.passes += result.forward_passes
        self.tokens += sum(s.tokens for s in result.spans)
        self.exact += sum(s.text.strip() == m.strip() for s, m in zip(result.spans, middles))
        self.holes += len(middles)

    def summary(self) -> dict:
        n = max(self.fills, 1)
        ordered = sorted(self.latencies) or [0.0]
        return {"sampler": self.name, "fills": self.fills,
                "p50_ms": 1000 * statistics.median(ordered),
                "p95_ms": 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
                "cpu_p50_ms": 1000 * statistics.median(self.cpu or [0.0]),
                "passes_per_fill": self.passes / n,
                "passes_per_token": self.passes / max(self.tokens, 1),
                "tokens_per_s": self.tokens / max(sum(self.latencies), 1e-9),
                "exact": self.exact / max(self.holes, 1)}


# -- workloads ------------------------------------------------------------------------------

def load_records(paths: list[Path] | None = None) -> list[dict]:
    """Single-line held-out records, all languages, in a fixed interleaved order."""
    from infill.evaluate import read_records

    paths = paths or sorted(EVALSETS.glob("*-single-line.jsonl"))
    sets = [read_records(p) for p in paths]
    out = []
    for i in range(max((len(s) for s in sets), default=0)):
        out.extend(s[i] for s in sets if i < len(s))
    return out


def make_workload(records: list[dict], tokens: int, holes: int, index: int, count) -> Workload:
    """A file of about ``tokens`` tokens (``count(text)`` counts them) with ``holes`` holes.

    Hole j is record ``index * holes + j``'s hole, with the lines of its prefix (three
    quarters of the share) and suffix (a quarter) that fit in ``tokens / holes``; when the
    records are too short, whole other records are put in front, hole-free."""
    share = max(8, tokens // holes)
    language = records[(index * holes) % len(records)].get("language", "unknown")
    pool = [r for r in records if r.get("language", "unknown") == language]
    parts, spans, middles, sources, at = [], [], [], [], 0
    for j in range(holes):
        record = pool[(index * holes + j) % len(pool)]
        before = _tail_lines(record["prefix"], share * 3 // 4, count)
        after = _head_lines(record["suffix"], share - count(before), count)
        filler_at = index * holes + j + 1
        while count(before) + count(after) < share * 9 // 10 and filler_at < index * holes + j + 200:
            other = pool[(filler_at * 7919) % len(pool)]
            whole = other["prefix"] + other["middle"] + other["suffix"]
            room = share - count(before) - count(after)
            before = _tail_lines(whole.rstrip("\n") + "\n\n", room, count) + before
            filler_at += 1
        if parts and not parts[-1].endswith("\n"):
            parts.append("\n")
            at += 1
        spans.append(Span(at + len(before), at + len(before), HOLE))
        middles.append(record["middle"])
        sources.append(record.get("id", ""))
        parts.append(before + after)
        at += len(before) + len(after)
    text = "".join(parts)
    return Workload(f"{tokens} tokens, {holes} hole{'s' * (holes > 1)}", text, spans, middles,
                    language, count(text), sources)


def _tail_lines(text: str, budget: int, count) -> str:
    lines = text.splitlines(keepends=True)
    kept: list[str] = []
    used = 0
    for line in reversed(lines):
        cost = count(line)
        if kept and used + cost > budget:
            break
        kept.append(line)
        used += cost
    return "".join(reversed(kept))


def _head_lines(text: str, budget: int, count) -> str:
    kept: list[str] = []
    used = 0
    for line in text.splitlines(keepends=True):
        cost = count(line)
        if kept and used + cost > budget:
            break
        kept.append(line)
        used += cost
    return "".join(kept)


def record_workloads(records: list[dict]) -> list[Workload]:
    return [Workload(r.get("id", f"record {i}"), r["prefix"] + r["suffix"],
                     [Span(len(r["prefix"]), len(r["prefix"]), HOLE)], [r["middle"]],
                     r.get("language", "unknown")) for i, r in enumerate(records)]


# -- timing ---------------------------------------------------------------------------------

def reference_options(configured: FillOptions) -> FillOptions:
    """The configured options with the one-token-per-pass schedule."""
    return configured.with_(**REFERENCE)


def time_pair(filler, workloads: list[Workload], configured: FillOptions, seed: int = 0):
    """Reference and configured sampler on each workload, alternating which goes first."""
    reference, mine = Timing("reference (1 token/pass)"), Timing("configured")
    for i, w in enumerate(workloads):
        runs = [(reference, reference_options(configured)), (mine, configured)]
        for timing, options in (runs if i % 2 == 0 else runs[::-1]):
            wall, cpu = time.perf_counter(), time.process_time()
            result = filler.fill_spans(w.text, w.spans, w.language, seed, options=options)
            timing.add(result, w.middles, time.perf_counter() - wall, time.process_time() - cpu)
    return reference, mine


def ratio_words(reference: dict, configured: dict) -> tuple[str, str]:
    def say(a: float, b: float, better: str, worse: str) -> str:
        if a <= 0 or b <= 0:
            return "—"
        if abs(a / b - 1) < 0.005:
            return "1.00x (the same)"
        return f"{a / b:.2f}x {better}" if a >= b else f"{b / a:.2f}x {worse}"
    return (say(reference["p50_ms"], configured["p50_ms"], "faster", "slower"),
            say(reference["passes_per_fill"], configured["passes_per_fill"], "fewer passes", "more passes"))


def machine() -> str:
    import torch

    from infill.backends.cpu import cpu_flags

    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.partition(":")[2].strip()
                break
    except OSError:
        pass
    flags = cpu_flags()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    load = f"load average {os.getloadavg()[0]:.1f}" if hasattr(os, "getloadavg") else "load unknown"
    return (f"{name} ({platform.machine()}, {cores} cores, avx512_bf16 "
            f"{'yes' if 'avx512_bf16' in flags else 'no'}, AMX {'yes' if 'amx_bf16' in flags else 'no'}), "
            f"{gpu}; {load} at start; torch {torch.__version__} with {torch.get_num_threads()} "
            f"thread(s); Python {platform.python_version()}")


def run_bench(args: argparse.Namespace) -> int:
    import infill
    from infill.fill_cmd import settings_for

    settings = settings_for(args, ".")
    # The model in this process, never a warm server's: the bench times this machine's passes.
    filler = infill.load(settings.model, settings.device, settings.backend, args.trust_remote_code)
    # One candidate, no retries and no copies on both sides: the bench times schedules (the
    # cost of candidates, retries and copies is in infill eval's latency columns).
    configured = settings.fill.with_(candidates=1, retries=0, copies=0)
    codec = filler.denoiser.codec
    cache: dict[str, int] = {}

    def count(text: str) -> int:
        if text not in cache:
            cache[text] = len(codec.encode(text))
        return cache[text]

    if args.data:
        from infill.evaluate import read_records

        groups = [(Path(args.data).name, record_workloads(read_records(args.data, args.limit)))]
    else:
        records = load_records()
        groups = [(f"{size} tokens, {holes} hole{'s' * (holes > 1)}",
                   [make_workload(records, size, holes, i, count) for i in range(args.fills)])
                  for size in _ints(args.sizes, SIZES) for holes in _ints(args.holes, HOLES)]
    warm = groups[0][1][:1]
    time_pair(filler, warm, configured)
    dtype = getattr(filler.denoiser, "dtype", "float32")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"machine: {machine()}")
    print(f"model: {filler.info.path} ({filler.info.parameters / 1e6:.1f}M parameters, "
          f"{filler.info.backend} backend, {filler.info.device}, {dtype})")
    print("command: infill " + shlex.join(getattr(args, "argv", None) or sys.argv[1:]))
    print(f"reference: {_describe(reference_options(configured))}, one token per forward pass; "
          f"configured: {_describe(configured)} (unset: the model's defaults, "
          f"{_describe(filler.info.defaults)}); one candidate, no retries, no copies. "
          "Fills alternate reference/configured one by one.")
    print("| workload | sampler | fills | p50 ms | p95 ms | CPU p50 ms | passes/fill | "
          "passes/token | tokens/s | exact |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    results = []
    for name, workloads in groups:
        reference, mine = (t.summary() for t in time_pair(filler, workloads, configured, settings.seed))
        sizes = [w.tokens for w in workloads]
        label = f"{name} (measured {min(sizes)}–{max(sizes)})" if sizes[0] else name
        for row in (reference, mine):
            print(f"| {label} | {row['sampler']} | {row['fills']} | {row['p50_ms']:.0f} | "
                  f"{row['p95_ms']:.0f} | {row['cpu_p50_ms']:.0f} | {row['passes_per_fill']:.1f} | "
                  f"{row['passes_per_token']:.2f} | {row['tokens_per_s']:.1f} | {100 * row['exact']:.0f}% |")
        results.append({"workload": name, "tokens": sizes, "reference": reference, "configured": mine})
        sys.stdout.flush()
    print("\nreference ÷ configured (above 1: the configured sampler is faster / needs fewer passes):")
    print("| workload | p50 latency | forward passes |")
    print("| --- | --- | --- |")
    for r in results:
        latency, passes = ratio_words(r["reference"], r["configured"])
        print(f"| {r['workload']} | {latency} | {passes} |")
    _print_hole_scaling(results)
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine(), "command": getattr(args, "argv", None) or sys.argv[1:],
                                              "results": results}, indent=2, default=str) + "\n")
    return 0


def _print_hole_scaling(results: list[dict]) -> None:
    """Configured p50 of n holes ÷ p50 of one hole, in files of the same size."""
    by = {r["workload"]: r["configured"]["p50_ms"] for r in results}
    lines = []
    for name, p50 in by.items():
        size, _, holes = name.partition(" tokens, ")
        one = by.get(f"{size} tokens, 1 hole")
        if one and not holes.startswith("1 hole"):
            lines.append(f"{size} tokens: {holes} cost {p50 / one:.2f}x one hole")
    if lines:
        print("\nholes (configured sampler, p50 latency): " + "; ".join(lines))


def _describe(options) -> str:
    items = options.items() if isinstance(options, dict) else vars(options).items()
    return ", ".join(f"{k}={v}" for k, v in items if v is not None) or "model defaults"


def _ints(text: str | None, default: tuple[int, ...]) -> list[int]:
    from infill.errors import InputError

    if not text:
        return list(default)
    try:
        values = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise InputError(f"expected comma-separated whole numbers, got '{text}'") from None
    if not values or min(values) < 1:
        raise InputError(f"expected numbers of at least 1, got '{text}'")
    return values

