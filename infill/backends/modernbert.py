"""A ModernBERT masked LM in plain torch, over a checkpoint's safetensors.

Why not transformers' ``ModernBertForMaskedLM``: importing transformers costs more CPU time
than a whole fill (the cold start of every hook run), and its forward has no way to return
logits at a few positions or to reuse the keys and values of a context that does not
change. This module is the network only: weights in, hidden states and logits out; the
facts it follows (pre-norm layers with no norm before the first attention, fused ``Wqkv``,
gated GELU MLP, RoPE with one theta for global and one for local layers, bidirectional
local windows of ``|i - j| <= local_attention // 2``, a dense-GELU-norm head tied to the
embeddings) are those of transformers' ModernBERT, checked against it in
``tests/test_house_forward.py``.

Three ways in:

- ``logits(ids, attention, where=None)``: one full pass; with ``where`` (a (B, L) bool mask)
  the last layer and the 16k-way output layer run only at those positions;
- ``encode(ids, attention)``: a full pass that also returns every layer's keys and values
  (a ``KVCache``) for the context cache;
- ``logits_active(ids, positions, cache, ...)``: recompute only the positions in
  ``positions`` (the slots being written, and what changed), attending to the cached
  keys and values of the rest (Fast-dLLM's dual cache); their keys and values are written
  into the cache.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from infill.errors import ModelError

_ACTIVATIONS = {"gelu": lambda x: F.gelu(x), "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
                "gelu_new": lambda x: F.gelu(x, approximate="tanh"), "silu": F.silu, "relu": F.relu}


@dataclass(frozen=True)
class ModernBertShape:
    """What the forward needs from ``config.json``."""

    vocab_size: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    norm_eps: float
    global_layers: tuple[bool, ...]   # per layer: full attention (else a local window)
    window: int                       # local layers see |i - j| <= window
    theta_global: float
    theta_local: float
    max_positions: int
    activation: str
    head_activation: str

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @classmethod
    def from_config(cls, config: dict) -> "ModernBertShape":
        layers = int(config["num_hidden_layers"])
        types = config.get("layer_types")
        if types:
            global_layers = tuple(t == "full_attention" for t in types)
        else:
            every = int(config.get("global_attn_every_n_layers", 3))
            global_layers = tuple(i % every == 0 for i in range(layers))
        rope = config.get("rope_parameters") or {}
        theta_global = (rope.get("full_attention") or {}).get(
            "rope_theta", config.get("global_rope_theta", 160_000.0))
        theta_local = (rope.get("sliding_attention") or {}).get(
            "rope_theta", config.get("local_rope_theta", 10_000.0))
        for kind in ("full_attention", "sliding_attention"):
            rope_type = (rope.get(kind) or {}).get("rope_type", "default")
            if rope_type != "default":
                raise ModelError(f"RoPE type '{rope_type}' is not supported by the native forward "
                                 "(use --backend hf-mlm)")
        for key in ("hidden_activation", "classifier_activation"):
            if config.get(key, "gelu") not in _ACTIVATIONS:
                raise ModelError(f"activation '{config[key]}' is not supported by the native forward "
                                 "(use --backend hf-mlm)")
        if any(config.get(k) for k in ("attention_bias", "mlp_bias", "norm_bias", "classifier_bias")):
            raise ModelError("biases in attention, MLP, norms or head are not supported by the "
                             "native forward (use --backend hf-mlm)")
        return cls(
            vocab_size=int(config["vocab_size"]), hidden=int(config["hidden_size"]), layers=layers,
            heads=int(config["num_attention_heads"]), intermediate=int(config["intermediate_size"]),
            norm_eps=float(config.get("norm_eps", 1e-5)), global_layers=global_layers,
            window=int(config.get("local_attention", 128)) // 2,
            theta_global=float(theta_global), theta_local=float(theta_local),
            max_positions=int(config.get("max_position_embeddings", 8192)),
            activation=config.get("hidden_activation", "gelu"),
            head_activation=config.get("classifier_activation", "gelu"),
        )


@dataclass
class KVCache:
    """Every layer's keys and values for a batch (each (B, H, L, D)), and the key mask."""

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
    attention: torch.Tensor          # (B, L) bool: real tokens

    def select(self, rows: torch.Tensor) -> "KVCache":
        """The cache of some rows only (finished rows leave the batch)."""
        return KVCache([k[rows] for k in self.keys], [v[rows] for v in self.values],
                       self.attention[rows])


def load_weights(path: Path) -> dict[str, torch.Tensor]:
    """All tensors of a checkpoint: ``model.safetensors`` or the shards of its index."""
    from safetensors.torch import load_file

    index = path / "model.safetensors.index.json"
    files = (sorted(set(json.loads(index.read_text())["weight_map"].values()))
             if index.is_file() else ["model.safetensors"])
    weights: dict[str, torch.Tensor] = {}
    try:
        for name in files:
            weights.update(load_file(str(path / name)))
    except (OSError, ValueError) as exc:  # missing shard, truncated file
        raise ModelError(f"cannot read the weights: {exc}", path=str(path)) from exc
    return weights


class ModernBert:
    """The network. Not an ``nn.Module``: inference only, weights as plain tensors."""

    def __init__(self, shape: ModernBertShape, weights: dict[str, torch.Tensor],
                 dtype: torch.dtype = torch.float32, device: str = "cpu") -> None:
        self.shape, self.dtype, self.device = shape, dtype, device

        def get(name: str, required: bool = True) -> torch.Tensor | None:
            tensor = weights.get(name)
            if tensor is None:
                if required:
                    raise ModelError(f"the checkpoint has no tensor '{name}' (not a ModernBERT masked LM?)")
                return None
            return tensor.to(device=device, dtype=dtype).contiguous()

        self.embed = get("model.embeddings.tok_embeddings.weight")       # (V, H)
        self.embed_norm = get("model.embeddings.norm.weight")
        self.layers = []
        for i in range(shape.layers):
            p = f"model.layers.{i}."
            self.layers.append({
                "attn_norm": get(p + "attn_norm.weight", required=i > 0),
                "Wqkv": get(p + "attn.Wqkv.weight"), "Wo": get(p + "attn.Wo.weight"),
                "mlp_norm": get(p + "mlp_norm.weight"),
                "Wi": get(p + "mlp.Wi.weight"), "Wo_mlp": get(p + "mlp.Wo.weight"),
            })
        self.final_norm = get("model.final_norm.weight")
        self.head_dense = get("head.dense.weight")
        self.head_norm = get("head.norm.weight")
        decoder = get("decoder.weight", required=False)
        self.decoder = self.embed if decoder is None else decoder         # tied by default
        self.decoder_bias = get("decoder.bias", required=False)
        self.act = _ACTIVATIONS[shape.activation]
        self.head_act = _ACTIVATIONS[shape.head_activation]
        self._rope = {True: _rope_table(shape.theta_global, shape.head_dim, shape.max_positions, device),
                      False: _rope_table(shape.theta_local, shape.head_dim, shape.max_positions, device)}

    @property
    def parameters(self) -> int:
        tensors = [self.embed, self.embed_norm, self.final_norm, self.head_dense, self.head_norm]
        tensors += [t for layer in self.layers for t in layer.values() if t is not None]
        if self.decoder is not self.embed:
            tensors.append(self.decoder)
        if self.decoder_bias is not None:
            tensors.append(self.decoder_bias)
        return sum(t.numel() for t in tensors)

    # -- entry points ---------------------------------------------------------------------

    @torch.inference_mode()
    def logits(self, ids: torch.Tensor, attention: torch.Tensor,
               where: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, V) float32 logits; with ``where`` ((B, L) bool), (N, V) at its True
        positions in row-major order (the order of ``tensor[where]``)."""
        hidden, _ = self._trunk(ids, attention, where, keep_kv=False)
        return self.head(hidden)

    @torch.inference_mode()
    def encode(self, ids: torch.Tensor, attention: torch.Tensor,
               where: torch.Tensor | None = None) -> tuple[torch.Tensor, KVCache]:
        """Like ``logits``, and the keys and values of every layer for ``logits_active``."""
        hidden, cache = self._trunk(ids, attention, where, keep_kv=True)
        return self.head(hidden), cache

    @torch.inference_mode()
    def logits_active(self, ids: torch.Tensor, positions: torch.Tensor, cache: KVCache,
                      where: torch.Tensor | None = None) -> torch.Tensor:
        """Recompute only ``positions`` ((B, A) indices in order; a row may repeat its last
        one as padding) with token ids ``ids`` ((B, A)), attending to ``cache`` for the rest.
        Writes their keys and values into ``cache``. Returns (B, A, V) float32 logits, or
        (N, V) at the True entries of ``where`` ((B, A) bool).

        Rows differ in how many positions they recompute, so everything but attention runs
        on the N distinct positions packed together; padding costs only its attention."""
        ids, positions = ids.to(self.device), positions.to(self.device)
        s = self.shape
        batch, count = positions.shape
        length = cache.attention.shape[1]
        real = torch.ones_like(positions, dtype=torch.bool)               # (B, A): not a repeat
        real[:, 1:] = positions[:, 1:] != positions[:, :-1]
        pack = real.flatten().nonzero().flatten()                           # (N,) into B * A
        unpack = real.flatten().cumsum(0) - 1                               # (B * A,) into N
        row = pack // count
        pos = positions.flatten()[pack]                                     # (N,)
        h = F.layer_norm(F.embedding(ids.flatten()[pack], self.embed), (s.hidden,),
                         self.embed_norm, eps=s.norm_eps)                   # (N, H)
        rope, masks = self._rope_at(pos), self._masks(positions, cache.attention.to(self.device))
        # Where the new keys and values go in each layer's cache seen as (B * nh * L, D).
        heads = torch.arange(s.heads, device=self.device)
        slots = ((row[:, None] * s.heads + heads) * length + pos[:, None]).flatten()  # (N * nh,)
        for i in range(s.layers):
            q, k, v = self._qkv(i, h, rope[s.global_layers[i]])             # (N, nh, D) each
            cache.keys[i].view(-1, s.head_dim).index_copy_(0, slots, k.reshape(-1, s.head_dim))
            cache.values[i].view(-1, s.head_dim).index_copy_(0, slots, v.reshape(-1, s.head_dim))
            q = q[unpack].view(batch, count, s.heads, s.head_dim).transpose(1, 2)  # (B, nh, A, D)
            attended = self._attend(q, cache.keys[i], cache.values[i], masks[s.global_layers[i]])
            h = self._finish_layer(i, h, attended.flatten(0, 1)[pack])
        h = F.layer_norm(h, (s.hidden,), self.final_norm, eps=s.norm_eps)[unpack]  # (B * A, H)
        if where is None:
            return self.head(h.view(batch, count, s.hidden))
        return self.head(h[where.to(self.device).flatten()])

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """Prediction head and output layer: (..., H) -> (..., V) float32 on the CPU."""
        x = self.head_act(F.linear(hidden, self.head_dense))
        x = F.layer_norm(x, (self.shape.hidden,), self.head_norm, eps=self.shape.norm_eps)
        return F.linear(x, self.decoder, self.decoder_bias).float().cpu()

    # -- the layers -----------------------------------------------------------------------

    def _trunk(self, ids, attention, where, keep_kv):
        s = self.shape
        ids = ids.to(self.device)
        key_ok = attention.to(self.device).bool()                            # (B, L)
        batch, length = ids.shape
        if length > s.max_positions:
            raise ModelError(f"{length} tokens are more than the model's {s.max_positions} positions")
        positions = torch.arange(length, device=self.device).expand(batch, length)
        rope, masks = self._rope_at(positions), self._masks(positions, key_ok)
        h = F.layer_norm(F.embedding(ids, self.embed), (s.hidden,), self.embed_norm, eps=s.norm_eps)
        keys, values = [], []
        queries = None  # (B, A) positions the last layer computes; None: all
        if where is not None:
            where = where.to(self.device)
            counts = where.sum(dim=1)
            width = max(int(counts.max()) if batch else 0, 1)
            # Each row's chosen positions, padded by repeating position 0 (dropped at the end).
            order = torch.sort((~where).to(torch.int8), dim=1, stable=True).indices
            queries = order[:, :width]
            valid = torch.arange(width, device=self.device)[None, :] < counts[:, None]  # (B, A)
            queries = torch.where(valid, queries, torch.zeros_like(queries))
        for i in range(s.layers):
            q, k, v = self._qkv(i, h, rope[s.global_layers[i]])              # (B, L, nh, D)
            q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)  # (B, nh, L, D)
            if keep_kv:
                keys.append(k.contiguous())
                values.append(v.contiguous())
            last = i == s.layers - 1
            if last and queries is not None:
                rows = torch.arange(batch, device=self.device)[:, None]
                q = q[rows, :, queries].transpose(1, 2)                       # (B, nh, A, D)
                h = h[rows, queries]                                          # (B, A, H)
                mask = self._masks(queries, key_ok)[s.global_layers[i]]
            else:
                mask = masks[s.global_layers[i]]
            h = self._finish_layer(i, h, self._attend(q, k, v, mask))
        h = F.layer_norm(h, (s.hidden,), self.final_norm, eps=s.norm_eps)
        if queries is not None:
            h = h[valid]                                                      # (N, H)
        cache = KVCache(keys, values, key_ok) if keep_kv else None
        return h, cache

    def _rope_at(self, positions: torch.Tensor) -> dict[bool, tuple[torch.Tensor, torch.Tensor]]:
        """Per kind of layer (True: global), RoPE's cos and sin at ``positions`` (any shape
        P), (*P, 1, D) each to broadcast over heads: looked up once per pass, not per layer."""
        out = {}
        for is_global in set(self.shape.global_layers):
            cos, sin = self._rope[is_global]
            out[is_global] = cos[positions].unsqueeze(-2), sin[positions].unsqueeze(-2)
        return out

    def _qkv(self, i: int, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor]):
        """Queries, keys and values of layer ``i`` for hidden states ``h`` ((..., H)), each
        (..., nh, D), RoPE (``_rope_at`` of their positions) applied."""
        s, layer = self.shape, self.layers[i]
        x = h if layer["attn_norm"] is None else F.layer_norm(h, (s.hidden,), layer["attn_norm"],
                                                              eps=s.norm_eps)
        qkv = F.linear(x, layer["Wqkv"]).unflatten(-1, (3, s.heads, s.head_dim))
        q, k, v = qkv.unbind(dim=-3)                                         # (..., nh, D)
        cos, sin = rope
        return _rotate(q, cos, sin), _rotate(k, cos, sin), v

    def _masks(self, q_pos: torch.Tensor, key_ok: torch.Tensor) -> dict[bool, torch.Tensor | None]:
        """Per kind of layer (True: global), what each query at ``q_pos`` ((B, A)) may see:
        (B, 1, A or 1, L) bool, or None when every query may see every key.

        A query's softmax must never be over nothing (0 x NaN would leak into real rows
        through the values): a local query always sees its own position, and a row with no
        valid key at all (nothing real in it) sees every key."""
        out = {}
        if True in self.shape.global_layers:
            if bool(key_ok.all()):
                out[True] = None
            else:
                out[True] = (key_ok | ~key_ok.any(dim=1, keepdim=True))[:, None, None, :]
        if False in self.shape.global_layers:
            k_pos = torch.arange(key_ok.shape[1], device=self.device)
            near = (q_pos[:, :, None] - k_pos).abs() <= self.shape.window       # (B, A, L)
            out[False] = ((key_ok[:, None, :] & near) | (q_pos[:, :, None] == k_pos))[:, None]
        return out

    def _attend(self, q, k, v, mask) -> torch.Tensor:
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)     # (B, nh, A, D)
        return out.transpose(1, 2).flatten(2)                               # (B, A, H)

    def _finish_layer(self, i: int, h: torch.Tensor, attended: torch.Tensor) -> torch.Tensor:
        s, layer = self.shape, self.layers[i]
        h = h + F.linear(attended, layer["Wo"])
        x = F.layer_norm(h, (s.hidden,), layer["mlp_norm"], eps=s.norm_eps)
        up, gate = F.linear(x, layer["Wi"]).chunk(2, dim=-1)
        return h + F.linear(self.act(up) * gate, layer["Wo_mlp"])


def _rope_table(theta: float, dim: int, length: int, device: str):
    inv_freq = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    freqs = torch.arange(length, dtype=torch.float32)[:, None] * inv_freq[None, :]  # (L, D/2)
    angles = torch.cat([freqs, freqs], dim=-1)                                      # (L, D)
    return angles.cos().to(device), angles.sin().to(device)


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """RoPE in float32 (as the reference does), back to ``x``'s dtype."""
    xf = x.float()
    half = xf.shape[-1] // 2
    rotated = torch.cat([-xf[..., half:], xf[..., :half]], dim=-1)
    return (xf * cos + rotated * sin).to(x.dtype)


def read_shape(path: Path) -> ModernBertShape:
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"no readable config.json ({exc.__class__.__name__})", path=str(path)) from exc
    if config.get("model_type") != "modernbert":
        raise ModelError(f"model_type '{config.get('model_type')}' is not ModernBERT", path=str(path))
    return ModernBertShape.from_config(config)


__all__ = ["ModernBert", "ModernBertShape", "KVCache", "load_weights", "read_shape"]
