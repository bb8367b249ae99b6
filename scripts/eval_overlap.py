"""How many evaluation holes a corpus's training split repeats verbatim.

    python scripts/eval_overlap.py CORPUS [SETS ...]      (SETS default: evalsets, dev/ included)

Two measures, each a raw substring search in the training texts of the hole's language:
``probe``, the corpus builder's own (``infill/training/overlap.py``: the line before the hole
through the hole's last line, at least 60 characters that are not spaces, but found anywhere,
not only from a line start), and ``lines``, the hole's own lines (at least 40 such characters),
which the builder does not check. Reads every training shard into memory (a few hundred MB for
a full corpus); about three minutes on two cores.
"""

from __future__ import annotations

import argparse
import json
import lzma
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infill.training.overlap import MIN_PROBE_CHARS, hole_lines, probe_of, read_records  # noqa: E402

MIN_LINES_CHARS = 40


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("corpus", type=Path)
    parser.add_argument("sets", nargs="*", default=["evalsets"])
    parser.add_argument("--ids", type=Path, help="write the ids of the holes found, per measure, as JSON")
    args = parser.parse_args(argv)
    texts: dict[str, list[str]] = defaultdict(list)
    for shard in sorted((args.corpus / "shards").glob("train-*.jsonl.xz")):
        with lzma.open(shard, "rt", encoding="utf-8") as handle:
            for line in handle:
                row = json.loads(line)
                texts[row["language"]].append(row["text"])
    joined = {language: "\0".join(items) for language, items in texts.items()}
    found: dict[str, list[str]] = {"probe": [], "lines": []}
    probed = {"probe": 0, "lines": 0}
    for record in read_records(args.sets):
        lines = hole_lines(record)
        measures = {"probe": probe_of(record),
                    "lines": lines if sum(not c.isspace() for c in lines) >= MIN_LINES_CHARS else None}
        for name, text in measures.items():
            if text is None:
                continue
            probed[name] += 1
            if text in joined.get(record.get("language", ""), ""):
                found[name].append(record["id"])
    print(f"probe (line before + hole, >= {MIN_PROBE_CHARS} chars): {len(found['probe'])} / {probed['probe']} "
          f"holes found in {args.corpus}'s train split")
    print(f"lines (the hole's lines, >= {MIN_LINES_CHARS} chars): {len(found['lines'])} / {probed['lines']}")
    if args.ids:
        args.ids.write_text(json.dumps(found) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
