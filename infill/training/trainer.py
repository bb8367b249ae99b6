"""Train the house model: one loop for CPU and CUDA, resumable, with a wall-clock budget.

    python -m infill.training.trainer tokenizer --corpus CORPUS --out runs/tokenizer
    python -m infill.training.trainer train --corpus CORPUS --tokenizer runs/tokenizer \\
        --out runs/v0 --size v0-cpu --max-minutes 70 [--resume]

The learning rate warms up linearly for ``warmup_steps`` and then follows a cosine to
``min_lr_ratio`` of its peak over the run's *progress*, the largest of step/max_steps,
tokens/max_tokens and elapsed/max_minutes: a run bounded by wall-clock time still gets a full
schedule. ``OUT/state/`` (everything needed to continue: safetensors shards and JSON, no pickles) and the Hugging Face checkpoint in
``OUT/checkpoint/`` are rewritten every ``save_every_minutes`` and at the end; both writes are
atomic (temporary file or folder, then rename).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from infill.training.profiling import StepProfile, error_line
from infill.training.state import has_state, load_state, save_state, swap_in
from infill.training.steps import evaluate, heldout_batches, loss_on_batch, resolve_device, use_bf16

H100_BF16_FLOPS = 989e12
#: A run stops (and saves its last finite weights) after this many steps in a row whose
#: gradient is not finite; fewer are skipped and logged as ``nonfinite`` rows.
MAX_NONFINITE_IN_A_ROW = 20


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on; saved in ``OUT/state/`` and the checkpoint."""

    corpus: str
    tokenizer: str
    out: str
    size: str = "v0-cpu"
    seq_len: int = 0  # 0: the size preset's context
    batch_size: int = 16
    grad_accum: int = 1
    lr: float = 1e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 200
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.98)
    grad_clip: float = 1.0
    max_steps: int | None = None
    max_tokens: int | None = None
    max_minutes: float | None = None
    eval_every: int = 200
    eval_batches: int = 4
    log_every: int = 10
    save_every_minutes: float = 10.0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    compile: str = "auto"  # auto (CUDA only) | on | off
    bf16: str = "auto"  # auto (CUDA: on; CPU: on if measured faster) | on | off
    num_threads: int = 0  # CPU threads; 0: all cores
    num_workers: int = -1  # DataLoader workers; -1: 8 on CUDA, none (in-process) on CPU
    replace_rate: float = 0.05
    plain_share: float = 0.3
    save_dtype: str = "bfloat16"
    init_from: str = ""  # a checkpoint folder to start from (weights only); its context may grow
    export: str = ""  # a folder that gets a compact bundle (bundle.py) at every save, e.g. $OUT
    profile_steps: int = 0  # profile this many steps (profiling.py): a "profile" row in the log
    profile_after: int = 20  # ... starting this many steps into the session (compilation done)
    notes: str = ""

    def __post_init__(self) -> None:
        if not (self.max_steps or self.max_tokens or self.max_minutes):
            raise ValueError("set a budget: max_steps, max_tokens or max_minutes")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be at least 1")


# ---------------------------------------------------------------- schedule


def progress(config: TrainConfig, step: int, tokens: int, elapsed: float) -> float:
    """How far the run is through its budget, in [0, 1+]: the largest of the set budgets."""
    parts = []
    if config.max_steps:
        parts.append(step / config.max_steps)
    if config.max_tokens:
        parts.append(tokens / config.max_tokens)
    if config.max_minutes:
        parts.append(elapsed / (60 * config.max_minutes))
    return max(parts)


def learning_rate(config: TrainConfig, step: int, frac: float) -> float:
    """Linear warm-up over ``warmup_steps``, then cosine from ``lr`` to ``min_lr_ratio * lr``."""
    warm = min(1.0, (step + 1) / max(1, config.warmup_steps))
    cos = 0.5 * (1 + math.cos(math.pi * min(1.0, frac)))
    return config.lr * warm * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cos)


# ---------------------------------------------------------------- setup


def make_optimizer(model, config: TrainConfig):
    """AdamW; weight decay on matrices (embeddings included), none on norms and biases."""
    import torch

    params = {id(p): p for p in model.parameters() if p.requires_grad}.values()
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = next(model.parameters()).is_cuda
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, fused=fused)


def load_weights(model, checkpoint: str | Path) -> None:
    """Copy the weights of a Hugging Face checkpoint folder (safetensors) into ``model``."""
    import torch
    from safetensors.torch import load_file

    tensors = {}
    for path in sorted(Path(checkpoint).glob("*.safetensors")):
        tensors.update(load_file(str(path)))
    own = model.state_dict()
    missing = [k for k in own if k not in tensors and k != "decoder.weight"]  # decoder is tied
    unknown = [k for k in tensors if k not in own]
    if missing or unknown:
        raise ValueError(f"{checkpoint}: weights do not match this model size "
                         f"(missing {missing[:3]}, unexpected {unknown[:3]})")
    with torch.no_grad():
        for k, v in tensors.items():
            if own[k].shape != v.shape:
                raise ValueError(f"{checkpoint}: {k} has shape {tuple(v.shape)}, not {tuple(own[k].shape)}")
            own[k].copy_(v.to(own[k].dtype))


def write_checkpoint(model, tokenizer, config: TrainConfig, out: Path, seq_len: int, tokens: int,
                     step: int, heldout: dict | None) -> Path:
    """Write the HF checkpoint to ``out/checkpoint`` (via ``checkpoint.tmp`` and a rename)."""
    from infill.training.model import save_model
    from infill.training.tokenizer import write_infill_config

    tmp, final, old = out / "checkpoint.tmp", out / "checkpoint", out / "checkpoint.old"
    shutil.rmtree(tmp, ignore_errors=True)
    save_model(model, tmp, config.save_dtype)
    tokenizer.save_pretrained(str(tmp))
    notes = (f"house model, size {config.size}, masked diffusion (MDLM 1/t loss) with replaced-token "
             f"detection (rate {config.replace_rate}); {step} steps. {config.notes}").strip()
    write_infill_config(tmp, tokenizer, max_context=seq_len, training={
        "tokens_seen": tokens, "steps": step, "corpus": str(config.corpus), "size": config.size,
        "heldout": heldout or {}, "notes": notes})
    (tmp / "train_config.json").write_text(json.dumps(asdict(config), indent=2) + "\n")
    return swap_in(tmp, final, old)


# ---------------------------------------------------------------- the loop


def train(config: TrainConfig, resume: bool = False) -> Path:
    """Train (or continue, with ``resume``) and return the checkpoint folder."""
    import contextlib
    import functools

    import torch

    from infill.training.data import ExampleBuilder, ExampleConfig, ExampleDataset, iter_batches, iter_examples
    from infill.training.model import build_model, count_parameters, get_size
    from infill.training.tokenizer import load_tokenizer, special_ids

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(config.device)
    if device == "cpu":
        torch.set_num_threads(config.num_threads or os.cpu_count() or 1)
        with contextlib.suppress(RuntimeError):  # only settable before the first parallel work
            torch.set_num_interop_threads(1)
    torch.manual_seed(config.seed)
    tokenizer = load_tokenizer(config.tokenizer)
    ids = special_ids(tokenizer)
    vocab_size = len(tokenizer)
    size = get_size(config.size)
    seq_len = config.seq_len or size.context
    if seq_len > size.context:
        if not config.init_from and config.size != "tiny":
            raise ValueError(f"seq_len {seq_len} is longer than the {size.name} context {size.context}")
        size = replace(size, context=seq_len)  # RoPE: the same weights serve a longer context
    example_config = ExampleConfig(seq_len=seq_len, plain_share=config.plain_share)

    model = build_model(size, vocab_size, ids).to(device)
    optimizer = make_optimizer(model, config)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    step, tokens, elapsed, rows_done = 0, 0, 0.0, 0
    state_path = out / "state"
    if resume and has_state(out):
        meta, rng = load_state(out, model, optimizer)
        step, tokens, elapsed, rows_done = meta["step"], meta["tokens"], meta["elapsed"], meta["rows_done"]
        generator.set_state(rng["generator"])
        torch.set_rng_state(rng["torch"])
        config = replace(TrainConfig(**{**meta["config"], "betas": tuple(meta["config"]["betas"])}),
                         **{f.name: getattr(config, f.name) for f in fields(config)
                            if f.name in RESUME_OVERRIDABLE})
        print(f"resumed from {state_path} at step {step}, {tokens} tokens", flush=True)
    else:
        if resume:
            print(f"no {state_path} yet: starting a new run", flush=True)
        if config.init_from:
            load_weights(model, config.init_from)
            print(f"initialised from {config.init_from}", flush=True)

    bf16 = use_bf16(config, device)
    autocast = functools.partial(torch.autocast, device, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext
    compile_on = config.compile == "on" or (config.compile == "auto" and device == "cuda")
    encoder = torch.compile(model.model) if compile_on else model.model
    n_params = count_parameters(model)
    n_body = count_parameters(model, exclude_embeddings=True)

    pad_to = seq_len if device == "cuda" else None
    # on CUDA the example builders (Python) must keep up with the GPU: all cores but two
    workers = config.num_workers if config.num_workers >= 0 else (
        max(1, min(14, (os.cpu_count() or 8) - 2)) if device == "cuda" else 0)
    if workers:
        dataset = ExampleDataset(config.corpus, config.tokenizer, example_config, config.seed, rows_done,
                                 config.batch_size, pad_to)
        batches = iter(torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers,
                                                   pin_memory=device == "cuda", prefetch_factor=4,
                                                   persistent_workers=True))
    else:
        builder = ExampleBuilder(tokenizer, example_config)
        batches = iter_batches(iter_examples(config.corpus, "train", builder, config.seed, rows_done),
                               config.batch_size, ids["<pad>"], pad_to, shuffle_buffer=4 * config.batch_size,
                               seed=config.seed + rows_done, group_by_length=True)
    eval_set = heldout_batches(config, tokenizer, example_config, ids["<pad>"])

    log = open(out / "train_log.jsonl", "a", encoding="utf-8")
    meta = {"event": "start", "step": step, "tokens": tokens, "device": device, "bf16": bf16,
            "compile": compile_on, "params": n_params, "params_no_embeddings": n_body, "seq_len": seq_len,
            "threads": torch.get_num_threads(), "workers": workers, "config": asdict(config)}
    log.write(json.dumps(meta) + "\n")
    log.flush()
    print(json.dumps({k: v for k, v in meta.items() if k != "config"}), flush=True)

    def save(heldout: dict | None) -> None:
        save_state(out, model, optimizer, {"step": step, "tokens": tokens, "elapsed": elapsed,
                                           "rows_done": rows_done, "config": asdict(config)},
                   {"generator": generator.get_state(), "torch": torch.get_rng_state()})
        final = write_checkpoint(model, tokenizer, config, out, seq_len, tokens, step, heldout)
        if config.export:
            from infill.training.bundle import export_bundle

            log.flush()
            export_bundle(final, config.export, out / "train_log.jsonl")

    model.train()
    heldout = None
    last_save = last_log = loop_start = time.time()
    elapsed_before = elapsed  # wall-clock seconds of earlier sessions (evals and saves included)
    tokens_at_log, selected_at_log = tokens, 0
    stop = StopFlag()

    def log_row(row: dict) -> None:
        log.write(json.dumps(row) + "\n")
        log.flush()
        print(json.dumps(row), flush=True)

    def forward_backward():
        """One optimizer step's batches through the model; their gradients accumulate."""
        nonlocal rows_done, tokens, selected_at_log
        for _ in range(config.grad_accum):
            batch = next(batches)
            rows_done = max(rows_done, int(batch["rows"].max()) + 1)
            tokens += int(batch["attention_mask"].sum())  # counted on the host, before the copy
            batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
            out_loss = loss_on_batch(model, encoder, batch, ids, vocab_size, config.replace_rate, generator, autocast)
            (out_loss.loss / config.grad_accum).backward()
            selected_at_log += out_loss.n_selected
        return out_loss

    def first_step_or_eager():
        """The first step; if torch.compile fails at it (no C compiler, no Triton, an operation
        it cannot trace), log that and take it again uncompiled, as the rest of the run: a
        one-shot accelerator session still trains."""
        nonlocal encoder, compile_on
        try:
            return forward_backward()
        except Exception as error:
            if not compile_on:
                raise
            message = error_line(error)
            print(f"torch.compile failed at the first step ({message}); continuing without it", flush=True)
            log.write(json.dumps({"event": "compile_failed", "step": step, "error": message}) + "\n")
            log.flush()
            encoder, compile_on = model.model, False
            optimizer.zero_grad(set_to_none=True)
            return forward_backward()

    def heldout_loss() -> dict:
        # uncompiled: a few batches now and then, not worth a second (no-grad) compilation
        return evaluate(model, model.model, eval_set, ids, vocab_size, config, device, autocast)

    skipped = nonfinite_in_row = 0
    diverged = False
    first_step = step
    profile = StepProfile(device, first_step + config.profile_after, config.profile_steps)

    while progress(config, step, tokens, elapsed) < 1.0 and not stop.raised:
        if profile.due(step) and (failed := profile.begin(step)):
            log_row(failed)
        lr = learning_rate(config, step, progress(config, step, tokens, elapsed))
        for group in optimizer.param_groups:
            group["lr"] = lr
        out_loss = forward_backward() if step > first_step else first_step_or_eager()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        elapsed = elapsed_before + time.time() - loop_start
        if not math.isfinite(float(grad_norm)):
            # An inf or NaN loss or gradient: the step is not taken, so the weights and AdamW's
            # moments stay finite and every later save is still a usable model.
            optimizer.zero_grad(set_to_none=True)
            skipped += 1
            nonfinite_in_row += 1
            row = {"event": "nonfinite", "step": step, "tokens": tokens, "loss": str(float(out_loss.loss.detach())),
                   "grad_norm": str(float(grad_norm)), "skipped": skipped}  # "nan", "inf": not JSON numbers
            log_row(row)
            if nonfinite_in_row >= MAX_NONFINITE_IN_A_ROW:
                diverged = True
                print(f"{nonfinite_in_row} steps in a row had an inf or NaN gradient: stopping with the "
                      f"weights of step {step} (lower --lr or try --bf16 off)", flush=True)
                break
            continue
        nonfinite_in_row = 0
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if profile.finished(step):
            log_row(profile.end(step))

        if step % config.log_every == 0 or step == 1:
            now = time.time()
            tok_s = (tokens - tokens_at_log) / max(now - last_log, 1e-9)
            row = {"step": step, "tokens": tokens, "loss": round(float(out_loss.loss.detach()), 4),
                   "masked_ce": round(float(out_loss.masked_ce), 4),
                   "replaced_ce": round(float(out_loss.replaced_ce), 4), "lr": lr,
                   "grad_norm": round(float(grad_norm), 3), "tokens_per_s": round(tok_s, 1),
                   "elapsed": round(elapsed, 1)}
            if device == "cuda":
                sel_s = selected_at_log / max(now - last_log, 1e-9)
                flops = 6 * n_body * tok_s + 6 * vocab_size * size.hidden * sel_s + 12 * size.layers * seq_len * size.hidden * tok_s
                row["mfu"] = round(flops / H100_BF16_FLOPS, 4)
            log_row(row)
            last_log, tokens_at_log, selected_at_log = now, tokens, 0
        if step % config.eval_every == 0:
            heldout = heldout_loss()
            row = {"step": step, "tokens": tokens, "elapsed": round(elapsed, 1),
                   **{f"heldout_{k}": round(v, 4) for k, v in heldout.items()}}
            log_row(row)
        if time.time() - last_save >= 60 * config.save_every_minutes:
            save(heldout)
            last_save = time.time()

    stop.restore()
    if profile.active:  # the run ended inside the profiled steps
        log_row(profile.end(step))
    heldout = heldout_loss()
    save(heldout)
    event = "stopped" if stop.raised else "diverged" if diverged else "end"
    row = {"event": event, "step": step, "tokens": tokens, "elapsed": round(elapsed, 1), "skipped": skipped,
           **{f"heldout_{k}": round(v, 4) for k, v in heldout.items()}}
    log.write(json.dumps(row) + "\n")
    log.close()
    if config.export:  # the log again, with its last row
        shutil.copyfile(out / "train_log.jsonl", Path(config.export) / "train_log.jsonl.tmp")
        os.replace(Path(config.export) / "train_log.jsonl.tmp", Path(config.export) / "train_log.jsonl")
    print(json.dumps(row), flush=True)
    return out / "checkpoint"


class StopFlag:
    """SIGTERM / SIGINT set a flag: the loop ends after the current step and saves."""

    def __init__(self) -> None:
        import signal
        import threading

        self.raised = False
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum, frame) -> None:
        if self.raised:  # a second signal: give up at once
            raise KeyboardInterrupt
        self.raised = True
        print(f"signal {signum}: stopping after this step and saving", flush=True)

    def restore(self) -> None:
        import signal

        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


# A resumed run keeps its recipe; only these may change between sessions.
RESUME_OVERRIDABLE = {"max_steps", "max_tokens", "max_minutes", "eval_every", "log_every",
                      "save_every_minutes", "num_threads", "num_workers", "device", "compile", "bf16", "notes",
                      "export", "profile_steps", "profile_after"}


# ---------------------------------------------------------------- CLI


def build_tokenizer(corpus: str, out: str, vocab_size: int = 16384, max_mb: float = 50.0, seed: int = 0) -> Path:
    """Train the tokenizer on a language-balanced sample of the train shards."""
    from infill.training.data import sample_texts
    from infill.training.tokenizer import train_tokenizer

    t0 = time.time()
    texts = sample_texts(corpus, int(max_mb * 1e6), seed)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    train_tokenizer(texts, vocab_size, out)
    print(json.dumps({"event": "tokenizer", "files": len(texts), "bytes": n_bytes, "vocab_size": vocab_size,
                      "seconds": round(time.time() - t0, 1), "out": str(out)}), flush=True)
    return Path(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m infill.training.trainer", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("tokenizer", help="train the byte-level BPE tokenizer")
    t.add_argument("--corpus", required=True)
    t.add_argument("--out", required=True)
    t.add_argument("--vocab-size", type=int, default=16384)
    t.add_argument("--max-mb", type=float, default=50.0, help="sample size in MB (balanced by language)")
    r = sub.add_parser("train", help="train (or --resume) the house model")
    r.add_argument("--corpus", required=True)
    r.add_argument("--tokenizer", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--resume", action="store_true", help="continue from OUT/state/ (or a legacy OUT/state.pt) if it exists")
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    for name in ("size", "seq_len", "batch_size", "grad_accum", "lr", "warmup_steps", "weight_decay",
                 "max_steps", "max_tokens", "max_minutes", "eval_every", "log_every", "save_every_minutes",
                 "seed", "device", "compile", "bf16", "num_threads", "num_workers", "replace_rate", "init_from", "export",
                 "profile_steps", "profile_after", "notes"):
        kind = {"max_steps": int, "max_tokens": int, "max_minutes": float}.get(name, type(defaults[name]))
        r.add_argument("--" + name.replace("_", "-"), type=kind, default=defaults[name])
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    # OpenMP threads that spin-wait for a busy core cost a shared CPU dearly (docs/BENCHMARKS.md);
    # this only takes effect when torch has not been imported yet.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = parse_args(argv)
    if args.command == "tokenizer":
        build_tokenizer(args.corpus, args.out, args.vocab_size, args.max_mb)
        return 0
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    train(TrainConfig(**values), resume=args.resume)
    return 0


if __name__ == "__main__":
    sys.exit(main())
