"""Time fills by two versions of infill side by side, record by record, alternating.

    python scripts/time_ab.py /path/to/old/checkout . evalsets/dev/python-statements.jsonl \
        --limit 40

Each source tree runs in a worker process of its own (``PYTHONPATH`` set to it), loads the
model once and fills the records' holes as it is told; the records go to the two workers
in turn, A then B, then B then A, so that a noisy machine weighs on both alike. Prints the
median and total time of each and how many fills differ. ``INFILL_THREADS`` sets the
threads of both, as for any fill. Only the timed fill runs in a worker at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

WORKER = r"""
import json, sys, time
import infill
from infill.markers import HOLE, Span
filler = infill.load(sys.argv[1] or None, device="cpu")
print("ready", flush=True)
for line in sys.stdin:
    record = json.loads(line)
    prefix = record.get("before", "") + record["prefix"]
    text = prefix + record["suffix"] + record.get("after", "")
    hole = Span(len(prefix), len(prefix), HOLE)
    started = time.perf_counter()
    result = filler.fill_spans(text, [hole], record.get("language"))
    elapsed = time.perf_counter() - started
    print(json.dumps({"ms": elapsed * 1000, "fill": result.spans[0].text}), flush=True)
"""


def start(tree: Path, model: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(tree.resolve()))
    worker = subprocess.Popen([sys.executable, "-c", WORKER, model], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env, cwd=tree)
    if worker.stdout.readline().strip() != "ready":
        raise SystemExit(f"{tree}: the worker did not start")
    return worker


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="source tree A (a checkout of infill)")
    parser.add_argument("b", type=Path, help="source tree B")
    parser.add_argument("data", type=Path, help="an evaluation set (infill eval's JSON lines)")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--model", default="", help="default: each tree's house model")
    args = parser.parse_args(argv)

    records = [line for line in args.data.read_text(encoding="utf-8").splitlines()
               if line.strip()][:args.limit]
    workers = {"A": start(args.a, args.model), "B": start(args.b, args.model)}
    times: dict[str, list[float]] = {"A": [], "B": []}
    fills: dict[str, list[str]] = {"A": [], "B": []}
    for i, line in enumerate(records):
        for name in ("A", "B") if i % 2 == 0 else ("B", "A"):
            worker = workers[name]
            worker.stdin.write(line + "\n")
            worker.stdin.flush()
            answer = json.loads(worker.stdout.readline())
            times[name].append(answer["ms"])
            fills[name].append(answer["fill"])
    for worker in workers.values():
        worker.stdin.close()
        worker.wait()
    for name, tree in (("A", args.a), ("B", args.b)):
        print(f"{name} ({tree}): p50 {statistics.median(times[name]):.0f} ms, "
              f"total {sum(times[name]) / 1000:.1f} s over {len(times[name])} fills")
    print(f"B/A: p50 {statistics.median(times['B']) / statistics.median(times['A']):.2f}, "
          f"total {sum(times['B']) / sum(times['A']):.2f}; "
          f"{sum(a != b for a, b in zip(fills['A'], fills['B']))} fills differ")


if __name__ == "__main__":
    main(sys.argv[1:])
