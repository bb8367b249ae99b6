"""The diffusion loss on one batch, the held-out evaluation with fixed noise, and where
and in which precision the steps run.

Split from ``trainer.py`` (the loop, checkpoints and the command line) so that each reads in
one sitting; torch is imported inside the functions, like the rest of ``infill.training``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infill.training.trainer import TrainConfig


def noised_batch(batch: dict, ids: dict, vocab_size: int, replace_rate: float, generator, t=None):
    """Noise a collated batch: returns (noisy_ids, where, targets, is_masked, t_pos, n_maskable).

    ``where`` is the (row, column) index of the N selected positions (masked or checked), in
    row-major order. It is found once (``nonzero``: the step's one wait for the accelerator
    before the gradient norm) and every selection below gathers with it.
    """
    from infill.training.objective import apply_noise, sample_t

    clean = batch["input_ids"]  # (B, L)
    B = clean.shape[0]
    if t is None:
        t = sample_t(B, generator=generator, device=clean.device)  # (B,)
    n = apply_noise(clean, batch["maskable"], t, ids["<mask>"], vocab_size, replace_rate,
                    special_ids=list(ids.values()), generator=generator)
    where = (n.masked | n.replaced | n.kept).nonzero(as_tuple=True)  # 2 x (N,)
    return n.noisy_ids, where, clean[where], n.masked[where], t[where[0]], batch["maskable"].sum()


def loss_on_batch(model, encoder, batch: dict, ids: dict, vocab_size: int, replace_rate: float,
                  generator, autocast, t=None):
    """Forward one batch and return the ``LossOut`` (selected positions only)."""
    from infill.training.objective import sparse_diffusion_loss

    noisy, where, targets, is_masked, t_pos, n_maskable = noised_batch(
        batch, ids, vocab_size, replace_rate, generator, t)
    with autocast():
        hidden = encoder(input_ids=noisy, attention_mask=batch["attention_mask"]).last_hidden_state  # (B, L, H)
        logits = model.decoder(model.head(hidden[where]))  # (N, V)
    return sparse_diffusion_loss(logits, targets, is_masked, t_pos, n_maskable, ids["<mask>"])


def heldout_batches(config: TrainConfig, tokenizer, example_config, pad_id: int) -> list[dict]:
    """A fixed list of held-out batches (the held-out split, or train rows if there is none)."""
    from infill.training.data import ExampleBuilder, iter_batches, iter_examples, shard_paths

    builder = ExampleBuilder(tokenizer, example_config)
    try:
        shard_paths(config.corpus, "heldout")
        split = "heldout"
    except FileNotFoundError:
        split = "train"
    examples = iter_examples(config.corpus, split, builder, seed=12345, epochs=1)
    batches = []
    for batch in iter_batches(examples, config.batch_size, pad_id, pad_to=example_config.seq_len):
        batches.append(batch)
        if len(batches) >= config.eval_batches:
            break
    return batches


def evaluate(model, encoder, batches: list[dict], ids: dict, vocab_size: int, config: TrainConfig,
             device: str, autocast) -> dict:
    """Mean losses on the fixed held-out batches, with fixed noise (t spread over (0, 1))."""
    import torch

    g = torch.Generator(device=device).manual_seed(777)
    totals = {"loss": 0.0, "masked_ce": 0.0, "replaced_ce": 0.0}
    model.eval()
    with torch.no_grad():
        for batch in batches:
            batch = {k: v.to(device) for k, v in batch.items()}
            B = batch["input_ids"].shape[0]
            t = torch.linspace(0.05, 0.95, B, device=device)  # (B,)
            out = loss_on_batch(model, encoder, batch, ids, vocab_size, config.replace_rate, g, autocast, t)
            totals["loss"] += float(out.loss)
            totals["masked_ce"] += float(out.masked_ce)
            totals["replaced_ce"] += float(out.replaced_ce)
    model.train()
    return {k: v / max(1, len(batches)) for k, v in totals.items()}


# ---------------------------------------------------------------- device and precision


def resolve_device(name: str) -> str:
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda: no CUDA device is available; use --device cpu")
    return name


def cpu_bf16_is_faster(hidden: int = 256) -> bool:
    """Time a small MLP forward+backward in float32 and under bf16 autocast on this CPU."""
    import torch

    layer = torch.nn.Sequential(torch.nn.Linear(hidden, 4 * hidden), torch.nn.GELU(), torch.nn.Linear(4 * hidden, hidden))
    x = torch.randn(2048, hidden)

    def run(bf16: bool) -> float:
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                y = layer(x)
            y.float().sum().backward()
            best = min(best, time.perf_counter() - t0)
        return best

    run(False), run(True)
    return run(True) < 0.8 * run(False)


def use_bf16(config: TrainConfig, device: str) -> bool:
    if config.bf16 != "auto":
        return config.bf16 == "on"
    return device == "cuda" or cpu_bf16_is_faster()
