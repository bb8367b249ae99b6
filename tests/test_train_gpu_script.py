"""scripts/train_gpu.sh end to end on the CPU, at a tiny size and a seconds-long deadline.

The script is the one command an accelerator session runs; this proves that it builds a
corpus from shards, trains to its deadline, and leaves in OUT a bundle that fits what a
device machine sends back (at most 8 files of 16 MiB) and unpacks into a loadable checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("alpha beta gamma delta value index result count total name item key data node "
         "left right parent child buffer offset length start stop token frame cache").split()


def random_module(rng: random.Random) -> str:
    lines = []
    for f in range(12):
        args = ", ".join(rng.sample(WORDS, 2))
        lines.append(f"def {rng.choice(WORDS)}_{rng.choice(WORDS)}_{f}({args}):")
        for _ in range(rng.randint(2, 5)):
            a, b, c = rng.sample(WORDS, 3)
            lines.append(f"    {a} = {b} {rng.choice('+-*')} {c}_{rng.randint(0, 99)}")
        lines.append(f"    return {rng.choice(WORDS)}\n")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def shard_source(tmp_path_factory):
    """A data/-like folder: manifest plus one xz shard of varied Python files."""
    root = tmp_path_factory.mktemp("src")
    (root / "shards").mkdir()
    rng = random.Random(7)
    with open(root / "manifest.jsonl", "w") as man, lzma.open(root / "shards" / "train-000.jsonl.xz", "wt") as sh:
        for i in range(60):
            text = random_module(rng)
            sha = hashlib.sha256(text.encode()).hexdigest()
            man.write(json.dumps({"id": sha[:16], "path": f"site-packages/toy/m{i}.py", "package": "toy",
                                  "licence": "MIT", "language": "python", "sha256": sha, "split": "train",
                                  "bytes": len(text)}) + "\n")
            sh.write(json.dumps({"id": sha[:16], "language": "python", "text": text}) + "\n")
    return root


def test_script_trains_to_its_deadline_and_leaves_a_loadable_bundle(shard_source, tmp_path):
    from transformers import AutoModelForMaskedLM

    out, run = tmp_path / "OUT", tmp_path / "run"
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(out), "RUN": str(run), "DEADLINE": "30",
           "SIZE": "tiny", "SEQ": "128", "BATCH": "4", "WARMUP": "2", "SAVE_MINUTES": "0.05",
           "SOURCES": f"shards:{shard_source}", "EXTRA": "--device cpu --bf16 off --num-threads 1 --eval-every 5"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train_gpu.sh")], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    files = sorted(out.iterdir())
    names = {p.name for p in files}
    assert len(files) <= 8 and all(p.is_file() and p.stat().st_size <= 16 * 1024 * 1024 for p in files)
    assert "meta.tar" in names and "train_log.jsonl" in names and any(n.endswith(".safetensors") for n in names)
    assert not any(n.endswith(".tmp") for n in names)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert log[-1]["event"] == "end" and log[-1]["step"] > 25
    (profile,) = [r for r in log if r.get("event") == "profile"]  # steps 20-24 under the profiler
    assert (profile["step"], profile["steps"]) == (20, 5) and profile["top_host"]
    assert (run / "state" / "state.json").exists()  # the full state stays on the machine
    stats = json.loads((run / "corpus" / "stats.json").read_text())
    assert json.loads((out / "corpus_stats.json").read_text()) == stats  # it comes back with the bundle
    overlap = stats["eval_overlap"]
    assert overlap["sets"] == ["evalsets"] and overlap["records"] > 5000  # evalsets/ and dev/
    # Python, the language of most evaluation sets, gets a larger share than the others
    assert stats["config"]["language_caps"] == {"python": 200_000_000}
    assert stats["config"]["max_bytes_per_language"] == 40_000_000

    from infill.training.bundle import unpack_bundle

    ckpt = unpack_bundle(out, tmp_path / "ckpt", ROOT / "data" / "tokenizer")
    model = AutoModelForMaskedLM.from_pretrained(str(ckpt))
    assert model.config.max_position_embeddings == 128
    info = json.loads((ckpt / "infill_config.json").read_text())
    assert info["training"]["steps"] == log[-1]["step"]

    import infill

    filler = infill.load(str(ckpt))
    assert isinstance(filler.fill_between("def f(x):\n    return ", "\n"), str)

    # A fresh machine continues from the checkpoint (INIT, weights only) with another SEED.
    out2, run2 = tmp_path / "OUT2", tmp_path / "run2"
    env2 = {**env, "OUT": str(out2), "RUN": str(run2), "DEADLINE": "20", "INIT": str(ckpt), "SEED": "1"}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train_gpu.sh")], env=env2, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert f"initialised from {ckpt}" in proc.stdout
    ckpt2 = unpack_bundle(out2, tmp_path / "ckpt2", ROOT / "data" / "tokenizer")
    train_config = json.loads((ckpt2 / "train_config.json").read_text())
    assert train_config["init_from"] == str(ckpt) and train_config["seed"] == 1
    first = [r["loss"] for r in log if "loss" in r][0]
    log2 = [json.loads(line) for line in (out2 / "train_log.jsonl").read_text().splitlines()]
    assert [r["loss"] for r in log2 if "loss" in r][0] < first  # it starts where the first run ended


def test_script_names_a_missing_checkpoint_before_building_anything(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "OUT"), "RUN": str(tmp_path / "run"),
           "INIT": str(tmp_path / "models" / "house")}
    proc = subprocess.run(["bash", str(ROOT / "scripts" / "train_gpu.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert "no checkpoint there" in proc.stderr and "device_pack.py unpack" in proc.stderr
    assert not (tmp_path / "run" / "corpus").exists()

    # A packed tree's evalsets/ is missing too until unpacked: named before the corpus build.
    tree = tmp_path / "packed"
    (tree / "scripts").mkdir(parents=True)
    (tree / "scripts" / "train_gpu.sh").write_text((ROOT / "scripts" / "train_gpu.sh").read_text())
    env.pop("INIT")
    proc = subprocess.run(["bash", str(tree / "scripts" / "train_gpu.sh")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and "evalsets/: missing" in proc.stderr
