"""The house model: a small ModernBERT masked LM, in named size presets.

The network is Hugging Face's ``ModernBertForMaskedLM`` unchanged, so any checkpoint we write
loads with ``AutoModelForMaskedLM.from_pretrained`` (no remote code). Sizes are presets so that
a checkpoint names its recipe; the engine reads ``config.json`` and never the preset.

``forward_selected`` runs the encoder on the whole canvas but the prediction head only at the
positions the loss looks at: with a 16k vocabulary the head is about half of the FLOPs of a
small model, and in a span example only a few positions carry a loss.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelSize:
    """Shape of a ModernBERT encoder. ``context`` is ``max_position_embeddings``."""

    name: str
    hidden: int
    layers: int
    heads: int
    intermediate: int
    context: int

    def __post_init__(self) -> None:
        if self.hidden % self.heads:
            raise ValueError(f"{self.name}: hidden {self.hidden} is not a multiple of heads {self.heads}")


SIZES: dict[str, ModelSize] = {
    # tests only
    "tiny": ModelSize("tiny", hidden=32, layers=2, heads=2, intermediate=64, context=128),
    # trains in about an hour on two CPU cores (see docs/TRAINING.md for the measurements)
    "v0-cpu": ModelSize("v0-cpu", hidden=256, layers=6, heads=4, intermediate=512, context=256),
    # ~16M parameters in all (embeddings tied): model.safetensors in bf16 <= 32 MB
    "v1-gpu": ModelSize("v1-gpu", hidden=320, layers=8, heads=5, intermediate=896, context=1024),
    # 25.6M parameters (19.3M without embeddings): ~9 minutes of one H200 (scripts/train_gpu.sh);
    # 51 MB in bf16, so the checkpoint comes back from the device in four 15 MB shards
    "v1-h200": ModelSize("v1-h200", hidden=384, layers=10, heads=6, intermediate=1152, context=512),
}


def get_size(name: str) -> ModelSize:
    """The preset called ``name``; the error lists the presets."""
    try:
        return SIZES[name]
    except KeyError:
        raise ValueError(f"unknown model size {name!r}; choose one of {', '.join(SIZES)}") from None


def make_config(size: ModelSize, vocab_size: int, special: dict[str, int]):
    """A ``ModernBertConfig`` for ``size`` with the tokenizer's special ids."""
    from transformers import ModernBertConfig

    return ModernBertConfig(
        vocab_size=vocab_size,
        hidden_size=size.hidden,
        num_hidden_layers=size.layers,
        num_attention_heads=size.heads,
        intermediate_size=size.intermediate,
        max_position_embeddings=size.context,
        global_attn_every_n_layers=1,  # short contexts: every layer attends globally
        local_attention=size.context,
        pad_token_id=special["<pad>"],
        bos_token_id=special["<bos>"],
        eos_token_id=special["<eos>"],
        cls_token_id=special["<bos>"],
        sep_token_id=special["<eos>"],
        mask_token_id=special["<mask>"],
        tie_word_embeddings=True,
        attention_dropout=0.0,
        embedding_dropout=0.0,
        mlp_dropout=0.0,
        attn_implementation="sdpa",
    )


def build_model(size: ModelSize | str, vocab_size: int, special: dict[str, int]):
    """A freshly initialised ``ModernBertForMaskedLM`` (float32) of the given size."""
    from transformers import ModernBertForMaskedLM

    size = get_size(size) if isinstance(size, str) else size
    model = ModernBertForMaskedLM(make_config(size, vocab_size, special))
    model.config.infill_size = asdict(size)
    return model


def count_parameters(model, exclude_embeddings: bool = False) -> int:
    """Unique parameters (tied weights once); optionally without the token embeddings."""
    seen = {id(p): p for p in model.parameters()}
    n = sum(p.numel() for p in seen.values())
    if exclude_embeddings:
        n -= model.get_input_embeddings().weight.numel()
    return n


def forward_selected(model, input_ids, attention_mask, select):
    """Logits at the selected positions only.

    input_ids, attention_mask: (B, L); select: (B, L) bool with N True -> logits (N, V).
    """
    hidden = model.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, L, H)
    return model.decoder(model.head(hidden[select]))  # (N, V)


def save_model(model, out_dir: str | Path, dtype: str = "bfloat16") -> Path:
    """Write ``model`` as a Hugging Face checkpoint (safetensors shards <= 15 MB) in ``dtype``."""
    import copy

    import torch

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "_orig_mod", model)
    target = getattr(torch, dtype)
    if next(model.parameters()).dtype != target:
        model = copy.deepcopy(model).to(target)
    model.save_pretrained(str(out_dir), max_shard_size="15MB", safe_serialization=True)
    return out_dir
