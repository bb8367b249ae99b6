"""``infill bench``: latency and throughput of fills, against a reference sampler.

The reference commits one token per forward pass (``confidence`` with steps = slots), the
slowest and most careful schedule; the configured sampler (the model's defaults, or the
flags) runs on the same model and inputs in the same process, so the ratios printed are
from one run on one machine. Results go to docs/BENCHMARKS.md by hand, with the header this
command prints (machine, date, exact command).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from infill.markers import HOLE, Span
from infill.options import FillOptions

_FALLBACK = [
    {"prefix": "def add(a, b):\n    return ", "suffix": "\n", "language": "python"},
    {"prefix": "def mean(xs):\n    if not xs:\n        raise ValueError('empty')\n    return ",
     "suffix": "\n", "language": "python"},
    {"prefix": "for i in range(10):\n    ", "suffix": "\nprint('done')\n", "language": "python"},
    {"prefix": "fn len(&self) -> usize {\n    ", "suffix": "\n}\n", "language": "rust"},
]


@dataclass
class Timing:
    name: str
    fills: int
    p50_ms: float
    p95_ms: float
    tokens_per_s: float
    passes_per_fill: float


def time_fills(filler, records: list[dict], name: str, options: FillOptions) -> Timing:
    latencies, tokens, passes = [], 0, 0
    for record in records:
        prefix, suffix = record["prefix"], record["suffix"]
        start = time.perf_counter()
        result = filler.fill_spans(prefix + suffix, [Span(len(prefix), len(prefix), HOLE)],
                                   record.get("language"), 0, options=options)
        latencies.append(time.perf_counter() - start)
        tokens += result.spans[0].tokens
        passes += result.forward_passes
    n = len(records)
    return Timing(name, n, 1000 * statistics.median(latencies),
                  1000 * sorted(latencies)[min(n - 1, int(0.95 * n))],
                  tokens / sum(latencies), passes / n)


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {os.cpu_count()} CPUs, {gpu}, torch {torch.__version__}, Python {platform.python_version()}"


def run_bench(args: argparse.Namespace) -> int:
    from infill.evaluate import read_records
    from infill.fill_cmd import load_filler, settings_for

    settings = settings_for(args, ".")
    records = read_records(args.data, args.limit) if args.data else _FALLBACK
    filler = load_filler(settings, args.trust_remote_code)
    options = settings.fill.with_(candidates=1)
    time_fills(filler, records[:2], "warm-up", options)
    reference = time_fills(filler, records, "reference (1 token/step)",
                           FillOptions(strategy="confidence"))
    configured = time_fills(filler, records, "configured", options)
    print(f"date: {time.strftime('%Y-%m-%d')}")
    print(f"machine: {machine()}; device: {filler.info.device}")
    print(f"model: {filler.info.path} ({filler.info.parameters / 1e6:.1f}M parameters)")
    print(f"command: infill {' '.join(sys.argv[1:])}")
    print("| sampler | fills | p50 ms | p95 ms | tokens/s | passes/fill |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for t in (reference, configured):
        print(f"| {t.name} | {t.fills} | {t.p50_ms:.0f} | {t.p95_ms:.0f} | {t.tokens_per_s:.1f} | "
              f"{t.passes_per_fill:.1f} |")
    speedup = reference.p50_ms / configured.p50_ms if configured.p50_ms else float("nan")
    print(f"configured vs reference: {speedup:.2f}x p50 latency, "
          f"{configured.tokens_per_s / max(reference.tokens_per_s, 1e-9):.2f}x tokens/s")
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine(), "timings": [
            asdict(reference), asdict(configured)]}, indent=2) + "\n")
    return 0
