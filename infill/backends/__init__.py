"""Backends: load a model from disk as a ``Denoiser`` (see ``base.py``).

``BACKENDS`` is the registry: one ``Backend`` entry per model family, in priority order.
Detection walks it and takes the first family whose ``detect`` accepts the checkpoint's
``config.json`` (``infill_config.json`` marks the house model's family, whatever its
``model_type``); ``--backend NAME`` skips detection. ``load`` names the loader as
``"module:function"`` so that nothing heavy is imported until a model loads; a loader is
called as ``load(path, device, backend, config, trust_remote_code=...)`` with the device
resolved and the ``InfillConfig`` (or ``None``) read, and returns a ``Denoiser``. Remote code is
refused here, once, for every family with ``needs_remote_code``.

A new family is one file (``infill/backends/NAME.py`` with its loader) and one line below.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from infill.errors import InfillError, ModelError

from dataclasses import dataclass, field
from importlib import import_module
from typing import TYPE_CHECKING, Any, Callable, Mapping

from infill.config import InfillConfig, has_config, load_config

if TYPE_CHECKING:
    from infill.backends.base import Denoiser

Detect = Callable[[Mapping[str, Any], Path], bool]


def model_type(*names: str) -> Detect:
    """Accepts a ``config.json`` whose ``model_type`` or ``architectures`` mention a name."""
    def detect(config: Mapping[str, Any], path: Path) -> bool:
        kind = " ".join([str(config.get("model_type", ""))]
                        + [str(a) for a in config.get("architectures") or []]).lower()
        return any(name in kind for name in names)
    return detect


def infill_checkpoint(config: Mapping[str, Any], path: Path) -> bool:
    return has_config(path)


def never(config: Mapping[str, Any], path: Path) -> bool:
    return False


def house_checkpoint(config: Mapping[str, Any], path: Path) -> bool:
    """An infill checkpoint of the ModernBERT shape: infill's own forward runs it."""
    return has_config(path) and config.get("model_type") == "modernbert"


@dataclass(frozen=True)
class Backend:
    name: str
    load: str                      # "module:function", imported when a model loads
    detect: Detect = never         # does this family run the checkpoint? (config.json, dir)
    needs_remote_code: bool = False
    summary: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)  # family constants for load

    def loader(self) -> Callable[..., "Denoiser"]:
        module, _, function = self.load.partition(":")
        return getattr(import_module(module), function)


BACKENDS: dict[str, Backend] = {b.name: b for b in (
    Backend("house", "infill.backends.house:load_house", house_checkpoint,
            summary="the house model (an infill ModernBERT) on infill's own forward: "
                    "no transformers import, logits where read, a context cache"),
    Backend("hf-mlm", "infill.backends.hf:load_masked_lm", infill_checkpoint,
            summary="any masked LM (AutoModelForMaskedLM); the house model"),
    Backend("llada", "infill.backends.native_backend:load_llada", model_type("llada"),
            summary="LLaDA family (8B Base/Instruct, 1.5): infill's own forward, no remote code"),
    Backend("dream", "infill.backends.native_backend:load_dream", model_type("dream"),
            summary="Dream family (Dream, Dream-Coder, DiffuCoder, DreamOn): infill's own forward"),
    Backend("diffusion-gemma", "infill.backends.diffusiongemma:load", model_type("diffusion_gemma"),
            summary="DiffusionGemma: prompted infill on transformers' own generate()"),
    Backend("llada-remote", "infill.backends.hf:load_remote_dllm", never, True,
            "LLaDA through its own remote code (--trust-remote-code)",
            {"mask_id": 126336, "shifted": False}),
    Backend("dream-remote", "infill.backends.hf:load_remote_dllm", never, True,
            "Dream family through its own remote code (--trust-remote-code)",
            {"mask_id": 151666, "shifted": True}),
)}
FALLBACK = "hf-mlm"  # a checkpoint no family claims: try it as a plain masked LM


def detect_backend(path: Path) -> str:
    """The first registered family that claims the checkpoint in ``path``."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"no readable config.json ({exc.__class__.__name__})", path=str(path)) from exc
    if not isinstance(config, dict):
        raise ModelError("config.json does not hold a JSON object", path=str(path))
    for backend in BACKENDS.values():
        if backend.detect(config, path):
            return backend.name
    return FALLBACK




def default_model_path() -> Path | None:
    """The bundled house model: ``models/house`` in a checkout, or the installed copy."""
    env = os.environ.get("INFILL_MODEL")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent.parent.parent / "models" / "house"
    if (here / "config.json").is_file():
        return here
    try:
        from importlib.resources import files
        installed = Path(str(files("infill.models"))) / "house"
    except (ModuleNotFoundError, TypeError):
        return None
    return installed if (installed / "config.json").is_file() else None


def resolve_model_path(model: str | None) -> Path:
    """A directory with the checkpoint: a path, a name in the local HF cache, or the default."""
    if model is None:
        path = default_model_path()
        if path is None:
            raise ModelError("no default model: the house model is not in models/house "
                             "(train it with 'infill train', or pass --model DIR)")
        return path
    path = Path(model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError("not a model directory (no config.json)", path=str(path))
        return path
    if path.exists():
        raise ModelError("not a model directory", path=str(path))
    if "/" in model and not model.startswith((".", "/", "~")):
        try:
            from huggingface_hub import snapshot_download
            return Path(snapshot_download(model, local_files_only=True))
        except Exception as exc:  # the hub raises several unrelated types for "not cached"
            raise ModelError(f"model '{model}' is neither a directory nor in the local "
                             f"Hugging Face cache ({exc.__class__.__name__}); infill never "
                             "downloads weights") from exc
    raise ModelError("no such model directory", path=str(path))


def find_cached_models() -> list[tuple[str, str, Path]]:
    """(model id, backend, snapshot dir) for every checkpoint in the local Hugging Face cache
    whose ``config.json`` one of the backends can run; nothing is downloaded."""
    root = Path(os.environ.get("HF_HUB_CACHE") or Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface")) / "hub")
    found = []
    for repo in sorted(root.glob("models--*")):
        snapshots = sorted((repo / "snapshots").glob("*/config.json"), key=lambda p: p.stat().st_mtime)
        if not snapshots:
            continue
        snapshot = snapshots[-1].parent
        try:
            config = snapshots[-1].read_text()
            backend = detect_backend(snapshot)
        except (OSError, InfillError):
            continue
        if backend == FALLBACK and "MaskedLM" not in config and "infill" not in config:
            continue  # not a masked LM: nothing infill can run
        found.append((repo.name[len("models--"):].replace("--", "/"), backend, snapshot))
    return found


def load_backend(model: str | None = None, device: str = "auto", backend: str | None = None,
                 trust_remote_code: bool = False) -> "Denoiser":
    """Load ``model`` (see ``resolve_model_path``) as a ``Denoiser`` on ``device``."""
    from infill.backends.base import prepare_device

    path = resolve_model_path(model)
    name = backend or detect_backend(path)
    spec = BACKENDS.get(name)
    if spec is None:
        raise ModelError(f"unknown backend '{name}' (choose from {', '.join(BACKENDS)})")
    if spec.needs_remote_code and not trust_remote_code:
        raise ModelError(f"{name} models run their own code: pass --trust-remote-code "
                         "(or trust_remote_code=True) if you trust this checkpoint", path=str(path))
    config: InfillConfig | None = load_config(path)
    return spec.loader()(path, prepare_device(device), spec, config,
                         trust_remote_code=trust_remote_code)
