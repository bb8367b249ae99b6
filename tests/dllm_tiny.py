"""Tiny LLaDA and Dream checkpoints, made the same way by the tests and by
scripts/make_dllm_references.py (which loads these weights into the official modeling code).

Real configs with the dimensions shrunk: real vocabulary sizes and special ids, hidden 32, two
layers, 4 heads (Dream: 2 key/value heads, as its grouped-query attention). Weights are a
deterministic function of (seed, tensor name): each tensor gets its own ``torch.Generator``,
so the same torch gives the same bits in both environments. They are rounded to bfloat16
(stored so, like the released checkpoints) and scaled so that logits are peaked (std ~3):
the greedy choices then have margins far above float32 noise, and a token-for-token
comparison with the official samplers is meaningful.

Only torch, json and safetensors here: the reference script runs this file under another
transformers version, without the project installed.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import torch

SEED = 20261129

LLADA_CONFIG = {  # GSAI-ML/LLaDA-8B-Instruct config.json, dimensions shrunk
    "activation_type": "silu", "alibi": False, "alibi_bias_max": 8.0, "architectures": ["LLaDAModelLM"],
    "attention_dropout": 0.0, "attention_layer_norm": False, "attention_layer_norm_with_affine": True,
    "bias_for_layer_norm": False, "block_group_size": 1, "block_type": "llama",
    "d_model": 32, "embedding_dropout": 0.0, "embedding_size": 126464, "eos_token_id": 126081,
    "flash_attention": False, "include_bias": False, "include_qkv_bias": False,
    "init_cutoff_factor": None, "init_device": "cpu", "init_fn": "mitchell", "init_std": 0.02,
    "input_emb_norm": False, "layer_norm_type": "rms", "layer_norm_with_affine": True,
    "mask_token_id": 126336, "max_sequence_length": 4096, "mlp_hidden_size": 64, "mlp_ratio": 4,
    "model_type": "llada", "multi_query_attention": None, "n_heads": 4, "n_kv_heads": 4, "n_layers": 2,
    "pad_token_id": 126081, "precision": "amp_bf16", "residual_dropout": 0.0, "rms_norm_eps": 1e-05,
    "rope": True, "rope_full_precision": True, "rope_theta": 500000.0, "scale_logits": False,
    "use_cache": False, "vocab_size": 126464, "weight_tying": False,
}

DREAM_CONFIG = {  # Dream-org/Dream-v0-Instruct-7B config.json, dimensions shrunk
    "architectures": ["DreamModel"], "attention_dropout": 0.0, "bos_token_id": 151643,
    "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 32, "initializer_range": 0.02,
    "intermediate_size": 64, "mask_token_id": 151666, "max_position_embeddings": 131072,
    "max_window_layers": 2, "model_type": "Dream", "num_attention_heads": 4, "num_hidden_layers": 2,
    "num_key_value_heads": 2, "pad_token_id": 151643, "rms_norm_eps": 1e-06, "rope_scaling": None,
    "rope_theta": 1000000.0, "sliding_window": None, "tie_word_embeddings": False,
    "torch_dtype": "bfloat16", "use_cache": True, "use_mrope": False, "use_sliding_window": False,
    "vocab_size": 152064,
}

CONFIGS = {"llada": LLADA_CONFIG, "dream": DREAM_CONFIG}


def official_shapes(family: str, config: dict) -> dict[str, tuple[int, ...]]:
    """Tensor name -> shape, as the official modeling code names them (written out here on
    purpose, independently of infill's own name maps, so the tests check those)."""
    if family == "llada":
        h, i, v = config["d_model"], config["mlp_hidden_size"], config["embedding_size"]
        kv = h // config["n_heads"] * config["n_kv_heads"]
        p = "model.transformer."
        shapes = {p + "wte.weight": (v, h), p + "ln_f.weight": (h,), p + "ff_out.weight": (v, h)}
        for n in range(config["n_layers"]):
            b = f"{p}blocks.{n}."
            shapes.update({b + "attn_norm.weight": (h,), b + "ff_norm.weight": (h,),
                           b + "q_proj.weight": (h, h), b + "k_proj.weight": (kv, h),
                           b + "v_proj.weight": (kv, h), b + "attn_out.weight": (h, h),
                           b + "ff_proj.weight": (i, h), b + "up_proj.weight": (i, h),
                           b + "ff_out.weight": (h, i)})
        return shapes
    h, i, v = config["hidden_size"], config["intermediate_size"], config["vocab_size"]
    kv = h // config["num_attention_heads"] * config["num_key_value_heads"]
    shapes = {"model.embed_tokens.weight": (v, h), "model.norm.weight": (h,), "lm_head.weight": (v, h)}
    for n in range(config["num_hidden_layers"]):
        b = f"model.layers.{n}."
        shapes.update({b + "input_layernorm.weight": (h,), b + "post_attention_layernorm.weight": (h,),
                       b + "self_attn.q_proj.weight": (h, h), b + "self_attn.q_proj.bias": (h,),
                       b + "self_attn.k_proj.weight": (kv, h), b + "self_attn.k_proj.bias": (kv,),
                       b + "self_attn.v_proj.weight": (kv, h), b + "self_attn.v_proj.bias": (kv,),
                       b + "self_attn.o_proj.weight": (h, h), b + "mlp.gate_proj.weight": (i, h),
                       b + "mlp.up_proj.weight": (i, h), b + "mlp.down_proj.weight": (h, i)})
    return shapes


def _scale(name: str, shape: tuple[int, ...], hidden: int) -> tuple[float, float]:
    """(mean, std) of a tensor's entries."""
    if name.endswith(("norm.weight", "ln_f.weight")):
        return 1.0, 0.2
    if name.endswith(".bias"):
        return 0.0, 0.2
    if name.endswith(("wte.weight", "embed_tokens.weight")):
        return 0.0, 1.0
    if name in ("lm_head.weight", "model.transformer.ff_out.weight"):
        return 0.0, 3.0 / hidden ** 0.5
    return 0.0, 1.0 / shape[1] ** 0.5


_CACHE: dict[tuple[str, str, int], dict[str, torch.Tensor]] = {}


def make_weights(family: str, config: dict | None = None, seed: int = SEED) -> dict[str, torch.Tensor]:
    """Official tensor name -> bfloat16 tensor; deterministic in (seed, name). (A fresh dict
    each call; the tensors are shared between calls and must not be modified in place.)"""
    config = config or CONFIGS[family]
    key = (family, json.dumps(config, sort_keys=True), seed)
    if key not in _CACHE:
        _CACHE[key] = _make_weights(family, config, seed)
    return dict(_CACHE[key])


def _make_weights(family: str, config: dict, seed: int) -> dict[str, torch.Tensor]:
    hidden = config.get("d_model") or config["hidden_size"]
    out = {}
    for name, shape in official_shapes(family, config).items():
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        mean, std = _scale(name, shape, hidden)
        out[name] = (torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean).to(torch.bfloat16)
    return out


def write_checkpoint(directory: Path, family: str, config: dict | None = None, seed: int = SEED,
                     extra_files: dict[str, str] | None = None) -> Path:
    """A checkpoint directory: config.json and model.safetensors (no tokenizer)."""
    from safetensors.torch import save_file

    config = dict(config or CONFIGS[family])
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    save_file(make_weights(family, config, seed), str(directory / "model.safetensors"),
              metadata={"format": "pt"})
    for name, text in (extra_files or {}).items():
        (directory / name).write_text(text)
    return directory


# Token ids used as inputs: ordinary text tokens of both vocabularies (below every special id).
def input_rows(seed: int, lengths: list[int], mask_id: int, masked: float = 0.3) -> list[list[int]]:
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in lengths:
        ids = torch.randint(0, 100_000, (n,), generator=gen)
        hide = torch.rand(n, generator=gen) < masked
        hide[0] = False
        ids[hide] = mask_id
        rows.append(ids.tolist())
    return rows
