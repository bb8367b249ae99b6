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


_CACHE: dict[tuple[str, str, int, str | None], dict[str, torch.Tensor]] = {}


def make_weights(family: str, config: dict | None = None, seed: int = SEED,
                 variant: str | None = None) -> dict[str, torch.Tensor]:
    """Official tensor name -> bfloat16 tensor; deterministic in (seed, name). (A fresh dict
    each call; the tensors are shared between calls and must not be modified in place.)

    ``variant="dreamon"``: Dream weights whose output rows for ``<|expand|>`` (151667) and
    EOS (151643) are set so that a random model expands some spans (the expand row points
    along the mask token's normalised embedding, which dominates masked positions' final
    states) and ends others early (EOS along another token's direction): the DreamOn sampler
    tests then see growth, deletion and plain fills."""
    config = config or CONFIGS[family]
    key = (family, json.dumps(config, sort_keys=True), seed, variant)
    if key not in _CACHE:
        weights = _make_weights(family, config, seed)
        if variant == "dreamon":
            weights = _dreamon_rows(weights)
        _CACHE[key] = weights
    return dict(_CACHE[key])


def _dreamon_rows(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    embed = weights["model.embed_tokens.weight"].float()
    norm = weights["model.norm.weight"].float()
    head = weights["lm_head.weight"].float().clone()
    toward_mask = embed[151666] / embed[151666].pow(2).mean().sqrt() * norm
    other = embed[1000] * norm
    head[151667] = 3.6 * toward_mask / toward_mask.norm()
    head[151643] = 6.0 * other / other.norm()
    return {**weights, "lm_head.weight": head.to(torch.bfloat16)}


def _make_weights(family: str, config: dict, seed: int) -> dict[str, torch.Tensor]:
    hidden = config.get("d_model") or config["hidden_size"]
    out = {}
    for name, shape in official_shapes(family, config).items():
        gen = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        mean, std = _scale(name, shape, hidden)
        out[name] = (torch.randn(shape, generator=gen, dtype=torch.float32) * std + mean).to(torch.bfloat16)
    return out


def write_checkpoint(directory: Path, family: str, config: dict | None = None, seed: int = SEED,
                     extra_files: dict[str, str] | None = None, variant: str | None = None) -> Path:
    """A checkpoint directory: config.json and model.safetensors (no tokenizer)."""
    from safetensors.torch import save_file

    config = dict(config or CONFIGS[family])
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    save_file(make_weights(family, config, seed, variant), str(directory / "model.safetensors"),
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


# ----------------------------------------------------------------------------- tokenizers

LLADA_SPECIALS = {126080: "<|startoftext|>", 126081: "<|endoftext|>", 126082: "[CLS]", 126083: "[gMASK]",
                  126336: "<|mdm_mask|>", 126340: "<role>", 126341: "</role>",
                  126346: "<|start_header_id|>", 126347: "<|end_header_id|>", 126348: "<|eot_id|>"}
DREAM_SPECIALS = {151643: "<|endoftext|>", 151644: "<|im_start|>", 151645: "<|im_end|>",
                  151659: "<|fim_prefix|>", 151660: "<|fim_middle|>", 151661: "<|fim_suffix|>",
                  151665: "<|beginoftext|>", 151666: "<|mask|>"}
VARIANT_SPECIALS = {"diffucoder": {151667: "<|dlm_pad|>"}, "dreamon": {151667: "<|expand|>"}}
_MERGES = ["Ġ Ġ", "ĠĠ ĠĠ", "r e", "Ġ re", "t u", "r n", "tu rn", "Ġre turn", "d e", "de f", "Ġ x"]


def _byte_vocab(size: int, specials: dict[int, str]) -> tuple[dict[str, int], list[str]]:
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {s: i for i, s in enumerate(sorted(ByteLevel.alphabet()))}
    for merge in _MERGES:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    by_id = {i: s for s, i in vocab.items()}
    for i in range(len(by_id), min(specials)):
        by_id[i] = f"t{i}."   # ordinary tokens that no merge produces
    return {s: i for i, s in by_id.items()}, _MERGES


def write_tokenizer(directory: Path, family: str, variant: str = "dream") -> None:
    """Tokenizer files shaped like the family's own: LLaDA ships tokenizer.json; the Dream
    family ships vocab.json + merges.txt and a tokenizer_config.json naming the added tokens
    (no tokenizer.json: infill must build the fast tokenizer itself)."""
    directory = Path(directory)
    if family == "llada":
        from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

        vocab, merges = _byte_vocab(126464, LLADA_SPECIALS)
        for i, s in LLADA_SPECIALS.items():
            vocab[s] = i
        tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for _, s in sorted(LLADA_SPECIALS.items())])
        tok.save(str(directory / "tokenizer.json"))
        config = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
                  "chat_template": ("{% for m in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}"
                                    "<|start_header_id|>{{ m['role'] }}<|end_header_id|>\n\n{{ m['content'] }}"
                                    "<|eot_id|>{% endfor %}<|start_header_id|>assistant<|end_header_id|>\n\n")}
        specials = LLADA_SPECIALS
    else:
        specials = {**DREAM_SPECIALS, **VARIANT_SPECIALS.get(variant, {})}
        vocab, merges = _byte_vocab(151643, specials)
        (directory / "vocab.json").write_text(json.dumps(vocab))
        (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n")
        if variant == "dream-coder":  # Dream-Coder ships the fast tokenizer.json as well
            from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

            tok = Tokenizer(models.BPE(vocab=vocab, merges=[tuple(m.split(" ")) for m in merges]))
            tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
            tok.decoder = decoders.ByteLevel()
            tok.add_special_tokens([AddedToken(s, special=True, normalized=False)
                                    for _, s in sorted(specials.items())])
            tok.save(str(directory / "tokenizer.json"))
        config = {"bos_token": "<|beginoftext|>", "eos_token": "<|endoftext|>", "mask_token": "<|mask|>",
                  "pad_token": "<|dlm_pad|>" if variant == "diffucoder" else "<|endoftext|>",
                  "tokenizer_class": "DreamTokenizer",
                  "auto_map": {"AutoTokenizer": ["tokenization_dream.DreamTokenizer", None]}}
    config["added_tokens_decoder"] = {str(i): {"content": s, "special": True, "normalized": False,
                                               "lstrip": False, "rstrip": False, "single_word": False}
                                      for i, s in sorted(specials.items())}
    (directory / "tokenizer_config.json").write_text(json.dumps(config, indent=1))


#: The tiny checkpoints the end-to-end tests fill with: name -> (family, variant).
NATIVE_VARIANTS = {"llada": ("llada", None), "dream": ("dream", None),
                   "dream-coder": ("dream", "dream-coder"),
                   "diffucoder": ("dream", "diffucoder"), "dreamon": ("dream", "dreamon")}


def expected_backend(name: str) -> str:
    """The backend name infill reports for a checkpoint in NATIVE_VARIANTS: Dream-Coder has
    Dream's tokens and conventions, so it is filled (and named) as ``dream``."""
    return "dream" if name == "dream-coder" else name


def native_specials(name: str) -> list[str]:
    """Every special token's text of a checkpoint in NATIVE_VARIANTS (none may be written)."""
    family, variant = NATIVE_VARIANTS[name]
    table = LLADA_SPECIALS if family == "llada" else {**DREAM_SPECIALS, **VARIANT_SPECIALS.get(variant, {})}
    return list(table.values())


def write_model(directory: Path, family: str, variant: str | None = None) -> Path:
    """A complete tiny checkpoint (weights, config, tokenizer) of a family or Dream variant."""
    config = dict(CONFIGS[family])
    if variant == "dreamon":
        config["architectures"] = ["DreamModel"]
    path = write_checkpoint(directory, family, config, variant=variant if variant == "dreamon" else None)
    write_tokenizer(path, family, variant or "dream")
    if variant == "dreamon":
        (path / "generation_config.json").write_text(json.dumps({"mask_token_id": 151666, "expand_token_id": 151667}))
    return path


GEMMA_SPECIALS = {0: "<pad>", 1: "<eos>", 2: "<bos>", 3: "<unk>", 4: "<mask>", 5: "<start_of_turn>",
                  6: "<end_of_turn>"}


def write_diffusion_gemma(directory: Path) -> Path:
    """A tiny DiffusionGemma (transformers >= 5.24's own classes; a small vocabulary: nothing
    is compared with reference numbers here) with a byte-level tokenizer and a Gemma-style chat
    template. Gemma's special ids: <pad>=0 <eos>=1 <bos>=2 <unk>=3 <mask>=4."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import DiffusionGemmaConfig, DiffusionGemmaForBlockDiffusion, PreTrainedTokenizerFast

    directory = Path(directory)
    text = dict(vocab_size=2048, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                num_attention_heads=2, num_key_value_heads=1, head_dim=8, global_head_dim=8,
                sliding_window=16, layer_types=["sliding_attention", "full_attention"],
                max_position_embeddings=4096, use_bidirectional_attention=None,
                num_experts=4, top_k_experts=2, moe_intermediate_size=16)
    vision = dict(model_type="gemma4_vision", hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                  num_attention_heads=2, num_key_value_heads=2, head_dim=8, position_embedding_size=64)
    torch.manual_seed(SEED)
    model = DiffusionGemmaForBlockDiffusion(DiffusionGemmaConfig(text_config=text, vision_config=vision,
                                                                 canvas_length=8))
    model.save_pretrained(directory)
    specials = GEMMA_SPECIALS
    from tokenizers.pre_tokenizers import ByteLevel

    vocab = {s: i for i, s in specials.items()}
    for s in sorted(ByteLevel.alphabet()):
        vocab[s] = len(vocab)
    for i in range(len(vocab), 2048):
        vocab[f"t{i}."] = i
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for _, s in sorted(specials.items())])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
                                   unk_token="<unk>", mask_token="<mask>")
    fast.chat_template = ("{{ bos_token }}{% for m in messages %}<start_of_turn>{{ m['role'] }}\n{{ m['content'] }}"
                          "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}")
    fast.save_pretrained(directory)
    return directory
