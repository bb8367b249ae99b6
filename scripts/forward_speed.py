"""CPU time of one forward pass of the house model, per way of running it.

    python scripts/forward_speed.py [--runs 15]

Runs each variant in turn (alternating, after a warm-up) on a 256-token window, one
thread, and prints the median CPU time (``time.process_time``) per pass: transformers'
ModernBertForMaskedLM in float32, infill's own forward in float32 and bfloat16, logits at
24 slots only, and a cached pass that recomputes 24 slots against the context's keys and
values. Needs transformers (for the first row only).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from infill.backends.modernbert import ModernBert, load_weights, read_shape

HOUSE = Path(__file__).resolve().parent.parent / "models" / "house"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers import AutoModelForMaskedLM

    ref = AutoModelForMaskedLM.from_pretrained(HOUSE, dtype=torch.float32, local_files_only=True).eval()
    weights = load_weights(HOUSE)
    f32 = ModernBert(read_shape(HOUSE), weights)
    b16 = ModernBert(read_shape(HOUSE), weights, torch.bfloat16)
    ids = torch.randint(15, 16384, (1, 256), generator=torch.Generator().manual_seed(0))
    attention = torch.ones(1, 256, dtype=torch.long)
    where = torch.zeros(1, 256, dtype=torch.bool)
    where[0, 100:124] = True
    _, cache = b16.encode(ids, attention)
    positions = torch.arange(100, 124)[None]

    def transformers_f32():
        with torch.inference_mode():
            ref(input_ids=ids, attention_mask=attention)

    variants = {
        "transformers, float32, logits everywhere": transformers_f32,
        "own forward, float32, logits everywhere": lambda: f32.logits(ids, attention),
        "own forward, bfloat16, logits everywhere": lambda: b16.logits(ids, attention),
        "own forward, bfloat16, logits at 24 slots": lambda: b16.logits(ids, attention, where),
        "cached pass, bfloat16, 24 slots": lambda: b16.logits_active(ids[:, 100:124], positions, cache),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    for run in variants.values():
        run()
    for _ in range(args.runs):
        for name, run in variants.items():
            start = time.process_time()
            run()
            times[name].append(time.process_time() - start)
    print("| house model forward | CPU ms per pass (median) |")
    print("| --- | ---: |")
    for name, values in times.items():
        print(f"| {name} | {1000 * statistics.median(values):.1f} |")


if __name__ == "__main__":
    main()
