"""Plot a training run's loss curve: python scripts/plot_loss.py runs/v0/train_log.jsonl OUT.png"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def main(log_path: str, out_path: str) -> None:
    train, held = [], []
    with open(log_path) as fh:
        for line in fh:
            row = json.loads(line)
            if "loss" in row and "tokens" in row:
                train.append((row["tokens"] / 1e6, row["loss"], row["masked_ce"]))
            if "heldout_loss" in row:
                held.append((row["tokens"] / 1e6, row["heldout_loss"], row["heldout_masked_ce"]))
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    ax.plot([t for t, _, _ in train], [m for _, _, m in train], lw=0.8, label="train: masked CE (1/t weighted)")
    if held:
        ax.plot([t for t, _, _ in held], [m for _, _, m in held], "o-", label="held-out: masked CE")
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("loss (nats)")
    ax.set_title(f"house model: {log_path}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
