"""Time fills with and without copies, side by side (docs/BENCHMARKS.md, "Copies").

    python scripts/time_copies.py evalsets/dev/python-whole-line.jsonl --limit 40

Each record's hole is filled twice, without copies and with ``--copies`` (default 8), the
order alternating from record to record so that a noisy machine weighs on both alike.
Prints the median and total time of each. ``INFILL_THREADS`` sets the threads as for any
fill.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="an evaluation set (infill eval's JSON lines)")
    parser.add_argument("--limit", type=int, default=40)
    parser.add_argument("--copies", type=int, default=8)
    parser.add_argument("--model", default=None, help="default: the house model")
    args = parser.parse_args(argv)

    import infill
    from infill.evaluate import read_records
    from infill.markers import HOLE, Span
    from infill.options import FillOptions

    filler = infill.load(args.model, device="cpu")
    times: dict[int, list[float]] = {0: [], args.copies: []}
    for i, record in enumerate(read_records(args.data, args.limit)):
        prefix = record.get("before", "") + record["prefix"]
        text = prefix + record["suffix"] + record.get("after", "")
        hole = Span(len(prefix), len(prefix), HOLE)
        for copies in ((0, args.copies) if i % 2 == 0 else (args.copies, 0)):
            started = time.perf_counter()
            filler.fill_spans(text, [hole], record.get("language"),
                              options=FillOptions(copies=copies))
            times[copies].append(time.perf_counter() - started)
    for copies, values in times.items():
        p50 = statistics.median(values) * 1000
        print(f"copies={copies}: {len(values)} fills, p50 {p50:.0f} ms, total {sum(values):.1f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
