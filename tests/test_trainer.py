"""A tiny model trains on a toy corpus, saves a loadable checkpoint and resumes from OUT/state/ (safetensors + JSON, no pickles)."""

from __future__ import annotations

import hashlib
import json
import lzma
import math
from dataclasses import replace

import pytest
import torch

from infill.training.model import SIZES, build_model, count_parameters, save_model
from infill.training.state import MAX_SHARD_BYTES, load_tensors, save_tensors
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
    state = read_state(run)
    tok = AutoTokenizer.from_pretrained(ckpt)
    model = build_model("tiny", len(tok), special_ids(tok)).eval()
    # the checkpoint holds the trained weights rounded to bf16
    weights = {k[len("model/"):]: v for k, v in load_tensors(state_dir(run), state["layout"]).items()
               if k.startswith("model/")}
    weights.update({k: weights[v] for k, v in state["aliases"].items()})
    model.load_state_dict({k: v.to(torch.bfloat16).float() for k, v in weights.items()})
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


def state_dir(run):
    from pathlib import Path

    return Path(run.out) / "state"


def read_state(run):
    return json.loads((state_dir(run) / "state.json").read_text())


def test_state_is_safetensors_and_json_only(run):
    names = sorted(p.name for p in state_dir(run).iterdir())
    assert "state.json" in names and all(n.endswith(".safetensors") for n in names if n != "state.json")
    assert not (state_dir(run).parent / "state.pt").exists()


def test_resume_never_unpickles(run, monkeypatch):
    """``--resume`` reads safetensors and JSON: torch.load (pickle) is never called."""
    def refuse(*args, **kwargs):
        raise AssertionError("torch.load called on resume")

    monkeypatch.setattr(torch, "load", refuse)
    from infill.training.state import load_state

    from transformers import AutoTokenizer

    from infill.training.trainer import make_optimizer

    tok = AutoTokenizer.from_pretrained(f"{run.out}/checkpoint")
    model = build_model("tiny", len(tok), special_ids(tok))

    meta, rng = load_state(state_dir(run).parent, model, make_optimizer(model, run))
    assert meta["step"] == read_state(run)["step"] >= 30 and set(rng) == {"generator", "torch"}


def test_big_tensors_are_split_into_small_shards(tmp_path):
    big = torch.arange(3 * 1000 * 1000, dtype=torch.float32).reshape(3000, 1000)  # 12 MB
    layout = save_tensors({"big": big, "small": torch.ones(3)}, tmp_path, max_shard_bytes=5_000_000)
    assert len(layout["big"]) == 3 and all(p.stat().st_size <= 5_100_000 for p in tmp_path.iterdir())
    back = load_tensors(tmp_path, layout)
    assert torch.equal(back["big"], big) and torch.equal(back["small"], torch.ones(3))
    assert MAX_SHARD_BYTES <= 15 * 1024 * 1024


def test_init_from_a_checkpoint_with_a_longer_context(run, tmp_path):
    from transformers import AutoModelForMaskedLM

    grown = replace(run, out=str(tmp_path / "grown"), init_from=f"{run.out}/checkpoint", seq_len=160, max_steps=2)
    train(grown)
    start = read_log(grown)[0]
    assert start["seq_len"] == 160 and start["config"]["init_from"].endswith("checkpoint")
    first = [r for r in read_log(grown) if "loss" in r][0]
    fresh_loss = [r for r in read_log(run) if "loss" in r][0]["loss"]
    assert first["loss"] < fresh_loss  # it starts from the trained weights, not from scratch
    model = AutoModelForMaskedLM.from_pretrained(f"{grown.out}/checkpoint")
    assert model.config.max_position_embeddings == 160


def test_resume_continues_at_the_same_step(run):
    state = read_state(run)
    assert state["step"] == 30 and state["rows_done"] > 0
    train(replace(run, max_steps=34), resume=True)
    log = read_log(run)
    starts = [r for r in log if r.get("event") == "start"]
    assert starts[-1]["step"] == 30
    steps = [r["step"] for r in log if "loss" in r]
    assert steps[-4:] == [31, 32, 33, 34]
    assert read_state(run)["step"] == 34


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


def test_heldout_loss_script_reproduces_the_trainers_heldout_loss(run):
    """scripts/heldout_loss.py scores any checkpoint on the trainer's own fixed batches and noise."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("heldout_loss", Path(__file__).parents[1] / "scripts" / "heldout_loss.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    logged = [r for r in read_log(run) if "heldout_loss" in r][-1]["heldout_loss"]
    got = script.heldout_losses([f"{run.out}/checkpoint"], run.corpus, run.tokenizer, seq_len=run.seq_len,
                                batches=run.eval_batches, batch_size=run.batch_size, size=run.size)
    (losses,) = got.values()
    assert abs(losses["loss"] - logged) < 0.05  # the checkpoint is stored in bf16: a rounding apart
    assert losses["loss"] == pytest.approx(losses["masked_ce"] + losses["replaced_ce"], rel=1e-4)


def poisoned_loss(monkeypatch, bad_calls):
    """Make ``loss_on_batch`` return a NaN loss on the training calls numbered in ``bad_calls``."""
    import infill.training.trainer as trainer

    real, calls = trainer.loss_on_batch, {"n": 0}

    def loss_on_batch(*args, **kwargs):
        out = real(*args, **kwargs)
        if kwargs.get("t", args[8] if len(args) > 8 else None) is None:  # training, not held-out, batches
            calls["n"] += 1
            if calls["n"] in bad_calls:
                return replace(out, loss=out.loss * float("nan"))
        return out

    monkeypatch.setattr(trainer, "loss_on_batch", loss_on_batch)


def all_finite(checkpoint) -> bool:
    from transformers import AutoModelForMaskedLM

    model = AutoModelForMaskedLM.from_pretrained(str(checkpoint), dtype=torch.float32)
    return all(torch.isfinite(p).all() for p in model.parameters())


def test_a_nan_loss_skips_the_step_and_leaves_the_weights_finite(run, tmp_path, monkeypatch):
    poisoned_loss(monkeypatch, {3, 4})
    config = replace(run, out=str(tmp_path / "nan"), max_steps=6, eval_every=100)
    ckpt = train(config)
    log = read_log(config)
    skipped = [r for r in log if r.get("event") == "nonfinite"]
    assert [r["step"] for r in skipped] == [2, 2] and skipped[0]["grad_norm"] == "nan"
    assert log[-1]["event"] == "end" and log[-1]["step"] == 6 and log[-1]["skipped"] == 2
    assert [r["step"] for r in log if "loss" in r and "event" not in r] == [1, 2, 3, 4, 5, 6]
    assert all_finite(ckpt) and math.isfinite(log[-1]["heldout_loss"])


def test_a_run_that_keeps_diverging_stops_with_its_last_finite_weights(run, tmp_path, monkeypatch):
    from infill.training.trainer import MAX_NONFINITE_IN_A_ROW

    poisoned_loss(monkeypatch, set(range(4, 1000)))
    config = replace(run, out=str(tmp_path / "diverged"), max_steps=500, eval_every=1000)
    ckpt = train(config)
    log = read_log(config)
    assert log[-1]["event"] == "diverged" and log[-1]["step"] == 3
    assert log[-1]["skipped"] == MAX_NONFINITE_IN_A_ROW
    assert all_finite(ckpt)
    assert json.load(open(ckpt / "infill_config.json"))["training"]["steps"] == 3


def test_a_failing_torch_compile_falls_back_to_eager(run, tmp_path, monkeypatch):
    """No C compiler or Triton on the training machine: the run logs it and trains uncompiled."""
    def broken_compile(module, *args, **kwargs):
        def call(*a, **k):
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
        return call

    monkeypatch.setattr(torch, "compile", broken_compile)
    config = replace(run, out=str(tmp_path / "nocompile"), compile="on", max_steps=4, eval_every=2)
    train(config)
    log = read_log(config)
    failed = [r for r in log if r.get("event") == "compile_failed"]
    assert [r["step"] for r in failed] == [0]
    assert "No working C++ compiler" in failed[0]["error"]
    assert log[-1]["event"] == "end" and log[-1]["step"] == 4 and math.isfinite(log[-1]["heldout_loss"])


def test_errors_without_compile_are_not_swallowed(run, tmp_path, monkeypatch):
    import infill.training.trainer as trainer

    def broken(*args, **kwargs):
        raise ValueError("a real bug")

    monkeypatch.setattr(trainer, "loss_on_batch", broken)
    with pytest.raises(ValueError, match="a real bug"):
        train(replace(run, out=str(tmp_path / "bug"), compile="off", max_steps=2))


# ---------------------------------------------------------------- profiling


def training_rows(config):
    return [(r["step"], r["loss"], r["grad_norm"]) for r in read_log(config) if "loss" in r and "event" not in r]


def test_profiled_steps_log_where_the_time_goes_and_train_the_same(run, tmp_path):
    plain = replace(run, out=str(tmp_path / "plain"), max_steps=8, eval_every=100)
    profiled = replace(plain, out=str(tmp_path / "profiled"), profile_steps=3, profile_after=2)
    train(plain)
    train(profiled)
    (row,) = [r for r in read_log(profiled) if r.get("event") == "profile"]
    assert (row["step"], row["steps"], row["device"]) == (2, 3, "cpu")
    assert row["wall_ms_per_step"] > 0
    ops = [name for name, ms, calls in row["top_host"]]
    assert "aten::mm" in ops or "aten::addmm" in ops  # the encoder's matrix products are in it
    assert all(ms >= 0 and calls >= 0 for _, ms, calls in row["top_host"])
    assert training_rows(profiled) == training_rows(plain)  # measuring changes nothing


def test_a_failing_profiler_is_logged_and_training_goes_on(run, tmp_path, monkeypatch):
    def no_profiler(*args, **kwargs):
        raise RuntimeError("CUPTI could not be loaded")

    monkeypatch.setattr(torch.profiler, "profile", no_profiler)
    config = replace(run, out=str(tmp_path / "noprofile"), max_steps=4, eval_every=100, profile_steps=2,
                     profile_after=1)
    train(config)
    log = read_log(config)
    (failed,) = [r for r in log if r.get("event") == "profile_failed"]
    assert failed["step"] == 1 and "CUPTI could not be loaded" in failed["error"]
    assert log[-1]["event"] == "end" and log[-1]["step"] == 4


def test_a_run_that_ends_inside_the_profiled_steps_still_logs_them(run, tmp_path):
    config = replace(run, out=str(tmp_path / "short"), max_steps=3, eval_every=100, profile_steps=10,
                     profile_after=1)
    train(config)
    (row,) = [r for r in read_log(config) if r.get("event") == "profile"]
    assert (row["step"], row["steps"]) == (1, 2)


def test_profile_summary_on_cuda_counts_kernel_time_and_the_places_that_wait():
    """The CUDA half of the summary, on stand-in profiler rows (this machine has no GPU)."""
    from types import SimpleNamespace as Row

    from infill.training.profiling import summarise

    events = [Row(key="aten::mm", self_cpu_time_total=900.0, self_device_time_total=0.0, count=40),
              Row(key="sm90_gemm_bf16", self_cpu_time_total=0.0, self_device_time_total=60_000.0, count=40),
              Row(key="triton_fused_layer_norm", self_cpu_time_total=0.0, self_device_time_total=20_000.0, count=20),
              Row(key="cudaStreamSynchronize", self_cpu_time_total=15_000.0, self_device_time_total=0.0, count=4)]
    warned = [Row(filename="/x/infill/training/steps.py", lineno=30, message="called a synchronizing CUDA operation")] * 2
    warned += [Row(filename="/x/infill/training/trainer.py", lineno=318, message="called a synchronizing CUDA operation")] * 2
    row = summarise(events, steps=2, wall_s=0.1, device="cuda", syncs=warned)
    assert row["wall_ms_per_step"] == 50.0
    assert row["device_busy_ms_per_step"] == 40.0  # (60 + 20) ms of kernels over 2 steps
    assert row["device_busy_share"] == 0.8
    assert row["top_device"] == [["sm90_gemm_bf16", 30.0, 20], ["triton_fused_layer_norm", 10.0, 10]]
    assert row["top_host"][0] == ["cudaStreamSynchronize", 7.5, 2]
    assert row["syncs_per_step"] == 2.0
    assert row["sync_sites"] == {"steps.py:30": 2, "trainer.py:318": 2}


def test_loader_workers_feed_the_loop_as_on_a_gpu(run, tmp_path):
    """The CUDA path's data side on the CPU: DataLoader worker processes building batches."""
    config = replace(run, out=str(tmp_path / "workers"), max_steps=6, eval_every=100, num_workers=2,
                     profile_steps=2, profile_after=2)
    train(config)
    log = read_log(config)
    assert log[0]["workers"] == 2
    steps = [r for r in log if "loss" in r and "event" not in r]
    assert [r["step"] for r in steps] == [1, 2, 3, 4, 5, 6]
    tokens = [r["tokens"] for r in steps]
    assert all(b - a > 0 for a, b in zip(tokens, tokens[1:]))  # counted on the host, every batch
    assert [r["steps"] for r in log if r.get("event") == "profile"] == [2]
    state = json.loads((tmp_path / "workers" / "state" / "state.json").read_text())
    assert state["step"] == 6 and state["rows_done"] > 0 and state["tokens"] == tokens[-1]
