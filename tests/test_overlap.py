"""Training files that repeat an evaluation hole verbatim are dropped from the corpus."""

from __future__ import annotations

import hashlib
import json
import lzma
import subprocess
import sys
from pathlib import Path

import pytest

from infill.training.corpus import CorpusConfig, build_corpus, split_for
from infill.training.overlap import EvalProbes, copies_to_drop, probe_of, read_records

FUNCTION = '''def scale_points(points, factor, origin=(0.0, 0.0)):
    """Scale every point about the origin."""
    ox, oy = origin
    scaled = [(ox + (x - ox) * factor, oy + (y - oy) * factor) for x, y in points]
    return [(round(x, 6), round(y, 6)) for x, y in scaled]
'''
HOLE_LINE = "    scaled = [(ox + (x - ox) * factor, oy + (y - oy) * factor) for x, y in points]"


def record_in(text: str, line: str, record_id: str = "python-single-line:h:1") -> dict:
    """A single-line record whose hole is ``line`` after its indentation."""
    at = text.index(line) + len(line) - len(line.lstrip())
    end = text.index("\n", at)
    return {"id": record_id, "language": "python", "kind": "single-line",
            "prefix": text[:at], "middle": text[at:end], "suffix": text[end:]}


def filler(seed: int, lines: int = 30) -> str:
    words = ["alpha", "beta", "gamma", "delta", "omega", "sigma", "kappa", "theta", "lambda_", "rho"]
    return "".join(f"def helper_{seed}_{i}(value):\n    return value * {seed + i} + len('{words[(seed * 7 + i) % 10]}')\n\n"
                   for i in range(lines))


def test_the_probe_is_the_line_before_and_the_holes_lines():
    record = record_in(FUNCTION, HOLE_LINE)
    assert probe_of(record) == '    ox, oy = origin\n' + HOLE_LINE
    short = {"id": "x", "prefix": "if x:\n    ", "middle": "y = 1", "suffix": "\n"}
    assert probe_of(short) is None  # too few characters to mean a copy


def test_find_needs_the_probe_verbatim_from_a_line_start_and_the_same_language():
    probes = EvalProbes([record_in(FUNCTION, HOLE_LINE)])
    assert probes.probes == 1
    copy = "import math\n\n" + FUNCTION.replace("scale_points", "scale_all")
    assert probes.find(copy, "python") == ["python-single-line:h:1"]
    assert probes.find(copy, "javascript") == []
    assert probes.find(copy.replace("* factor, oy", "* factor,  oy"), "python") == []
    assert probes.find(copy.replace("    ox, oy = origin", "    ox, oy = origin  # unpack"), "python") == []


def test_copies_are_dropped_and_common_code_is_kept():
    overlaps = {"a": ["rare"], "b": ["common"], "c": ["common"], "d": ["common"], "e": ["common", "rare"]}
    drop, counts = copies_to_drop(overlaps, max_copies=3)
    assert drop == {"a": "rare", "e": "rare"}
    assert counts == {"holes_copied": 1, "holes_common": 1, "files_dropped": 2, "max_copies": 3,
                      "common_records": ["common"]}


def test_bad_evaluation_sets_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x", "prefix": ""}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:1: not an evaluation record"):
        read_records([bad])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no .jsonl"):
        read_records([tmp_path / "empty"])


def _text_in_split(base: str, split: str) -> str:
    """``base`` with a trailing comment chosen so that its content hash falls in ``split``."""
    for n in range(10_000):
        text = f"{base}\n# revision {n}\n"
        if split_for(hashlib.sha256(text.encode()).hexdigest()) == split:
            return text
    raise AssertionError("no suffix found")


@pytest.fixture()
def shard_tree(tmp_path):
    """A shards: source with a held-out file, a training file that copies one of its
    functions into otherwise different code, and an unrelated training file."""
    files = {
        "pkg/geometry.py": _text_in_split(filler(1) + FUNCTION + filler(2), "heldout"),
        "other/vendored.py": _text_in_split(filler(50) + FUNCTION + filler(60), "train"),
        "other/unrelated.py": _text_in_split(filler(70) + filler(80), "train"),
    }
    root = tmp_path / "src"
    (root / "shards").mkdir(parents=True)
    with open(root / "manifest.jsonl", "w") as man, lzma.open(root / "shards" / "train-000.jsonl.xz", "wt") as sh:
        for path, text in files.items():
            sha = hashlib.sha256(text.encode()).hexdigest()
            man.write(json.dumps({"id": sha[:16], "path": f"site-packages/{path}", "package": path.split("/")[0],
                                  "licence": "MIT", "language": "python", "sha256": sha,
                                  "split": split_for(sha), "bytes": len(text)}) + "\n")
            sh.write(json.dumps({"id": sha[:16], "language": "python", "text": text}) + "\n")
    sets = tmp_path / "evalsets"
    sets.mkdir()
    (sets / "python-single-line.jsonl").write_text(json.dumps(record_in(files["pkg/geometry.py"], HOLE_LINE)) + "\n")
    return root, sets


def _dropped(out: Path) -> dict[str, dict]:
    return {row["path"]: row for row in map(json.loads, open(out / "dropped.jsonl"))}


def test_the_corpus_drops_a_training_file_that_copies_an_evaluation_hole(shard_tree, tmp_path):
    source, sets = shard_tree
    plain, checked = tmp_path / "plain", tmp_path / "checked"
    build_corpus([f"shards:{source}"], plain, CorpusConfig(), log=lambda *_: None)
    stats = build_corpus([f"shards:{source}"], checked, CorpusConfig(), log=lambda *_: None,
                         exclude_overlap=[str(sets)])
    kept_plain = {json.loads(line)["path"] for line in open(plain / "manifest.jsonl")}
    kept = {json.loads(line)["path"] for line in open(checked / "manifest.jsonl")}
    assert "site-packages/other/vendored.py" in kept_plain  # not a near-duplicate: only the function is shared
    assert kept == kept_plain - {"site-packages/other/vendored.py"}
    row = _dropped(checked)["site-packages/other/vendored.py"]
    assert row["reason"] == "eval-overlap" and row["of"] == "python-single-line:h:1"
    assert stats["eval_overlap"]["files_dropped"] == 1 and stats["eval_overlap"]["probes"] == 1
    assert json.loads((checked / "stats.json").read_text())["eval_overlap"]["holes_copied"] == 1
    # Fingerprinted in two processes (the probes sent to each once): the same corpus.
    pooled = tmp_path / "pooled"
    build_corpus([f"shards:{source}"], pooled, CorpusConfig(), log=lambda *_: None,
                 exclude_overlap=[str(sets)], jobs=2)
    for name in ("manifest.jsonl", "dropped.jsonl"):
        assert (pooled / name).read_text() == (checked / name).read_text()


def test_the_command_line_takes_evaluation_sets_and_reports_bad_ones(shard_tree, tmp_path):
    source, sets = shard_tree
    ok = subprocess.run([sys.executable, "-m", "infill.training.corpus", "--out", str(tmp_path / "c"),
                         "--source", f"shards:{source}", "--exclude-overlap", str(sets), "--jobs", "1"],
                        capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    assert _dropped(tmp_path / "c")["site-packages/other/vendored.py"]["reason"] == "eval-overlap"
    missing = subprocess.run([sys.executable, "-m", "infill.training.corpus", "--out", str(tmp_path / "d"),
                              "--source", f"shards:{source}", "--exclude-overlap", str(tmp_path / "nope.jsonl")],
                             capture_output=True, text=True)
    assert missing.returncode == 2 and "nope.jsonl" in missing.stderr and len(missing.stderr.splitlines()) == 1


def test_the_overlap_report_counts_the_holes_a_training_split_repeats(shard_tree, tmp_path):
    source, sets = shard_tree
    script = Path(__file__).resolve().parents[1] / "scripts" / "eval_overlap.py"
    for name, exclude in (("plain", None), ("checked", [str(sets)])):
        build_corpus([f"shards:{source}"], tmp_path / name, CorpusConfig(), log=lambda *_: None,
                     exclude_overlap=exclude)
        report = subprocess.run([sys.executable, str(script), str(tmp_path / name), str(sets),
                                 "--ids", str(tmp_path / f"{name}.json")], capture_output=True, text=True)
        assert report.returncode == 0, report.stderr
        found = json.loads((tmp_path / f"{name}.json").read_text())
        assert found["probe"] == ([] if exclude else ["python-single-line:h:1"])
        assert f"{len(found['probe'])} / 1 holes found" in report.stdout


def test_probes_that_start_alike_are_told_apart():
    """Two holes after a blank line (the commonest line there is): each is found where its
    own text follows the blank line, neither where only the blank line is."""
    first, second = "    x = compute_the_first_value(alpha, beta, gamma, delta, epsilon, zeta) + 1", \
        "    y = compute_the_second_value(alpha, beta, gamma, delta, epsilon, zeta) + 2"
    text = f"def f():\n    pass\n\n{first}\n\ndef g():\n    pass\n\n{second}\n"
    a, b = record_in(text, first, "r:1"), record_in(text, second, "r:2")
    assert probe_of(a).startswith("\n") and probe_of(b).startswith("\n")
    probes = EvalProbes([a, b])
    assert probes.find(text, "python") == ["r:1", "r:2"]
    assert probes.find(f"import os\n\n{second}\n", "python") == ["r:2"]
    assert probes.find("\n\n\n" + "\n".join(["pass"] * 50), "python") == []
