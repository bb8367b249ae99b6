"""Held-out loss of one or more checkpoints on the same fixed batches.

    python scripts/heldout_loss.py --corpus corpus --tokenizer data/tokenizer CKPT [CKPT ...]
        [--seq-len 256] [--batches 8] [--batch-size 32]

The trainer logs the held-out loss of the run it trains; two runs (or a run and the checkpoint
it started from) are comparable only on the same batches and noise, which this script
gives: the trainer's own held-out batches (``steps.heldout_batches``, fixed seed) and fixed
noise (``steps.evaluate``), in float32 on the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path


def heldout_losses(checkpoints: list[str], corpus: str, tokenizer_dir: str, seq_len: int = 256,
                   batches: int = 8, batch_size: int = 32, size: str = "v0-cpu") -> dict[str, dict]:
    from dataclasses import replace

    from infill.training.data import ExampleConfig
    from infill.training.model import build_model, get_size
    from infill.training.steps import evaluate, heldout_batches
    from infill.training.tokenizer import load_tokenizer, special_ids
    from infill.training.trainer import TrainConfig, load_weights

    config = TrainConfig(corpus=corpus, tokenizer=tokenizer_dir, out="", size=size, seq_len=seq_len,
                         batch_size=batch_size, eval_batches=batches, max_steps=1)
    tokenizer = load_tokenizer(tokenizer_dir)
    ids = special_ids(tokenizer)
    fixed = heldout_batches(config, tokenizer, ExampleConfig(seq_len=seq_len, plain_share=config.plain_share),
                            ids["<pad>"])
    spec = get_size(size)
    spec = replace(spec, context=max(spec.context, seq_len))
    results = {}
    for path in checkpoints:
        model = build_model(spec, len(tokenizer), ids)
        load_weights(model, path)
        results[path] = evaluate(model, model.model, fixed, ids, len(tokenizer), config, "cpu",
                                 contextlib.nullcontext)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+")
    parser.add_argument("--corpus", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--size", default="v0-cpu")
    args = parser.parse_args(argv)
    for path, losses in heldout_losses(args.checkpoints, args.corpus, args.tokenizer, args.seq_len,
                                       args.batches, args.batch_size, args.size).items():
        print(json.dumps({"checkpoint": str(Path(path)), **{k: round(v, 4) for k, v in losses.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
