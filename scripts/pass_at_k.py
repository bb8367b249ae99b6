"""How far a better ranking of candidates could go: run every candidate against the tests.

    python scripts/pass_at_k.py [--model DIR] [--candidates K] [--limit N] [--out ROWS.jsonl]
                                [evalsets/python-exec.jsonl]

For each record of an execution set, asks the engine for K candidates (its own options
otherwise: retries, copies, the seed), runs each distinct fill against the record's tests
(``infill.evaluate.run_test``: a subprocess in a temporary folder, time-limited) and prints
how many holes the first-ranked fill passes (pass@1, what ``infill eval --execute`` scores)
and how many have *any* passing candidate: what a perfect ranker over these candidates would
pass. ``--out`` keeps one row per record (its place in the file, the distinct fills best
first, their verdicts). This measures the ranking's ceiling only: the engine never runs code.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from infill.errors import InputError  # noqa: E402
from infill.evaluate import fill_candidates, program_of, read_records, run_test  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", nargs="?", default=str(ROOT / "evalsets" / "python-exec.jsonl"))
    ap.add_argument("--model", default=str(ROOT / "models" / "house"))
    ap.add_argument("--candidates", type=int, default=8, help="K (default 8)")
    ap.add_argument("--limit", type=int, help="first N records")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", help="one JSON line per record: fills best first, passed")
    args = ap.parse_args(argv)
    if args.candidates < 1:
        ap.error("--candidates must be at least 1")

    import infill
    from infill.options import FillOptions

    try:
        records = [(i, r) for i, r in enumerate(read_records(args.data, args.limit)) if r.get("test")]
    except (OSError, InputError) as exc:
        raise SystemExit(f"pass_at_k: {exc}") from exc
    if not records:
        raise SystemExit(f"{args.data}: no record has a test to run")
    filler = infill.load(args.model, device="cpu")
    options = FillOptions(candidates=args.candidates)
    out = open(args.out, "w", encoding="utf-8") if args.out else None
    first = anywhere = fills = 0
    ranks: list[int] = []
    start = time.perf_counter()
    try:
        for i, record in records:
            texts = fill_candidates(filler, record, args.seed, options)
            passed = [run_test(program_of(record, text), record["test"]) for text in texts]
            fills += len(texts)
            first += passed[0]
            if any(passed):
                anywhere += 1
                ranks.append(passed.index(True))
            if out:
                out.write(json.dumps({"index": i, "id": record.get("id"), "fills": texts,
                                      "passed": passed}) + "\n")
                out.flush()
    finally:
        if out:
            out.close()
    n = len(records)
    print(f"{args.data}: {n} records with tests, K = {args.candidates} "
          f"({fills / n:.1f} distinct fills a record), {time.perf_counter() - start:.0f} s")
    print(f"first-ranked fill passes: {first} of {n}")
    print(f"some candidate passes:    {anywhere} of {n} (a perfect ranker's pass@1)")
    print(f"rank of the best passing candidate: {sorted(ranks)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
