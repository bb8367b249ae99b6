"""How well the quality guard's cautions single out bad fills, from ``infill eval --records``.

    python scripts/caution_stats.py SET.jsonl RECORDS.jsonl [--system model]

Rebuilds each record's file with the model's fill (the records of the set named like SET's
file), asks ``infill.guard.caution_fills`` what it would say beside it, and prints, per kind
of caution (names not in view, code cut off, a word or a line repeated) and for fills with
none: how many fills, and how many of those pass their test (``--execute`` records), parse,
and equal the true text. A caution is worth showing when the fills it marks do worse than
the fills it leaves alone.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from infill.evaluate import read_records
from infill.guard import caution_fills
from infill.markers import HOLE, Span

KINDS = (("names", "which nothing in view binds"), ("cut off", "unreachable"),
         ("cut off", "can never run"), ("repeated word", "three or more times"),
         ("repeated line", "repeat the line before it"))


def kinds_of(record: dict, fill: str) -> set[str]:
    before = record.get("before", "") + record["prefix"]
    text = before + record["suffix"] + record.get("after", "")
    span = Span(len(before), len(before), HOLE)
    found = caution_fills(text, [span], [fill], record.get("language"))
    return {kind for c in found for kind, mark in KINDS if mark in c.reason}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set")
    parser.add_argument("records")
    parser.add_argument("--system", default="model")
    args = parser.parse_args(argv)
    records = read_records(args.set)
    rows = [json.loads(line) for line in Path(args.records).read_text().splitlines()
            if line.strip()]
    name = Path(args.set).stem
    rows = [r for r in rows if r["system"] == args.system and r["set"] == name]
    groups: dict[str, list[dict]] = {}
    for row in rows:
        kinds = kinds_of(records[row["index"]], row["fill"]) or {"no caution"}
        for kind in kinds:
            groups.setdefault(kind, []).append(row)
    print("| fills | n | passed | parse-valid | exact |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("no caution", *dict.fromkeys(kind for kind, _ in KINDS)):
        group = groups.get(kind, [])

        def count(verdict: str) -> str:
            judged = [r[verdict] for r in group if r[verdict] is not None]
            return f"{sum(judged)} of {len(judged)}" if judged else "—"

        print(f"| {kind} | {len(group)} | {count('passed')} | {count('parse_valid')} | "
              f"{count('exact')} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
