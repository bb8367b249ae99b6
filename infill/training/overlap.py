"""Evaluation holes whose code a training file repeats verbatim.

Holding out whole files by content hash keeps an evaluation file out of training, but not
code copied between files (Transformers' "Copied from" functions, vendored helpers) nor a
newer version of the same file on another machine: in the corpus v0.3 trained on, the hole
and the line before it lie verbatim in a *training* file for 369 of the 3,643 evaluation
holes long enough to probe (docs/TRAINING.md, "Evaluation overlap"). The corpus builder drops
such training files when given the evaluation sets (``--exclude-overlap``).

A record's **probe** is the text from the start of the line before the hole to the end of
the hole's last line: the answer in its own context. Probes with fewer than
``MIN_PROBE_CHARS`` characters that are not spaces are skipped (a few common lines say
nothing about a copy). A text *overlaps* a record when the probe occurs in it verbatim; the
training files that overlap a record are dropped unless there are more than ``MAX_COPIES``
of them (``copies_to_drop``). Plain Python, no dependencies.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Iterable

__all__ = ["MAX_COPIES", "MIN_PROBE_CHARS", "EvalProbes", "copies_to_drop", "hole_lines", "probe_of", "read_records"]

MIN_PROBE_CHARS = 60
KEY_CHARS = 48  # probes are indexed by this many first characters; every probe is longer
#: A hole found verbatim in more training files than this is common code, not a copy.
MAX_COPIES = 3


def hole_lines(record: dict, before: int = 0) -> str:
    """The record's text from the start of the line ``before`` lines above the hole's first
    line to the end of the hole's last line."""
    prefix, suffix = record["prefix"], record["suffix"]
    start = prefix.rfind("\n") + 1
    for _ in range(before):
        start = prefix.rfind("\n", 0, max(0, start - 1)) + 1
    end = suffix.find("\n")
    return prefix[start:] + record["middle"] + (suffix if end < 0 else suffix[:end])


def probe_of(record: dict) -> str | None:
    """The record's probe (see the module docstring), or None when it is too short."""
    probe = hole_lines(record, before=1)
    if sum(not c.isspace() for c in probe) < MIN_PROBE_CHARS:
        return None
    return probe


def read_records(paths: Iterable[str | Path]) -> list[dict]:
    """The records of evaluation sets: ``.jsonl`` files, or folders searched for them."""
    records = []
    for path in map(Path, paths):
        files = sorted(path.rglob("*.jsonl")) if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"{path}: no .jsonl evaluation sets in it")
        for file in files:
            with open(file, encoding="utf-8") as handle:
                for number, line in enumerate(handle, 1):
                    try:
                        record = json.loads(line)
                        record["prefix"], record["middle"], record["suffix"], record["id"]
                    except (ValueError, KeyError, TypeError):
                        raise ValueError(f"{file}:{number}: not an evaluation record "
                                         f"(JSON with id, prefix, middle, suffix)") from None
                    records.append(record)
    return records


class EvalProbes:
    """The probes of many records, indexed by language and their first ``KEY_CHARS``
    characters (probes are longer). Keyed by the first line alone, a probe that starts with
    a blank or common line (``}``, ``else:``) was tried at every such line of every training
    file: 69M string comparisons, 19 of 31 profiled seconds of the corpus's selection."""

    def __init__(self, records: Iterable[dict]):
        self._by_start: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        self.records = self.probes = 0
        for record in records:
            self.records += 1
            probe = probe_of(record)
            if probe is None:
                continue
            self.probes += 1
            self._by_start[(record.get("language", ""), probe[:KEY_CHARS])].append((probe, record["id"]))

    @classmethod
    def from_paths(cls, paths: Iterable[str | Path]) -> "EvalProbes":
        return cls(read_records(paths))

    def find(self, text: str, language: str) -> list[str]:
        """The ids of the records whose probes ``text`` contains at the start of a line, in
        order of first occurrence."""
        index = self._by_start
        found: dict[str, None] = {}
        offset = 0
        for line in text.split("\n"):
            candidates = index.get((language, text[offset:offset + KEY_CHARS]))
            if candidates:
                for probe, record_id in candidates:
                    if text.startswith(probe, offset):
                        found[record_id] = None
            offset += len(line) + 1
        return list(found)


def copies_to_drop(overlaps: dict[str, list[str]], max_copies: int = MAX_COPIES) -> tuple[dict[str, str], dict]:
    """Which training files copy an evaluation hole, from ``overlaps`` (a file's key -> the
    record ids it contains). A hole found in at most ``max_copies`` files is a copy of its
    evaluation file (another version, a vendored or "Copied from" duplicate): those files go.
    One found in more is common code (licence headers, include guards, "use strict"
    preambles): dropping every file that has it would remove no knowledge the model could not
    get elsewhere, so they stay and are counted and named (``common_records``: an evaluation
    can leave them out). Returns ``{file key: record id}`` for the files to drop, and counts
    for the corpus's stats."""
    files_per_record: dict[str, int] = defaultdict(int)
    for ids in overlaps.values():
        for record_id in ids:
            files_per_record[record_id] += 1
    copied = {r for r, n in files_per_record.items() if n <= max_copies}
    drop = {}
    for key, ids in overlaps.items():
        first = next((r for r in ids if r in copied), None)
        if first is not None:
            drop[key] = first
    common = sorted(r for r in files_per_record if r not in copied)
    stats = {"holes_copied": len(copied), "holes_common": len(common),
             "files_dropped": len(drop), "max_copies": max_copies, "common_records": common}
    return drop, stats
