"""The project's own forward pass for the public diffusion LLMs (LLaDA, Dream family).

Both families are Llama-shaped transformers run without a causal mask: pre-norm RMSNorm,
rotary position embeddings (rotate-half form), grouped-query attention through
``F.scaled_dot_product_attention``, a SwiGLU MLP, a final RMSNorm and an output head. They
differ in tensor names, config keys and a few numerical details, which a family module
(``llada.py``, ``dream.py``) states as an ``Arch`` and a name map; this module does the rest:
it reads the checkpoint's safetensors by name (nothing else is executed, so no remote code
runs), checks every tensor's shape, and runs the forward.

The layer is split where a context cache needs it (see ``Block``): ``project`` computes a
layer's queries, keys and values for some positions, ``finish`` attends them to any keys
(the canvas's own, or cached ones of the fixed context concatenated to them) and applies
the rest of the layer.

Checked against each family's official code: tests/test_native_forward.py.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
import torch
import torch.nn.functional as F
from torch import nn

from infill.errors import ModelError


@dataclass(frozen=True)
class Arch:
    """Shapes and numerics of one checkpoint, read from its config.json by a family module."""

    vocab_size: int          # rows of the embedding and of the output head
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    rope_theta: float
    norm_eps: float
    max_context: int
    qkv_bias: bool = False
    tied: bool = False        # the output head is the embedding matrix
    rope_float32: bool = True  # LLaDA rotates q/k in float32; Dream rotates in the model dtype
    embed_scale: float = 1.0   # LLaDA's input_emb_norm: sqrt(d_model)
    logit_scale: float = 1.0   # LLaDA's scale_logits: 1/sqrt(d_model)

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


# Internal tensor keys; a family maps each to the checkpoint's own name.
LAYER_KEYS = ("attn_norm", "q", "k", "v", "o", "mlp_norm", "gate", "up", "down")


def expected_shapes(arch: Arch) -> dict[str, tuple[int, ...]]:
    """Internal key -> shape of every tensor the forward needs."""
    h, hd, i = arch.hidden, arch.head_dim, arch.intermediate
    shapes: dict[str, tuple[int, ...]] = {"embed": (arch.vocab_size, h), "norm": (h,)}
    if not arch.tied:
        shapes["head"] = (arch.vocab_size, h)
    for n in range(arch.layers):
        p = f"layers.{n}."
        shapes.update({p + "attn_norm": (h,), p + "q": (arch.heads * hd, h),
                       p + "k": (arch.kv_heads * hd, h), p + "v": (arch.kv_heads * hd, h),
                       p + "o": (h, arch.heads * hd), p + "mlp_norm": (h,),
                       p + "gate": (i, h), p + "up": (i, h), p + "down": (h, i)})
        if arch.qkv_bias:
            shapes.update({p + "q_bias": (arch.heads * hd,), p + "k_bias": (arch.kv_heads * hd,),
                           p + "v_bias": (arch.kv_heads * hd,)})
    return shapes


# --------------------------------------------------------------------------- checkpoint files

def read_config(path: Path) -> dict:
    """``config.json`` as a dict; a clear ModelError when it is missing or not JSON."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read config.json ({exc.strerror or exc})", path=str(path)) from exc
    except ValueError as exc:
        raise ModelError(f"config.json is not valid JSON ({exc})", path=str(path)) from exc
    if not isinstance(config, dict):
        raise ModelError("config.json is not a JSON object", path=str(path))
    return config


def config_int(config: dict, *keys: str, path: Path, default: int | None = None) -> int:
    """The first of ``keys`` present in ``config``, as a positive int."""
    for key in keys:
        value = config.get(key)
        if value is not None:
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ModelError(f"config.json: {key} must be a positive integer, got {value!r}",
                                 path=str(path))
            return value
    if default is not None:
        return default
    raise ModelError(f"config.json has no {' or '.join(keys)}", path=str(path))


def weight_files(path: Path) -> dict[str, Path]:
    """Checkpoint name -> the safetensors file holding it (sharded or single file)."""
    index = path / "model.safetensors.index.json"
    if index.is_file():
        try:
            mapping = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
            return {str(name): path / str(file) for name, file in mapping.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelError(f"unreadable {index.name} ({exc.__class__.__name__}: {exc})",
                             path=str(path)) from exc
    files = sorted(path.glob("*.safetensors"))
    if not files:
        extra = " (only PyTorch .bin weights: convert them to safetensors)" if any(path.glob("*.bin")) else ""
        raise ModelError(f"no *.safetensors weights{extra}", path=str(path))
    found: dict[str, Path] = {}
    for file in files:
        for name in _header(file):
            found.setdefault(name, file)
    return found


def _header(file: Path) -> dict:
    """The JSON header of a safetensors file, checked against the file's size."""
    try:
        with open(file, "rb") as handle:
            raw = handle.read(8)
            size = file.stat().st_size
            if len(raw) < 8:
                raise ValueError("shorter than a safetensors header")
            n = int.from_bytes(raw, "little")
            if n <= 0 or n > min(size - 8, 100_000_000):
                raise ValueError("not a safetensors file (bad header length)")
            header = json.loads(handle.read(n))
    except OSError as exc:
        raise ModelError(f"cannot read weights ({exc.strerror or exc})", path=str(file)) from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelError(f"corrupt safetensors file: {exc}", path=str(file)) from exc
    header.pop("__metadata__", None)
    end = max((int(v["data_offsets"][1]) for v in header.values() if isinstance(v, dict)), default=0)
    if 8 + n + end > size:
        raise ModelError(f"truncated safetensors file ({size} bytes, header promises {8 + n + end})",
                         path=str(file))
    return header


def check_weight_files(path: Path) -> None:
    """Every ``*.safetensors`` file in ``path`` has a readable header that fits the file: a
    truncated download or a file that is not safetensors fails here, with the file named,
    instead of deep inside a loader."""
    for file in sorted(path.glob("*.safetensors")):
        _header(file)


def check_ids(ids: dict[str, int | None], vocab_size: int, path: Path, where: str) -> None:
    """Token ids a checkpoint's metadata names must exist in the model's vocabulary."""
    for name, value in ids.items():
        if value is not None and not 0 <= value < vocab_size:
            raise ModelError(f"{where}: {name} {value} is outside the vocabulary "
                             f"(0..{vocab_size - 1})", path=str(path))


def load_tensors(path: Path, names: dict[str, str], shapes: dict[str, tuple[int, ...]],
                 device: str, dtype: torch.dtype) -> dict[str, torch.Tensor]:
    """Read every tensor in ``names`` (internal key -> checkpoint name) onto ``device``,
    checking presence and shape first, so a bad checkpoint fails before any big read."""
    from safetensors import SafetensorError, safe_open

    where = weight_files(path)
    missing = [names[k] for k in names if names[k] not in where]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ModelError(f"missing tensors in the weights: {', '.join(missing[:3])}{more}", path=str(path))
    headers: dict[Path, dict] = {}
    for key, name in names.items():
        file = where[name]
        if file not in headers:
            if not file.is_file():
                raise ModelError(f"weights file {file.name} (named by the index) is missing", path=str(path))
            headers[file] = _header(file)
        entry = headers[file].get(name)
        if not isinstance(entry, dict):
            raise ModelError(f"tensor {name} is not in {file.name}", path=str(path))
        if tuple(entry.get("shape", ())) != shapes[key]:
            raise ModelError(f"tensor {name} has shape {tuple(entry.get('shape', ()))}, "
                             f"config.json implies {shapes[key]}", path=str(path))
    out: dict[str, torch.Tensor] = {}
    by_file: dict[Path, list[str]] = {}
    for key, name in names.items():
        by_file.setdefault(where[name], []).append(key)
    for file, keys in by_file.items():
        try:
            with safe_open(str(file), framework="pt", device="cpu") as handle:
                for key in keys:
                    out[key] = handle.get_tensor(names[key]).to(device=device, dtype=dtype)
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelError(f"cannot read weights: {str(exc).splitlines()[0]}", path=str(file)) from exc
    return out


# --------------------------------------------------------------------------------- the network

def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """RMSNorm as both families write it: normalise in float32, cast back, then scale."""
    y = x.float()
    y = y * torch.rsqrt(y.pow(2).mean(-1, keepdim=True) + eps)
    return weight * y.to(x.dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    a, b = x.chunk(2, dim=-1)
    return torch.cat((-b, a), dim=-1)


class Block(nn.Module):
    """One transformer layer, split for a context cache: ``project`` -> (q, k, v) of some
    positions; ``finish`` attends the queries to keys/values (possibly longer than the
    queries: cached ones concatenated) and adds the attention and MLP residuals."""

    def __init__(self, arch: Arch, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.arch = arch
        for key, value in tensors.items():
            self.register_buffer(key, value, persistent=False)

    def project(self, h: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(B, T, H) hidden states -> q (B, heads, T, hd), k and v (B, kv_heads, T, hd);
        q and k are rotated for their positions (``cos``/``sin``: (B, T, hd), float32)."""
        a = self.arch
        b, t, _ = h.shape
        x = rms_norm(h, self.attn_norm, a.norm_eps)
        q = F.linear(x, self.q, getattr(self, "q_bias", None)).view(b, t, a.heads, a.head_dim).transpose(1, 2)
        k = F.linear(x, self.k, getattr(self, "k_bias", None)).view(b, t, a.kv_heads, a.head_dim).transpose(1, 2)
        v = F.linear(x, self.v, getattr(self, "v_bias", None)).view(b, t, a.kv_heads, a.head_dim).transpose(1, 2)
        cos, sin = cos[:, None], sin[:, None]
        if a.rope_float32:
            q = (q.float() * cos + _rotate_half(q.float()) * sin).to(h.dtype)
            k = (k.float() * cos + _rotate_half(k.float()) * sin).to(h.dtype)
        else:
            cos, sin = cos.to(h.dtype), sin.to(h.dtype)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
        return q, k, v

    def finish(self, h: torch.Tensor, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               key_mask: torch.Tensor | None) -> torch.Tensor:
        """``key_mask``: (B, S) bool over the S keys, True where a key may be attended (None:
        all). Returns the layer's output hidden states for the T query positions."""
        a = self.arch
        b, t, _ = h.shape
        if a.kv_heads != a.heads:
            k = k.repeat_interleave(a.heads // a.kv_heads, dim=1)
            v = v.repeat_interleave(a.heads // a.kv_heads, dim=1)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=False)
        h = h + F.linear(att.transpose(1, 2).reshape(b, t, a.heads * a.head_dim), self.o)
        x = rms_norm(h, self.mlp_norm, a.norm_eps)
        return h + F.linear(F.silu(F.linear(x, self.gate)) * F.linear(x, self.up), self.down)

    def forward(self, h, cos, sin, key_mask):
        q, k, v = self.project(h, cos, sin)
        return self.finish(h, q, k, v, key_mask)


class DecoderLM(nn.Module):
    """The whole network: embedding, ``Block``s, final norm, output head. No causal mask."""

    def __init__(self, arch: Arch, tensors: dict[str, torch.Tensor]) -> None:
        super().__init__()
        self.arch = arch
        self.register_buffer("embed", tensors["embed"], persistent=False)
        self.register_buffer("norm", tensors["norm"], persistent=False)
        self.register_buffer("head", tensors.get("head", tensors["embed"]), persistent=False)
        self.blocks = nn.ModuleList(
            Block(arch, {key.split(".", 2)[2]: value for key, value in tensors.items()
                         if key.startswith(f"layers.{n}.")})
            for n in range(arch.layers))
        dim = arch.head_dim
        inv = 1.0 / (arch.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
        self.register_buffer("inv_freq", inv.to(tensors["embed"].device), persistent=False)

    @property
    def dtype(self) -> torch.dtype:
        return self.embed.dtype

    def parameters_count(self) -> int:
        return sum(t.numel() for name, t in self.named_buffers() if name != "inv_freq")

    @staticmethod
    def positions(attention: torch.Tensor) -> torch.Tensor:
        """Position ids that skip padding: 0 at a row's first real token (left or right
        padding alike); RoPE attention depends only on differences of positions."""
        return (attention.long().cumsum(-1) - 1).clamp(min=0)

    def rope(self, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T) positions -> cos, sin (B, T, head_dim) in float32."""
        freqs = positions.to(self.inv_freq.device).float()[..., None] * self.inv_freq
        angles = torch.cat((freqs, freqs), dim=-1)
        return angles.cos(), angles.sin()

    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        h = F.embedding(ids, self.embed)
        return h * self.arch.embed_scale if self.arch.embed_scale != 1.0 else h

    def logits_of(self, h: torch.Tensor) -> torch.Tensor:
        logits = F.linear(rms_norm(h, self.norm, self.arch.norm_eps), self.head)
        return logits * self.arch.logit_scale if self.arch.logit_scale != 1.0 else logits

    def hidden(self, ids: torch.Tensor, attention: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L) ids and 1/0 attention (0: padding) -> (B, L, H) last hidden states."""
        ids = ids.to(self.embed.device)
        if attention is None:
            attention = torch.ones_like(ids)
        attention = attention.to(ids.device)
        key_mask = None if bool(attention.all()) else attention.bool()
        cos, sin = self.rope(self.positions(attention))
        h = self.embed_ids(ids)
        for block in self.blocks:
            h = block(h, cos, sin, key_mask)
        return h

    def forward(self, ids: torch.Tensor, attention: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, V) logits in the model dtype. Not shifted: Dream-family callers shift them
        (``Denoiser.shifted_logits``)."""
        return self.logits_of(self.hidden(ids, attention))


def layer_tensor_names(arch: Arch, own: dict[str, str], layer: str) -> dict[str, str]:
    """Internal per-layer keys -> checkpoint names: ``own`` maps each key to the family's
    module name, ``layer`` is the family's layer prefix with ``{n}`` for the index; q/k/v
    biases are named when the architecture has them."""
    names = {}
    for n in range(arch.layers):
        prefix = layer.format(n=n)
        for key, name in own.items():
            names[f"layers.{n}.{key}"] = f"{prefix}{name}.weight"
        if arch.qkv_bias:
            for key in ("q", "k", "v"):
                names[f"layers.{n}.{key}_bias"] = f"{prefix}{own[key]}.bias"
    return names


def build(path: Path, arch: Arch, mapping: dict[str, str], device: str,
          dtype: torch.dtype) -> DecoderLM:
    """Read the checkpoint at ``path`` (``mapping``: internal key -> checkpoint name)."""
    shapes = expected_shapes(arch)
    if set(mapping) != set(shapes):
        raise AssertionError(f"name map and shapes disagree: {set(mapping) ^ set(shapes)}")
    try:
        tensors = load_tensors(path, mapping, shapes, device, dtype)
    except torch.OutOfMemoryError as exc:
        raise ModelError(f"out of {device} memory loading the model (try --device cpu)",
                         path=str(path)) from exc
    return DecoderLM(arch, tensors).eval()


def default_dtype(device: str, dtype: str | None = None) -> torch.dtype:
    """bf16 on CUDA, float32 elsewhere, unless ``dtype`` ("float32", "bfloat16") says."""
    if dtype:
        table = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16,
                 "bf16": torch.bfloat16, "float16": torch.float16, "fp16": torch.float16}
        if dtype not in table:
            raise ModelError(f"unknown dtype '{dtype}' (choose from float32, bfloat16, float16)")
        return table[dtype]
    return torch.bfloat16 if device.startswith("cuda") else torch.float32


__all__ = ["Arch", "Block", "DecoderLM", "build", "check_ids", "check_weight_files", "config_int",
           "default_dtype", "expected_shapes", "layer_tensor_names",
           "load_tensors", "read_config", "weight_files"]
