"""Compare two ``infill eval --records`` runs record by record.

    python scripts/compare_records.py A.jsonl B.jsonl [--system model] [--system-b model]
                                      [--leave-out corpus_stats.json ...]

For every set the two runs share and every verdict (pass@1, parse-valid, exact), prints how
many records both systems got right, only A, only B, and the exact two-sided sign test on
the records where they disagree (McNemar's exact test). Two checkpoints scored on the same
records differ by chance by a few records; the p-value says whether a difference is more
than that. Records are paired by (set, place in the set, id); a record in only one run is
left out and counted. A run's file may be xz-compressed (``.jsonl.xz``). ``--leave-out``
leaves out records by id too: a corpus's ``stats.json`` (the common evaluation holes its
training split repeats, ``eval_overlap.common_records``), the ``--ids`` file of
``scripts/eval_overlap.py`` (every measure), or a JSON list of ids.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
from math import comb
from pathlib import Path

VERDICTS = ("passed", "parse_valid", "exact")


def read(path: str, system: str) -> dict[tuple[str, int, str], dict]:
    rows = {}
    opener = lzma.open if path.endswith(".xz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, lzma.LZMAError) as exc:
        raise SystemExit(f"{path}: cannot read ({exc})") from exc
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            key = (row["set"], row["index"], row["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"{path}:{number}: not an infill eval --records row ({exc})") from exc
        if row.get("system") == system:
            rows[key] = row
    return rows


def leave_out_ids(path: str) -> set[str]:
    """The record ids a ``--leave-out`` file names (see the module docstring)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: cannot read the ids to leave out ({exc})") from exc
    if isinstance(data, dict) and "eval_overlap" in data:
        data = data["eval_overlap"].get("common_records")
    elif isinstance(data, dict):
        data = [i for ids in data.values() if isinstance(ids, list) for i in ids]
    if not isinstance(data, list) or not all(isinstance(i, str) for i in data):
        raise SystemExit(f"{path}: expected a corpus stats.json with eval_overlap.common_records, "
                         "eval_overlap.py's --ids file, or a JSON list of record ids")
    return set(data)


def sign_test(a_only: int, b_only: int) -> float:
    """Exact two-sided p-value of ``a_only`` vs ``b_only`` under a fair coin."""
    n = a_only + b_only
    if n == 0:
        return 1.0
    tail = sum(comb(n, k) for k in range(min(a_only, b_only) + 1)) / 2 ** n
    return min(1.0, 2 * tail)


def compare(a: dict, b: dict) -> list[dict]:
    """One row per (set, verdict): paired counts and the sign-test p-value."""
    rows = []
    for name in sorted({k[0] for k in a} | {k[0] for k in b}):
        keys = sorted(k for k in a if k[0] == name and k in b)
        unpaired = sum(k[0] == name for k in a.keys() ^ b.keys())
        for verdict in VERDICTS:
            pairs = [(a[k][verdict], b[k][verdict]) for k in keys
                     if a[k][verdict] is not None and b[k][verdict] is not None]
            if not pairs:
                continue
            both = sum(x and y for x, y in pairs)
            a_only = sum(x and not y for x, y in pairs)
            b_only = sum(y and not x for x, y in pairs)
            rows.append({"set": name, "verdict": verdict, "n": len(pairs), "a": both + a_only,
                         "b": both + b_only, "both": both, "a_only": a_only, "b_only": b_only,
                         "p": sign_test(a_only, b_only), "unpaired": unpaired})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--system", default="model", help="rows of A to compare (default model)")
    parser.add_argument("--system-b", help="rows of B (default: as --system)")
    parser.add_argument("--leave-out", action="append", default=[], metavar="FILE",
                        help="leave out the records this file names (repeatable)")
    args = parser.parse_args(argv)
    a, b = read(args.a, args.system), read(args.b, args.system_b or args.system)
    if args.leave_out:
        ids = set().union(*map(leave_out_ids, args.leave_out))
        left = {k for k in a.keys() | b.keys() if k[2] in ids}
        a = {k: v for k, v in a.items() if k not in left}
        b = {k: v for k, v in b.items() if k not in left}
        print(f"left out: {len(left)} record(s) named by {', '.join(args.leave_out)}", file=sys.stderr)
    rows = compare(a, b)
    if not rows:
        print("no records in common", file=sys.stderr)
        return 1
    print("| set | verdict | n | A | B | both | A only | B only | sign test p |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['set']} | {r['verdict']} | {r['n']} | {r['a']} | {r['b']} | {r['both']} | "
              f"{r['a_only']} | {r['b_only']} | {r['p']:.3f} |")
    for name, unpaired in sorted({(r["set"], r["unpaired"]) for r in rows if r["unpaired"]}):
        print(f"{name}: {unpaired} record(s) in only one of the two runs, left out", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
