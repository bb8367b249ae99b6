"""``--device-map``: one model split over several devices through ``accelerate``.

For a model larger than one GPU: its layers are spread over the GPUs (then the CPU, then
disk, when they are full), and accelerate's hooks move activations between them during each
forward pass. The engine does not notice: the denoiser keeps taking CPU tensors and giving
back CPU logits, so fills are the same as on one device (up to each device's arithmetic).

``MAP`` is one of:

- ``auto``, ``balanced``, ``balanced_low_0``, ``sequential``: accelerate's strategies over
  every visible device;
- a JSON object, or a ``.json`` file holding one, either an explicit map from module names
  to devices (``{"model.embeddings": 0, "model.layers.0": 0, "model.layers.1": 1, ...}``;
  devices are GPU indices, ``"cpu"`` or ``"disk"``), or ``{"strategy": "sequential",
  "max_memory": {"0": "20GiB", "1": "20GiB", "cpu": "60GiB"}}``; ``"offload_dir"`` names
  the folder for layers on disk (default: a temporary folder).

The checkpoint is read on the CPU first and then placed (the backends load whole models);
so the machine needs the CPU memory for one copy of the weights. On a GPU the weights are
cast to bfloat16 before they are placed, as a single-GPU load does.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from infill.errors import InputError, ModelError

STRATEGIES = ("auto", "balanced", "balanced_low_0", "sequential")


def parse_device_map(text: str) -> dict[str, Any]:
    """``{"strategy": ...}`` or ``{"map": {...}}`` (plus ``max_memory``/``offload_dir``)."""
    if text in STRATEGIES:
        return {"strategy": text}
    raw = text
    if not text.lstrip().startswith("{"):
        try:
            with open(os.path.expanduser(text), encoding="utf-8") as fh:
                raw = fh.read()
        except OSError as exc:
            raise InputError(f"--device-map: not {', '.join(STRATEGIES)}, a JSON object or a "
                             f"readable .json file ({exc.strerror})", path=text) from exc
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InputError(f"--device-map: not valid JSON ({exc})") from exc
    if not isinstance(data, dict) or not data:
        raise InputError("--device-map: expected a JSON object")
    if "strategy" in data:
        if data["strategy"] not in STRATEGIES:
            raise InputError(f"--device-map: strategy must be one of {', '.join(STRATEGIES)}")
        return data
    extra = {k: data.pop(k) for k in ("max_memory", "offload_dir") if k in data}
    return {"map": {name: _device(d) for name, d in data.items()}, **extra}


def load_placed(model: str | None, device_map: str, device: str | None = "auto",
                backend: str | None = None, trust_remote_code: bool = False):
    """A ``Filler`` whose model is split over devices as ``device_map`` says."""
    import infill

    spec = parse_device_map(device_map)
    if backend is None:
        from infill.backends import detect_backend, resolve_model_path

        if detect_backend(resolve_model_path(model)) == "house":
            backend = "hf-mlm"  # the house checkpoint as a transformers module, to be placed
    filler = infill.load(model, "cpu", backend, trust_remote_code)
    place(filler.denoiser, spec)
    return filler


def place(denoiser: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Spread ``denoiser.model`` over devices; returns the device map used."""
    import torch
    from accelerate import dispatch_model, infer_auto_device_map
    from accelerate.utils import get_balanced_memory

    module = getattr(denoiser, "model", None)
    if not isinstance(module, torch.nn.Module):
        raise ModelError(f"--device-map needs a backend built on a transformers module; "
                         f"{denoiser.backend} is not")
    if "map" in spec:
        device_map = dict(spec["map"])
    else:
        no_split = list(getattr(module, "_no_split_modules", None) or [])
        max_memory = _max_memory(spec.get("max_memory"))
        balanced = spec["strategy"] in ("auto", "balanced", "balanced_low_0")
        if balanced and torch.cuda.device_count() > 1:
            max_memory = get_balanced_memory(module, max_memory=max_memory,
                                             no_split_module_classes=no_split,
                                             low_zero=spec["strategy"] == "balanced_low_0")
        device_map = infer_auto_device_map(module, max_memory=max_memory,
                                           no_split_module_classes=no_split)
    if set(device_map.values()) == {"disk"}:
        raise ModelError("--device-map: the memory given holds no layer of the model "
                         "(everything would be read from disk); give a device more memory")
    if any(_is_gpu(d) for d in device_map.values()):
        module.to(torch.bfloat16)
    offload = spec.get("offload_dir")
    if "disk" in device_map.values() and not offload:
        offload = tempfile.mkdtemp(prefix="infill-offload-")
    try:
        dispatch_model(module, device_map=device_map, offload_dir=offload)
    except (ValueError, KeyError, RuntimeError) as exc:
        raise ModelError(f"--device-map: cannot place the model ({exc})") from exc
    module.eval()
    return device_map


def _device(value: Any) -> Any:
    if isinstance(value, int) or value in ("cpu", "disk"):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and value.startswith("cuda:") and value[5:].isdigit():
        return int(value[5:])
    raise InputError(f"--device-map: unknown device {value!r} (a GPU index, 'cpu' or 'disk')")


def _is_gpu(device: Any) -> bool:
    return isinstance(device, int) or str(device).startswith("cuda")


def _max_memory(data: dict[str, Any] | None) -> dict[Any, Any] | None:
    if not data:
        return None
    return {_device(k): v for k, v in data.items()}
