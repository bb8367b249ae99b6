"""Dream family (Dream, Dream-Coder, DiffuCoder, DreamOn): config, tensor names, conventions.

Qwen2 in shape and names (``model.embed_tokens``, ``model.layers.N.self_attn.{q,k,v,o}_proj``
with biases on q/k/v, ``mlp.{gate,up,down}_proj``, ``input_layernorm``,
``post_attention_layernorm``, ``model.norm``, ``lm_head``), run without a causal mask. Logits
are **shifted**: the token at position i is read from the logits at i - 1 (the official
sampler does ``cat([logits[:, :1], logits[:, :-1]])``). The head dimension is
``hidden_size // num_attention_heads`` as in the official code. The mask id is the config's
``mask_token_id`` (151666 in the released checkpoints).
"""

from __future__ import annotations

from pathlib import Path

import torch

from infill.backends import native
from infill.errors import ModelError

MODEL_TYPES = ("dream",)
ARCHITECTURES = ("DreamModel",)
MASK_ID = 151666


def is_dream(config: dict) -> bool:
    kind = str(config.get("model_type", "")).lower()
    return kind in MODEL_TYPES or any(a in ARCHITECTURES for a in config.get("architectures") or [])


def arch_from_config(config: dict, path: Path) -> native.Arch:
    scaling = config.get("rope_scaling")
    if scaling and (scaling.get("rope_type") or scaling.get("type")) not in (None, "default"):
        raise ModelError(f"unsupported Dream config: rope_scaling={scaling!r} (infill runs plain RoPE)",
                         path=str(path))
    if config.get("use_sliding_window"):
        raise ModelError("unsupported Dream config: use_sliding_window=true", path=str(path))
    act = config.get("hidden_act", "silu")
    if act != "silu":
        raise ModelError(f"unsupported Dream config: hidden_act={act!r}", path=str(path))
    hidden = native.config_int(config, "hidden_size", path=path)
    heads = native.config_int(config, "num_attention_heads", path=path)
    kv = native.config_int(config, "num_key_value_heads", path=path, default=heads)
    if hidden % heads or heads % kv:
        raise ModelError(f"config.json: hidden_size {hidden}, num_attention_heads {heads}, "
                         f"num_key_value_heads {kv} do not divide", path=str(path))
    return native.Arch(
        vocab_size=native.config_int(config, "vocab_size", path=path), hidden=hidden,
        layers=native.config_int(config, "num_hidden_layers", path=path), heads=heads, kv_heads=kv,
        intermediate=native.config_int(config, "intermediate_size", path=path),
        rope_theta=float(config.get("rope_theta", 10000.0)),
        norm_eps=float(config.get("rms_norm_eps", 1e-6)),
        max_context=native.config_int(config, "max_position_embeddings", path=path, default=32768),
        qkv_bias=True, tied=bool(config.get("tie_word_embeddings", False)), rope_float32=False,
    )


def tensor_names(arch: native.Arch) -> dict[str, str]:
    """Internal key -> the checkpoint's tensor name."""
    names = {"embed": "model.embed_tokens.weight", "norm": "model.norm.weight"}
    if not arch.tied:
        names["head"] = "lm_head.weight"
    own = {"attn_norm": "input_layernorm", "q": "self_attn.q_proj", "k": "self_attn.k_proj",
           "v": "self_attn.v_proj", "o": "self_attn.o_proj", "mlp_norm": "post_attention_layernorm",
           "gate": "mlp.gate_proj", "up": "mlp.up_proj", "down": "mlp.down_proj"}
    return names | native.layer_tensor_names(arch, own, "model.layers.{n}.")


def load_model(path: Path, device: str = "cpu", dtype: torch.dtype | None = None,
               config: dict | None = None) -> native.DecoderLM:
    """The network of the Dream-family checkpoint at ``path``, on ``device``."""
    config = config if config is not None else native.read_config(path)
    arch = arch_from_config(config, path)
    return native.build(path, arch, tensor_names(arch), device, dtype or native.default_dtype(device))


# Recommended settings (the model cards): entropy order, low temperature, nucleus 0.95 (DreamOn
# 0.9), one token per step. Dream was trained with a 2048-token context (its README), though
# config.json says 131072: infill windows canvases to 2048.
DEFAULTS = {
    "dream": {"strategy": "entropy", "temperature": 0.2, "top_p": 0.95, "max_context": 2048},
    "diffucoder": {"strategy": "entropy", "temperature": 0.4, "top_p": 0.95, "max_context": 2048},
    "dreamon": {"strategy": "entropy", "temperature": 0.2, "top_p": 0.9, "max_context": 2048},
}
EOS, IM_END, DLM_PAD, EXPAND = "<|endoftext|>", "<|im_end|>", "<|dlm_pad|>", "<|expand|>"


def variant(tokenizer, path: Path) -> str:
    """``dreamon`` (has ``<|expand|>``), ``diffucoder`` (has ``<|dlm_pad|>``) or ``dream``
    (Dream, Dream-Coder: same tokens and conventions)."""
    if EXPAND in tokenizer.specials:
        return "dreamon"
    if DLM_PAD in tokenizer.specials:
        return "diffucoder"
    return "dream"


def conventions(config: dict, tokenizer, path: Path, vocab_size: int):
    """Ids and settings of a Dream-family checkpoint: mask from config.json; a canvas is
    ``<|beginoftext|>`` prefix, slots, suffix ``<|endoftext|>`` (DreamOn's infilling format);
    logits shifted; "nothing here" is EOS (``<|im_end|>`` counts as EOS), or DiffuCoder's
    ``<|dlm_pad|>`` (EOS and ``<|im_end|>`` count as it); every other special banned."""
    from infill.backends.native_backend import Conventions, special_ids

    specials = tokenizer.specials
    kind = variant(tokenizer, path)
    mask = int(config.get("mask_token_id") or tokenizer.token_id("mask_token") or MASK_ID)
    eos = config.get("eos_token_id")
    eos = int(eos) if isinstance(eos, int) else tokenizer.token_id("eos_token") or specials.get(EOS)
    bos = tokenizer.token_id("bos_token")
    pad = config.get("pad_token_id")
    pad = int(pad) if isinstance(pad, int) else eos
    null = specials[DLM_PAD] if kind == "diffucoder" else eos
    pooled = tuple(i for i in (eos, specials.get(IM_END)) if i is not None and i != null)
    banned = special_ids(tokenizer, vocab_size) - {mask}
    return Conventions(family=kind, mask_id=mask, bos_id=bos, eos_id=eos, null_id=null,
                       pad_id=pad if pad is not None else 0, pooled=pooled,
                       banned=tuple(sorted(banned)), defaults=dict(DEFAULTS[kind]),
                       shifted_logits=True, expand_id=specials.get(EXPAND))
