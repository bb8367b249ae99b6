"""The corpus builder on a small fixture tree: licences, filters, dedupe, split, shards."""

from __future__ import annotations

import json
import lzma
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from infill.training import licences
from infill.training.corpus import (
    CorpusConfig,
    MinHasher,
    NearDupIndex,
    ShardWriter,
    build_corpus,
    check_quality,
    content_sha256,
    export_data,
    main,
    parse_language_caps,
    split_for,
)

FIXTURE = Path(__file__).parent / "fixtures" / "corpus_tree"
SOURCES = [f"site-packages:{FIXTURE / 'site-packages'}", f"npm:{FIXTURE / 'node_modules'}",
           f"cargo:{FIXTURE / 'cargo'}"]


def _build(out: Path, sources: list[str] = SOURCES, config: CorpusConfig = CorpusConfig(), jobs: int = 1):
    build_corpus(sources, out, config, log=lambda *_: None, jobs=jobs)
    manifest = [json.loads(line) for line in open(out / "manifest.jsonl")]
    dropped = [json.loads(line) for line in open(out / "dropped.jsonl")]
    return manifest, dropped


def _read_shards(directory: Path) -> list[dict]:
    rows = []
    for shard in sorted(directory.glob("shards/*.jsonl.xz")):
        with lzma.open(shard, "rt", encoding="utf-8") as handle:
            rows.extend((shard.name.split("-")[0], json.loads(line)) for line in handle)
    return rows


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("corpus")
    manifest, dropped = _build(out)
    return out, manifest, dropped


def _reasons(dropped: list[dict]) -> dict[str, str]:
    return {row["path"]: row["reason"] for row in dropped}


@pytest.mark.parametrize(
    "expression, keep",
    [("MIT", True), ("MIT OR GPL-3.0-only", True), ("MIT AND GPL-2.0", False), ("MIT/Apache-2.0", True),
     ("(MIT OR Apache-2.0) AND Unicode-DFS-2016", True), ("GPL-3.0-or-later", False), ("MPL-2.0", False),
     ("Expat", True), ("BSD-3-clause~Google", True), ("Some Custom Licence", False), (None, False)],
)
def test_licence_expressions(expression, keep):
    assert licences.judge(expression)[1] is keep


def test_licence_from_text_and_classifiers():
    assert licences.licence_from_text("Permission is hereby granted, free of charge, to any person") == "MIT"
    assert licences.licence_from_text("GNU GENERAL PUBLIC LICENSE\nVersion 3") == "GPL"
    assert licences.licence_from_classifiers(["License :: OSI Approved :: BSD License"]) == "BSD"


def test_licence_filter_keeps_permissive_and_drops_the_rest(built):
    _, manifest, dropped = built
    kept_packages = {row["package"] for row in manifest}
    assert {"mitpkg", "dualpkg", "tinylib", "smallcrate"} <= kept_packages
    assert not {"gplpkg", "mysterypkg", "copyleftlib"} & kept_packages
    reasons = _reasons(dropped)
    assert reasons["site-packages/gplpkg/__init__.py"] == "licence-not-permissive"
    assert reasons["site-packages/mysterypkg/__init__.py"] == "licence-unknown"
    assert reasons["npm/copyleftlib/index.js"] == "licence-not-permissive"
    dual = next(row for row in manifest if row["package"] == "dualpkg")
    assert dual["licence"] == "MIT OR GPL-3.0"


def test_exact_and_near_duplicates_removed(built):
    _, manifest, dropped = built
    paths = {row["path"] for row in manifest}
    reasons = _reasons(dropped)
    assert "site-packages/mitpkg/geometry_copy.py" not in paths
    assert reasons["site-packages/mitpkg/geometry_copy.py"] == "exact-duplicate"
    geometry = {"site-packages/mitpkg/geometry.py", "site-packages/mitpkg/geometry_near.py"}
    assert len(geometry & paths) == 1
    assert reasons[(geometry - paths).pop()] == "near-duplicate"


def test_minified_generated_and_tiny_files_dropped(built):
    _, _, dropped = built
    reasons = _reasons(dropped)
    assert reasons["npm/tinylib/bundle/tinylib.js"] == "long-lines"
    assert reasons["site-packages/mitpkg/generated.py"] == "generated"
    assert reasons["site-packages/mitpkg/tiny.py"] == "too-small"


def test_quality_filters():
    config = CorpusConfig()
    assert check_quality("a/b.min.js", "x = 1;\n" * 100, config) == "minified"
    assert check_quality("a/testdata/b.go", "package b\n" * 100, config) == "test-data"
    table = "static const int t[] = {\n" + "  1, 2, 3, 4, 5, 6, 7, 8,\n" * 40 + "};\n"
    assert check_quality("a/t.c", table, config) == "data-like"
    assert check_quality("a/p.py", "#!@$%^&*()[]{}<>|~\n" * 30, config) == "low-alnum"


def test_minhash_finds_near_duplicates_only():
    rng = random.Random(1)
    words = [f"w{rng.randrange(10_000)}" for _ in range(600)]
    base = " ".join(words)
    edited = " ".join(words[:300] + ["changed"] + words[301:])
    other = " ".join(f"v{rng.randrange(10_000)}" for _ in range(600))
    hasher, index = MinHasher(64), NearDupIndex(64, 16, 0.8)
    index.add("base", hasher.signature(base))
    assert index.find(hasher.signature(edited)) == "base"
    assert index.find(hasher.signature(other)) is None
    assert (hasher.signature(base) == MinHasher(64).signature(base)).all()


def _synthetic_site_packages(root: Path, names: list[str]) -> None:
    """A distribution whose files are distinct random functions, under the given names."""
    (root / "synth").mkdir(parents=True)
    dist = root / "synth-1.0.dist-info"
    dist.mkdir()
    dist.joinpath("METADATA").write_text("Metadata-Version: 2.4\nName: synth\nLicense-Expression: MIT\n")
    for i, name in enumerate(names):
        rng = random.Random(i)
        body = "".join(f"def f_{rng.randrange(10**9)}(x):\n    return x * {rng.randrange(10**6)} + "
                       f"y_{rng.randrange(10**9)}\n\n" for _ in range(12))
        (root / "synth" / name).write_text(body)
    dist.joinpath("RECORD").write_text("".join(f"synth/{n},,\n" for n in names))


def test_split_depends_on_content_only(tmp_path):
    names = [f"mod{i:03d}.py" for i in range(150)]
    _synthetic_site_packages(tmp_path / "a", names)
    _synthetic_site_packages(tmp_path / "b", [f"renamed_{n}" for n in reversed(names)])
    first, _ = _build(tmp_path / "out-a", [f"site-packages:{tmp_path / 'a'}"])
    second, _ = _build(tmp_path / "out-b", [f"site-packages:{tmp_path / 'b'}"])
    split_a = {row["sha256"]: row["split"] for row in first}
    split_b = {row["sha256"]: row["split"] for row in second}
    assert split_a == split_b and len(split_a) == 150
    assert all(split == split_for(sha) for sha, split in split_a.items())
    assert "heldout" in split_a.values() and "train" in split_a.values()
    again, _ = _build(tmp_path / "out-a2", [f"site-packages:{tmp_path / 'a'}"])
    assert again == first


def test_training_bytes_stop_at_each_languages_cap(tmp_path):
    """A language's training files stop at its cap (``language_caps`` before the common one);
    held-out files are never capped; stats.json records the caps."""
    _synthetic_site_packages(tmp_path / "sp", [f"mod{i:03d}.py" for i in range(150)])
    sources = [f"site-packages:{tmp_path / 'sp'}", f"npm:{FIXTURE / 'node_modules'}"]
    everything, _ = _build(tmp_path / "all", sources)
    size = {row["id"]: row["bytes"] for row in everything}
    python_train = sum(r["bytes"] for r in everything if r["language"] == "python" and r["split"] == "train")
    js_train = sum(r["bytes"] for r in everything if r["language"] == "javascript" and r["split"] == "train")
    assert js_train > 0
    common = python_train // 5
    capped, dropped = _build(tmp_path / "capped", sources, CorpusConfig(max_bytes_per_language=common))
    wider, _ = _build(tmp_path / "wider", sources,
                      CorpusConfig(max_bytes_per_language=common, language_caps={"python": 3 * common}))

    def train_bytes(manifest, language):
        return sum(size[r["id"]] for r in manifest if r["language"] == language and r["split"] == "train")

    assert common - 1000 < train_bytes(capped, "python") <= common
    assert 3 * common - 1000 < train_bytes(wider, "python") <= 3 * common
    # the other languages keep the common cap either way
    assert train_bytes(wider, "javascript") == train_bytes(capped, "javascript") <= common
    assert any(row["reason"] == "over-language-cap" and row["language"] == "python" for row in dropped)
    heldout = {r["id"] for r in everything if r["split"] == "heldout"}
    assert heldout and heldout <= {r["id"] for r in capped}
    stats = json.loads((tmp_path / "wider" / "stats.json").read_text())
    assert stats["config"]["language_caps"] == {"python": 3 * common}


def test_language_caps_on_the_command_line(tmp_path, capsys):
    assert parse_language_caps(["python=200000000", "c=5"]) == {"python": 200_000_000, "c": 5}
    for bad, says in [("pyhton=5", "LANGUAGE one of"), ("python", "LANGUAGE=BYTES"),
                      ("python=2e8", "positive whole number"), ("python=0", "positive whole number")]:
        with pytest.raises(SystemExit) as exit_:
            main(["--out", str(tmp_path / "never"), "--language-cap", bad])
        assert exit_.value.code == 2
        assert says in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_a_build_in_several_processes_gives_the_same_corpus(built, tmp_path):
    out, manifest, dropped = built
    again, dropped_again = _build(tmp_path / "jobs", jobs=2)
    assert again == manifest and dropped_again == dropped
    assert _read_shards(tmp_path / "jobs") == _read_shards(out)
    assert {row["reason"] for row in dropped} >= {"licence-not-permissive", "generated", "too-small"}


def test_shards_readable_and_match_manifest(built):
    out, manifest, _ = built
    rows = _read_shards(out)
    by_id = {row["id"]: row for row in manifest}
    assert len(rows) == len(manifest)
    for split, row in rows:
        meta = by_id[row["id"]]
        assert meta["split"] == split and meta["language"] == row["language"]
        assert content_sha256(row["text"]) == meta["sha256"]
    stats = json.loads((out / "stats.json").read_text())
    assert sum(v["train"]["files"] + v["heldout"]["files"] for v in stats["languages"].values()) == len(manifest)


def test_shards_source_round_trip_and_export(built, tmp_path):
    out, manifest, _ = built
    export_data(out, tmp_path / "data", max_bytes_per_language=10**6)
    exported = _read_shards(tmp_path / "data")
    assert exported and all(row["language"] != "python" or split == "heldout" for split, row in exported)
    again, _ = _build(tmp_path / "again", [f"shards:{out}"])
    assert sorted((r["id"], r["package"], r["licence"]) for r in again) == \
        sorted((r["id"], r["package"], r["licence"]) for r in manifest)
    shutil.rmtree(tmp_path / "again")


def test_corpus_modules_need_neither_torch_nor_textual_nor_git():
    code = ("import sys, infill.training.corpus, infill.training.evalsets; "
            "print(sorted({'torch', 'textual', 'git'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_shards_compressed_in_other_processes_are_the_same_files(tmp_path):
    """A pool compresses each finished shard while the next fills: the same shard
    boundaries and the same bytes as writing them in this process."""
    import multiprocessing

    rows = [{"id": f"{i:04d}", "language": "python", "text": f"def f_{i}():\n    return {i}\n" * (i % 7 + 1)}
            for i in range(300)]
    (tmp_path / "one").mkdir()
    (tmp_path / "pool").mkdir()
    here = ShardWriter(tmp_path / "one", "train", preset=1, shard_bytes=2_000)
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        there = ShardWriter(tmp_path / "pool", "train", preset=1, shard_bytes=2_000, pool=pool)
        for row in rows:
            here.write(row)
            there.write(row)
        here.close()
        there.close()
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert len(names) > 5 and names == sorted(p.name for p in (tmp_path / "pool").iterdir())
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "pool" / name).read_bytes()
