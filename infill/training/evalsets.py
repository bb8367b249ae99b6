"""Evaluation sets for ``infill eval``, cut from the corpus's held-out files only.

Each record (docs/CONTRACTS.md, "Evaluation records") is a hole in a real file:

- ``single-line``: the rest of a code line from a random cut point after its indentation,
  without the newline; the suffix starts with that newline. Blank lines, comment-only lines
  and lines of closing brackets are never chosen: they measure nothing.
- ``multi-line``: 2 to 6 whole consecutive lines, the first a code line and the last not
  blank; the suffix starts with the newline that ends the last of them.
- ``random-span``: 1 to 120 characters anywhere, not whitespace only.

Held-out files are the ones no training run sees (``corpus.split_for``). Files are visited
in an order shuffled by the seed and give at most ``per_file`` records each, so one long file
cannot dominate a set. Prefix and suffix are trimmed at line boundaries to a window the
house model's 1024-token context can hold, which also keeps the committed sets small.
"""

from __future__ import annotations

import argparse
import json
import lzma
import random
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from infill.training.corpus import split_for
from infill.training.corpus_sources import read_manifest

_COMMENT_STARTS = {"python": ("#",), "markdown": (), "rst": ()}
_C_COMMENTS = ("//", "/*", "*", "*/")
_CLOSING_ONLY = re.compile(r"^[\s)\]}>;,.:]*$")


@dataclass(frozen=True)
class EvalConfig:
    """How many records, from how many files, with how much context."""

    seed: int = 0
    records_per_set: int = 500
    per_file: int = 3
    prefix_chars: int = 1800
    suffix_chars: int = 600
    min_records: int = 50  # a language set smaller than this is not written
    single_line_languages: tuple[str, ...] = ("python", "javascript", "typescript", "rust", "go", "c", "cpp")


Hole = tuple[int, int]  # [start, end) character offsets of the middle in the file


def _line_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line that ends with a newline, ``end`` excluding the newline."""
    spans, start = [], 0
    for match in re.finditer("\n", text):
        spans.append((start, match.start()))
        start = match.end()
    return spans


def _is_code_line(line: str, language: str) -> bool:
    stripped = line.strip()
    if not stripped or _CLOSING_ONLY.match(stripped):
        return False
    return not stripped.startswith(_COMMENT_STARTS.get(language, _C_COMMENTS))


def pick_single_line(text: str, language: str, rng: random.Random) -> Hole | None:
    lines = [(s, e) for s, e in _line_spans(text) if _is_code_line(text[s:e], language)]
    if not lines:
        return None
    start, end = rng.choice(lines)
    line = text[start:end]
    indent = len(line) - len(line.lstrip())
    # Leave at least one non-space character to write, and never cut inside trailing spaces.
    last = len(line.rstrip()) - 1
    cut = start + rng.randint(indent, last)
    if not text[cut:end].strip():
        return None
    return cut, end


def pick_multi_line(text: str, language: str, rng: random.Random) -> Hole | None:
    lines = _line_spans(text)
    count = rng.randint(2, 6)
    # Start on a code line and end on a non-blank one, so the middle neither begins with a
    # comment nor ends with an empty line (a trailing newline nobody would type).
    starts = [i for i in range(len(lines) - count + 1)
              if _is_code_line(text[slice(*lines[i])], language) and text[slice(*lines[i + count - 1])].strip()]
    if not starts:
        return None
    first = rng.choice(starts)
    return lines[first][0], lines[first + count - 1][1]


def pick_random_span(text: str, language: str, rng: random.Random) -> Hole | None:
    length = rng.randint(1, 120)
    if len(text) <= length:
        return None
    start = rng.randrange(0, len(text) - length)
    if not text[start : start + length].strip():
        return None
    return start, start + length


def pick_whole_line(text: str, language: str, rng: random.Random) -> Hole | None:
    """One code line from column 0, its newline included (the layout of a whole-line marker)."""
    lines = [(s, e) for s, e in _line_spans(text) if _is_code_line(text[s:e], language)]
    if not lines:
        return None
    start, end = rng.choice(lines)
    return start, end + 1


def pick_whole_lines(text: str, language: str, rng: random.Random) -> Hole | None:
    """2 to 6 whole lines from column 0, the last one's newline included."""
    hole = pick_multi_line(text, language, rng)
    if hole is None:
        return None
    start, end = hole
    return text.rfind("\n", 0, start) + 1, end + 1


PICKERS: dict[str, Callable[[str, str, random.Random], Hole | None]] = {
    "single-line": pick_single_line, "multi-line": pick_multi_line, "random-span": pick_random_span,
    "whole-line": pick_whole_line, "whole-lines": pick_whole_lines,
}


def make_record(text: str, hole: Hole, config: EvalConfig) -> tuple[str, str, str]:
    """(prefix, middle, suffix), the context trimmed to whole lines around the hole."""
    start, end = hole
    prefix, middle, suffix = text[:start], text[start:end], text[end:]
    if len(prefix) > config.prefix_chars:
        window = prefix[-config.prefix_chars :]
        newline = window.find("\n")
        prefix = window[newline + 1 :] if newline >= 0 else window
    if len(suffix) > config.suffix_chars:
        window = suffix[: config.suffix_chars]
        newline = window.rfind("\n")
        suffix = window[: newline + 1] if newline > 0 else window
    return prefix, middle, suffix


def read_heldout(corpus: Path) -> list[dict]:
    """Held-out rows of a corpus (or data/) directory, sorted by id; the split is re-checked."""
    rows = []
    for shard in sorted(corpus.glob("shards/heldout-*.jsonl.xz")):
        with lzma.open(shard, "rt", encoding="utf-8") as handle:
            rows.extend(row for row in map(json.loads, handle))
    # The id is the content hash's first 16 hex digits, so the split can be checked here.
    return sorted((r for r in rows if split_for(r["id"]) == "heldout"), key=lambda r: r["id"])


def build_set(rows: list[dict], language: str, kind: str, config: EvalConfig) -> list[dict]:
    name = f"{language}-{kind}"
    rng = random.Random(f"{config.seed}:{name}")
    files = [r for r in rows if r["language"] == language]
    rng.shuffle(files)
    records: list[dict] = []
    for row in files:
        holes: set[Hole] = set()
        for _ in range(config.per_file * 4):
            if len(holes) >= config.per_file or len(records) + len(holes) >= config.records_per_set:
                break
            hole = PICKERS[kind](row["text"], language, rng)
            if hole is not None:
                holes.add(hole)
        for hole in sorted(holes):
            prefix, middle, suffix = make_record(row["text"], hole, config)
            records.append({"id": f"{name}:{row['id']}:{hole[0]}", "prefix": prefix, "suffix": suffix,
                            "middle": middle, "language": language, "kind": kind})
        if len(records) >= config.records_per_set:
            break
    return records


def plan_sets(config: EvalConfig) -> Iterator[tuple[str, str]]:
    yield "python", "multi-line"
    yield "python", "random-span"
    yield "python", "whole-line"
    yield "python", "whole-lines"
    yield "javascript", "whole-line"
    for language in config.single_line_languages:
        yield language, "single-line"


def heldout_ids(corpus: Path) -> frozenset[str]:
    """Ids of the held-out files of a corpus (or data/): its shards, else its manifest."""
    ids = {row["id"] for row in read_heldout(corpus)}
    ids.update(row["id"] for row in read_manifest(corpus) or () if row.get("split") == "heldout")
    return frozenset(ids)


def build_evalsets(corpus: Path, out: Path, config: EvalConfig,
                   exclude: frozenset[str] = frozenset()) -> dict[str, int]:
    """Write the sets; files whose id is in ``exclude`` are left out (``--exclude``)."""
    rows = [r for r in read_heldout(corpus) if r["id"] not in exclude]
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    for language, kind in plan_sets(config):
        records = build_set(rows, language, kind, config)
        if len(records) < config.min_records:
            continue
        name = f"{language}-{kind}"
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")
        counts[name] = len(records)
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infill train evalsets", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, type=Path, help="corpus directory (or data/)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--records", type=int, default=EvalConfig.records_per_set)
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="CORPUS",
                        help="leave out the held-out files of this corpus (or data/): development "
                             "sets that share no file with the evaluation sets made from it")
    args = parser.parse_args(argv)
    config = EvalConfig(seed=args.seed, records_per_set=args.records)
    exclude = frozenset().union(*(heldout_ids(path) for path in args.exclude))
    for name, count in build_evalsets(args.corpus, args.out, config, exclude).items():
        print(f"{name:28s} {count:4d} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
