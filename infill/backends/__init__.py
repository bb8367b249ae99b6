"""Backends: load a model from disk as a ``Denoiser`` (see ``base.py``)."""

from __future__ import annotations

import os
from pathlib import Path

from infill.errors import InfillError, ModelError

BACKENDS = ("hf-mlm", "llada", "dream")


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
    from infill.backends.hf import detect_backend

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
        if backend == "hf-mlm" and "MaskedLM" not in config and "infill" not in config:
            continue  # not a masked LM: nothing infill can run
        found.append((repo.name[len("models--"):].replace("--", "/"), backend, snapshot))
    return found


def load_backend(model: str | None = None, device: str = "auto", backend: str | None = None,
                 trust_remote_code: bool = False):
    """Load ``model`` (see ``resolve_model_path``) as a ``Denoiser`` on ``device``."""
    from infill.backends.hf import detect_backend, load_hf

    path = resolve_model_path(model)
    kind = backend or detect_backend(path)
    if kind not in BACKENDS:
        raise ModelError(f"unknown backend '{kind}' (choose from {', '.join(BACKENDS)})")
    return load_hf(path, kind, device, trust_remote_code)
