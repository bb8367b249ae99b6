"""A tiny model trains on a toy corpus, saves a loadable checkpoint and resumes from state.pt."""

from __future__ import annotations

import hashlib
import json
import lzma
from dataclasses import replace

import pytest
import torch

from infill.training.model import SIZES, build_model, count_parameters, save_model
from infill.training.tokenizer import special_ids
from infill.training.trainer import TrainConfig, learning_rate, main, progress, train


def toy_text(i: int) -> str:
    return "".join(
        f"def handler_{i}_{j}(request, value={j}):\n    result = request.get('key_{j}', value)\n"
        f"    if result is None:\n        return {j}\n    return result * {i}\n\n"
        for j in range(12)
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A corpus in the CONTRACTS.md layout: manifest, train and held-out shards."""
    root = tmp_path_factory.mktemp("corpus")
    (root / "shards").mkdir()
    rows = {"train": [], "heldout": []}
    with open(root / "manifest.jsonl", "w") as man:
        for i in range(40):
            text = toy_text(i)
            split = "heldout" if i % 10 == 0 else "train"
            sha = hashlib.sha256(text.encode()).hexdigest()
            man.write(json.dumps({"id": f"t{i}", "path": f"pkg/m{i}.py", "package": "pkg", "licence": "MIT",
                                  "language": "python", "sha256": sha, "split": split, "bytes": len(text)}) + "\n")
            rows[split].append({"id": f"t{i}", "language": "python", "text": text})
    for split, items in rows.items():
        for k in range(0, len(items), 20):
            with lzma.open(root / "shards" / f"{split}-{k // 20:03d}.jsonl.xz", "wt") as fh:
                fh.writelines(json.dumps(r) + "\n" for r in items[k:k + 20])
    return root


@pytest.fixture(scope="module")
def tokenizer_dir(corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("tok")
    main(["tokenizer", "--corpus", str(corpus), "--out", str(out), "--vocab-size", "400"])
    return out


@pytest.fixture(scope="module")
def run(corpus, tokenizer_dir, tmp_path_factory):
    config = TrainConfig(corpus=str(corpus), tokenizer=str(tokenizer_dir), out=str(tmp_path_factory.mktemp("run")),
                         size="tiny", seq_len=96, batch_size=8, lr=5e-3, warmup_steps=5, max_steps=30,
                         eval_every=10, log_every=1, eval_batches=1, bf16="off", num_threads=1)
    train(config)
    return config


def read_log(config):
    return [json.loads(line) for line in open(f"{config.out}/train_log.jsonl")]


def test_loss_falls(run):
    losses = [r["loss"] for r in read_log(run) if "loss" in r]
    assert len(losses) == 30
    assert sum(losses[-5:]) / 5 < 0.85 * sum(losses[:5]) / 5
    assert all(k in read_log(run)[1] for k in ("step", "tokens", "masked_ce", "replaced_ce", "lr", "tokens_per_s", "elapsed"))
    assert any("heldout_loss" in r for r in read_log(run))


def test_checkpoint_reloads_with_identical_logits(run):
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    ckpt = f"{run.out}/checkpoint"
    reloaded = AutoModelForMaskedLM.from_pretrained(ckpt, dtype=torch.float32).eval()
    assert json.load(open(f"{ckpt}/config.json"))["dtype"] == "bfloat16"
    state = torch.load(f"{run.out}/state.pt", weights_only=False)
    tok = AutoTokenizer.from_pretrained(ckpt)
    model = build_model("tiny", len(tok), special_ids(tok)).eval()
    # the checkpoint holds the trained weights rounded to bf16
    model.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in state["model"].items()})
    ids = torch.randint(15, len(tok), (2, 40))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, reloaded(input_ids=ids).logits)
    info = json.load(open(f"{ckpt}/infill_config.json"))
    assert info["training"]["tokens_seen"] == state["tokens"] > 0
    assert info["max_context"] == 96 and info["mask_id"] == tok.mask_token_id == 0


def test_float32_save_round_trip(tmp_path):
    from transformers import AutoModelForMaskedLM

    special = {s: i for i, s in enumerate(["<mask>", "<null>", "<bos>", "<eos>", "<pad>"])}
    model = build_model("tiny", 99, special).eval()
    save_model(model, tmp_path, dtype="float32")
    reloaded = AutoModelForMaskedLM.from_pretrained(str(tmp_path)).eval()
    ids = torch.randint(5, 99, (2, 16))
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, reloaded(input_ids=ids).logits)


def test_resume_continues_at_the_same_step(run):
    state = torch.load(f"{run.out}/state.pt", weights_only=False)
    assert state["step"] == 30 and state["rows_done"] > 0
    train(replace(run, max_steps=34), resume=True)
    log = read_log(run)
    starts = [r for r in log if r.get("event") == "start"]
    assert starts[-1]["step"] == 30
    steps = [r["step"] for r in log if "loss" in r]
    assert steps[-4:] == [31, 32, 33, 34]
    assert torch.load(f"{run.out}/state.pt", weights_only=False)["step"] == 34


def test_schedule_warms_up_and_decays_to_ten_percent():
    c = TrainConfig(corpus="c", tokenizer="t", out="o", lr=1.0, warmup_steps=10, max_steps=100)
    assert learning_rate(c, 0, 0.0) == pytest.approx(0.1)
    assert learning_rate(c, 9, 0.09) == pytest.approx(1.0, rel=0.02)
    assert learning_rate(c, 100, 1.0) == pytest.approx(0.1)
    c2 = replace(c, max_steps=None, max_minutes=1.0)
    assert progress(c2, 5, 0, 30.0) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="budget"):
        TrainConfig(corpus="c", tokenizer="t", out="o")


def test_presets():
    assert SIZES["tiny"].hidden == 32 and SIZES["tiny"].layers == 2
    special = {s: i for i, s in enumerate(["<mask>", "<null>", "<bos>", "<eos>", "<pad>"])}
    # the v1 checkpoint must stay under 32 MB in bf16
    assert 2 * count_parameters(build_model("v1-gpu", 16384, special)) <= 32_000_000
