"""Evaluation sets: holes that reproduce their source, drawn only from held-out files."""

from __future__ import annotations

import json
import lzma
import random
from pathlib import Path

import pytest

from infill.training.corpus import content_sha256, split_for
from infill.training.evalsets import EvalConfig, build_evalsets


def _python_file(rng: random.Random) -> str:
    lines = ["import os", "", ""]
    for _ in range(rng.randint(3, 8)):
        name = f"f_{rng.randrange(10**6)}"
        lines += [f"def {name}(a, b):", "    # add them", f"    total = a + b * {rng.randrange(100)}",
                  "    if total > 10:", f"        return [total, {rng.randrange(9)}]", "    return total", "", ""]
    return "\n".join(lines) + "\n"


def _rust_file(rng: random.Random) -> str:
    body = "".join(f"fn g{rng.randrange(10**6)}(x: u32) -> u32 {{\n    let y = x * {rng.randrange(99)};\n"
                   f"    y + 1\n}}\n\n" for _ in range(6))
    return "// generated for tests\n" + body


def _corpus(root: Path, count: int = 25) -> dict[str, str]:
    """A corpus directory with ``count`` held-out files per language and some train files.

    One train row is smuggled into the held-out shard: the builder must re-check the split.
    """
    rng = random.Random(7)
    heldout: list[dict] = []
    train: list[dict] = []
    texts: dict[str, str] = {}
    while len(heldout) < 2 * count or len(train) < 5:
        language = "python" if len(heldout) % 2 == 0 else "rust"
        text = _python_file(rng) if language == "python" else _rust_file(rng)
        sha = content_sha256(text)
        row = {"id": sha[:16], "language": language, "text": text}
        target = heldout if split_for(sha) == "heldout" else train
        if target is heldout and sum(r["language"] == language for r in heldout) >= count:
            continue
        target.append(row)
        texts[row["id"]] = text
    (root / "shards").mkdir(parents=True)
    for name, rows in (("heldout-000", heldout + train[:1]), ("train-000", train)):
        with lzma.open(root / "shards" / f"{name}.jsonl.xz", "wt", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in rows)
    return texts


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalsets")
    texts = _corpus(root / "corpus")
    config = EvalConfig(records_per_set=60, min_records=10)
    counts = build_evalsets(root / "corpus", root / "out", config)
    records = {name: [json.loads(line) for line in open(root / "out" / f"{name}.jsonl")] for name in counts}
    return root, texts, counts, records, config


def test_sets_written(sets):
    _, _, counts, _, _ = sets
    assert {"python-single-line", "python-multi-line", "python-random-span", "rust-single-line",
            "python-whole-line", "python-whole-lines"} <= set(counts)
    assert all(n == 60 for n in counts.values())


def test_records_reproduce_their_source(sets):
    _, texts, _, records, _ = sets
    for rows in records.values():
        for record in rows:
            _, file_id, offset = record["id"].split(":")
            text, offset = texts[file_id], int(offset)
            assert set(record) == {"id", "prefix", "suffix", "middle", "language", "kind"}
            assert text[offset : offset + len(record["middle"])] == record["middle"]
            assert text[:offset].endswith(record["prefix"])
            assert text[offset + len(record["middle"]) :].startswith(record["suffix"])
            assert record["middle"].strip()


def test_line_holes_have_the_documented_shape(sets):
    _, _, _, records, _ = sets
    for name, rows in records.items():
        for record in rows:
            if record["kind"] == "single-line":
                assert "\n" not in record["middle"] and record["suffix"].startswith("\n")
                assert not record["middle"].lstrip().startswith(("#", "//"))
            if record["kind"] == "multi-line":
                assert 1 <= record["middle"].count("\n") <= 5 and record["suffix"].startswith("\n")
                assert record["prefix"] == "" or record["prefix"].endswith("\n")
                assert record["middle"].split("\n")[-1].strip()
            if record["kind"] == "whole-line":
                assert record["middle"].endswith("\n") and record["middle"].count("\n") == 1
                assert record["prefix"] == "" or record["prefix"].endswith("\n")
            if record["kind"] == "whole-lines":
                assert record["middle"].endswith("\n") and 2 <= record["middle"].count("\n") <= 6
                assert record["prefix"] == "" or record["prefix"].endswith("\n")
            if record["kind"] == "random-span":
                assert 1 <= len(record["middle"]) <= 120


def test_only_heldout_files_and_at_most_three_per_file(sets):
    _, _, _, records, config = sets
    for rows in records.values():
        per_file: dict[str, int] = {}
        for record in rows:
            file_id = record["id"].split(":")[1]
            assert split_for(file_id) == "heldout"
            per_file[file_id] = per_file.get(file_id, 0) + 1
        assert max(per_file.values()) <= config.per_file


def test_deterministic(sets, tmp_path):
    root, _, counts, _, config = sets
    build_evalsets(root / "corpus", tmp_path, config)
    for name in counts:
        assert (tmp_path / f"{name}.jsonl").read_bytes() == (root / "out" / f"{name}.jsonl").read_bytes()


def test_dev_sets_share_no_file_with_the_evaluation_sets(sets, tmp_path):
    """``--exclude``: sets cut from held-out files that the evaluation sets do not use."""
    from infill.training.evalsets import heldout_ids

    root, _, _, _, config = sets
    # The evaluation corpus knows half of the held-out files (a manifest, as data/ ships one).
    known = sorted(heldout_ids(root / "corpus"))[::2]
    other = tmp_path / "eval-corpus"
    other.mkdir()
    with lzma.open(other / "manifest.jsonl.xz", "wt", encoding="utf-8") as handle:
        handle.writelines(json.dumps({"id": i, "split": "heldout"}) + "\n" for i in known)
    assert set(known) <= heldout_ids(other)
    build_evalsets(root / "corpus", tmp_path / "dev", config, exclude=heldout_ids(other))
    dev_files = {json.loads(line)["id"].split(":")[1]
                 for path in (tmp_path / "dev").glob("*.jsonl") for line in open(path)}
    assert dev_files and not dev_files & set(known)
    assert dev_files <= heldout_ids(root / "corpus")  # still held-out files only
