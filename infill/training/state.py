"""Resumable training state without pickles: safetensors shards plus one JSON file.

``OUT/state/`` holds

- ``tensors-NNNNN.safetensors``: the model's and the optimiser's tensors and the RNG states,
  in shards of at most ``max_shard_bytes`` (a tensor larger than that is split by rows);
- ``state.json``: step, tokens, elapsed, rows consumed, the run's config, the optimiser's
  param groups, and where each tensor's pieces are.

Loading reads only safetensors and JSON, so a state folder from elsewhere (a GPU machine's
``$OUT``) cannot run code. The folder is replaced as a whole (write ``state.tmp``, rename).
A legacy ``state.pt`` is read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

MAX_SHARD_BYTES = 15 * 1024 * 1024


def _pieces(name: str, tensor, max_bytes: int):
    """``(key, tensor)`` pieces of one tensor, each at most ``max_bytes`` (split along dim 0)."""
    t = tensor.detach().contiguous()
    nbytes = t.numel() * t.element_size()
    if nbytes <= max_bytes or t.dim() == 0 or t.shape[0] < 2:
        return [(name, t)]
    row_bytes = max(1, nbytes // t.shape[0])
    rows = max(1, max_bytes // row_bytes)
    return [(f"{name}::{i}", t[s:s + rows].clone()) for i, s in enumerate(range(0, t.shape[0], rows))]


def save_tensors(tensors: dict, directory: Path, max_shard_bytes: int = MAX_SHARD_BYTES) -> dict[str, list[str]]:
    """Write ``tensors`` as ``tensors-NNNNN.safetensors`` shards; returns name -> piece keys."""
    from safetensors.torch import save_file

    layout: dict[str, list[str]] = {}
    shard: dict = {}
    size, index = 0, 0

    def flush():
        nonlocal shard, size, index
        if shard:
            save_file(shard, str(directory / f"tensors-{index:05d}.safetensors"))
            index += 1
        shard, size = {}, 0

    for name, tensor in tensors.items():
        layout[name] = []
        for key, piece in _pieces(name, tensor, max_shard_bytes):
            n = piece.numel() * piece.element_size()
            if shard and size + n > max_shard_bytes:
                flush()
            shard[key] = piece
            size += n
            layout[name].append(key)
    flush()
    return layout


def load_tensors(directory: Path, layout: dict[str, list[str]]) -> dict:
    """The tensors written by ``save_tensors`` (pieces concatenated back)."""
    import torch
    from safetensors.torch import load_file

    flat: dict = {}
    for path in sorted(directory.glob("tensors-*.safetensors")):
        flat.update(load_file(str(path)))
    out = {}
    for name, keys in layout.items():
        out[name] = flat[keys[0]] if len(keys) == 1 else torch.cat([flat[k] for k in keys])
    return out


def _unique_state_dict(model) -> tuple[dict, dict[str, str]]:
    """The model's state dict with tied tensors stored once; returns (tensors, aliases)."""
    tensors, aliases, seen = {}, {}, {}
    for name, t in model.state_dict().items():
        key = (t.data_ptr(), t.shape, t.dtype) if t.numel() else None
        if key is not None and key in seen:
            aliases[name] = seen[key]
            continue
        if key is not None:
            seen[key] = name
        tensors[name] = t
    return tensors, aliases


def save_state(out: Path, model, optimizer, meta: dict, rng: dict, max_shard_bytes: int = MAX_SHARD_BYTES) -> Path:
    """Write ``out/state/`` atomically. ``meta`` must be JSON-serialisable; ``rng``: name -> ByteTensor."""
    model = getattr(model, "_orig_mod", model)
    tmp, final, old = out / "state.tmp", out / "state", out / "state.old"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    params, aliases = _unique_state_dict(model)
    opt = optimizer.state_dict()
    tensors = {f"model/{k}": v for k, v in params.items()}
    opt_scalars: dict[str, dict] = {}
    for idx, entry in opt["state"].items():
        for name, value in entry.items():
            if hasattr(value, "detach"):
                tensors[f"optim/{idx}/{name}"] = value
            else:
                opt_scalars.setdefault(str(idx), {})[name] = value
    for name, value in rng.items():
        tensors[f"rng/{name}"] = value
    layout = save_tensors(tensors, tmp, max_shard_bytes)
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in opt["param_groups"]]
    doc = {"format": "infill-train-state/1", **meta, "aliases": aliases, "param_groups": groups,
           "optim_scalars": opt_scalars, "layout": layout}
    (tmp / "state.json").write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    return swap_in(tmp, final, old)


def swap_in(tmp: Path, final: Path, old: Path) -> Path:
    """Put the finished folder ``tmp`` in place of ``final``, keeping the previous one as
    ``old`` until the new one is there (a crash leaves one complete folder or the other)."""
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def has_state(out: Path) -> bool:
    return (out / "state" / "state.json").exists() or (out / "state.pt").exists()


def load_state(out: Path, model, optimizer) -> tuple[dict, dict]:
    """Load ``out/state/`` (or a legacy ``state.pt``) into ``model`` and ``optimizer``.

    Returns ``(meta, rng)``: the JSON fields (step, tokens, elapsed, rows_done, config, ...) and
    the RNG states by name.
    """
    import torch

    directory = out / "state"
    if not (directory / "state.json").exists():
        return _load_legacy(out / "state.pt", model, optimizer)
    doc = json.loads((directory / "state.json").read_text(encoding="utf-8"))
    tensors = load_tensors(directory, doc["layout"])
    params = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    for name, target in doc["aliases"].items():
        params[name] = params[target]
    model.load_state_dict(params)
    opt_state: dict = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, idx, name = key.split("/", 2)
            opt_state.setdefault(int(idx), {})[name] = value
    for idx, scalars in doc.get("optim_scalars", {}).items():
        opt_state.setdefault(int(idx), {}).update(scalars)
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in doc["param_groups"]]
    optimizer.load_state_dict({"state": opt_state, "param_groups": groups})
    rng = {k[len("rng/"):]: v.to(torch.uint8) for k, v in tensors.items() if k.startswith("rng/")}
    meta = {k: v for k, v in doc.items() if k not in {"aliases", "param_groups", "optim_scalars", "layout"}}
    return meta, rng


def _load_legacy(path: Path, model, optimizer) -> tuple[dict, dict]:
    import torch

    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    meta = {k: state[k] for k in ("step", "tokens", "elapsed", "rows_done", "config")}
    return meta, {"generator": state["generator"], "torch": state["torch_rng"]}
