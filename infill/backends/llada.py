"""LLaDA family (LLaDA-8B Base and Instruct, LLaDA 1.5): config, tensor names, conventions.

The architecture is OLMo-style in its names and Llama-shaped in its maths (see
``native.py``): ``model.transformer.wte`` embeds, each ``blocks.N`` has ``attn_norm``,
``q_proj``/``k_proj``/``v_proj``/``attn_out``, ``ff_norm`` and a SwiGLU of ``ff_proj`` (gate),
``up_proj`` (up) and ``ff_out`` (down); ``ln_f`` and ``ff_out`` close. No causal mask, logits
not shifted. The context length is ``max_sequence_length`` (LLaDA's own key; its config has no
``max_position_embeddings``). The mask id is ``mask_token_id`` (126336 in the released
checkpoints).

Config values the released checkpoints never use (ALiBi, block groups, non-RMS norms, QK
norms, biases on every linear) are refused with a clear error rather than run wrongly.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

from infill.backends import native
from infill.errors import ModelError

MODEL_TYPES = ("llada",)
ARCHITECTURES = ("LLaDAModelLM",)
MASK_ID = 126336  # the released checkpoints; config.json's mask_token_id wins

# (key, value LLaDA uses): other values are refused.
_REQUIRED = (("block_type", "llama"), ("layer_norm_type", "rms"), ("activation_type", "silu"),
             ("alibi", False), ("rope", True), ("block_group_size", 1),
             ("attention_layer_norm", False), ("include_bias", False),
             ("bias_for_layer_norm", False), ("layer_norm_with_affine", True))


def is_llada(config: dict) -> bool:
    kind = str(config.get("model_type", "")).lower()
    return kind in MODEL_TYPES or any(a in ARCHITECTURES for a in config.get("architectures") or [])


def arch_from_config(config: dict, path: Path) -> native.Arch:
    for key, wanted in _REQUIRED:
        value = config.get(key, wanted)
        if value is None and key in ("bias_for_layer_norm",):
            value = config.get("include_bias", False)
        if value != wanted:
            raise ModelError(f"unsupported LLaDA config: {key}={value!r} (infill runs {key}={wanted!r})",
                             path=str(path))
    d_model = native.config_int(config, "d_model", path=path)
    heads = native.config_int(config, "n_heads", path=path)
    kv = config.get("n_kv_heads")
    if kv is None:
        kv = 1 if config.get("multi_query_attention") else heads
    kv = native.config_int({"n_kv_heads": kv}, "n_kv_heads", path=path)
    if d_model % heads or heads % kv:
        raise ModelError(f"config.json: d_model {d_model}, n_heads {heads}, n_kv_heads {kv} do not divide",
                         path=str(path))
    mlp = config.get("mlp_hidden_size") or config.get("mlp_ratio", 4) * d_model
    return native.Arch(
        vocab_size=native.config_int(config, "embedding_size", "vocab_size", path=path),
        hidden=d_model, layers=native.config_int(config, "n_layers", path=path), heads=heads,
        kv_heads=kv, intermediate=native.config_int({"mlp": mlp}, "mlp", path=path),
        rope_theta=float(config.get("rope_theta", 10000.0)),
        norm_eps=float(config.get("rms_norm_eps", 1e-5)),
        max_context=native.config_int(config, "max_sequence_length", "max_position_embeddings",
                                      path=path, default=4096),
        qkv_bias=bool(config.get("include_qkv_bias", False)),
        tied=bool(config.get("weight_tying", False)),
        rope_float32=bool(config.get("rope_full_precision", True)),
        embed_scale=math.sqrt(d_model) if config.get("input_emb_norm") else 1.0,
        logit_scale=1.0 / math.sqrt(d_model) if config.get("scale_logits") else 1.0,
    )


def tensor_names(arch: native.Arch, prefix: str = "model.transformer.") -> dict[str, str]:
    """Internal key -> the checkpoint's tensor name."""
    names = {"embed": prefix + "wte.weight", "norm": prefix + "ln_f.weight"}
    if not arch.tied:
        names["head"] = prefix + "ff_out.weight"
    own = {"attn_norm": "attn_norm", "q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "attn_out",
           "mlp_norm": "ff_norm", "gate": "ff_proj", "up": "up_proj", "down": "ff_out"}
    return names | native.layer_tensor_names(arch, own, prefix + "blocks.{n}.")


def load_model(path: Path, device: str = "cpu", dtype: torch.dtype | None = None,
               config: dict | None = None) -> native.DecoderLM:
    """The network of the LLaDA checkpoint at ``path``, on ``device``."""
    config = config if config is not None else native.read_config(path)
    arch = arch_from_config(config, path)
    stored = native.weight_files(path)
    prefix = "model.transformer." if "model.transformer.wte.weight" in stored else "transformer."
    return native.build(path, arch, tensor_names(arch, prefix), device,
                        dtype or native.default_dtype(device))


# LLaDA's special tokens (tokenizer_config.json of LLaDA-8B-Instruct)
BOS, EOS, EOT = "<|startoftext|>", "<|endoftext|>", "<|eot_id|>"

# generate.py's recommended use: low-confidence remasking, greedy, one token per step,
# semi-autoregressive blocks of 32 (applied where the sampler supports blocks).
DEFAULTS = {"strategy": "confidence", "temperature": 0.0, "block_length": 32}


def conventions(config: dict, tokenizer, path: Path, vocab_size: int):
    """Ids and settings of a LLaDA checkpoint: mask from config.json (``mask_token_id``);
    a canvas starts with ``<|startoftext|>`` and ends with ``<|endoftext|>``; EOS is "nothing
    here" (the instruct model pads its answers with it) and EoT counts as EOS; every other
    special token is banned from fills."""
    from infill.backends.native_backend import Conventions, special_ids

    specials = tokenizer.specials
    mask = int(config.get("mask_token_id") or specials.get("<|mdm_mask|>", MASK_ID))
    eos = config.get("eos_token_id")
    eos = int(eos) if isinstance(eos, int) else tokenizer.token_id("eos_token") or specials.get(EOS)
    bos = tokenizer.token_id("bos_token") or specials.get(BOS)
    pad = config.get("pad_token_id")
    pad = int(pad) if isinstance(pad, int) else eos
    pooled = tuple(i for i in (specials.get(EOT),) if i is not None)
    banned = special_ids(tokenizer, vocab_size) - {mask}
    return Conventions(family="llada", mask_id=mask, bos_id=bos, eos_id=eos, null_id=eos,
                       pad_id=pad if pad is not None else 0, pooled=pooled,
                       banned=tuple(sorted(banned)), defaults=dict(DEFAULTS))
