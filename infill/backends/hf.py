"""Hugging Face backends: any masked LM, and the diffusion LLM families.

- ``hf-mlm``: ``AutoModelForMaskedLM`` (the house model is a ModernBERT; any BERT-like masked
  LM works). An ``infill_config.json`` beside ``config.json`` supplies the null, bos, eos and
  language header ids and the recommended sampler settings.
- ``llada``: LLaDA-family models (remote code, mask id 126336, logits not shifted).
- ``dream``: Dream, Dream-Coder, DiffuCoder, DreamOn (remote code, mask id 151666, shifted).

Weights are only ever read from disk (``local_files_only=True``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from infill.backends.base import Denoiser, TextCodec
from infill.errors import ModelError

INFILL_CONFIG = "infill_config.json"


class HFDenoiser(Denoiser):
    model: torch.nn.Module

    def logits(self, ids: torch.Tensor, attention: torch.Tensor,
               wanted: torch.Tensor | None = None) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=attention.to(self.device))
        logits = out.logits if hasattr(out, "logits") else out[0]
        return logits.float().cpu()


def detect_backend(path: Path) -> str:
    """``hf-mlm``, ``llada`` or ``dream`` from ``config.json`` (infill_config.json wins)."""
    if (path / INFILL_CONFIG).is_file():
        return "hf-mlm"
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError) as exc:
        raise ModelError(f"no readable config.json ({exc.__class__.__name__})", path=str(path)) from exc
    kind = " ".join([str(config.get("model_type", ""))] + list(config.get("architectures") or [])).lower()
    if "llada" in kind:
        return "llada"
    if "dream" in kind:
        return "dream"
    return "hf-mlm"


def pick_device(device: str) -> str:
    if device != "auto":
        if device == "cuda" and not torch.cuda.is_available():
            raise ModelError("--device cuda: no CUDA device is available (use --device cpu)")
        if device == "mps" and not torch.backends.mps.is_available():
            raise ModelError("--device mps: MPS is not available (use --device cpu)")
        return device
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def set_cpu_threads() -> None:
    """Leave a core free on the CPU: the editor's UI and the OS need one, and OpenMP threads
    that compete for a busy core spin-wait (measured here: a 2-thread fill on a loaded 2-core
    machine ran 25x slower than a 1-thread one). ``INFILL_THREADS`` overrides."""
    wanted = os.environ.get("INFILL_THREADS")
    threads = int(wanted) if wanted and wanted.isdigit() else max(1, (os.cpu_count() or 2) - 1)
    torch.set_num_threads(threads)


def load_hf(path: Path, backend: str, device: str, trust_remote_code: bool) -> HFDenoiser:
    from transformers import AutoModel, AutoModelForMaskedLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()

    device = pick_device(device)
    if device == "cpu":
        set_cpu_threads()
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    if backend in ("llada", "dream") and not trust_remote_code:
        raise ModelError(f"{backend} models run their own code: pass --trust-remote-code "
                         "(or trust_remote_code=True) if you trust this checkpoint", path=str(path))
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True,
                                                  trust_remote_code=trust_remote_code)
        if backend == "hf-mlm":
            model = AutoModelForMaskedLM.from_pretrained(path, local_files_only=True, dtype=dtype)
        else:
            model = AutoModel.from_pretrained(path, local_files_only=True, dtype=dtype,
                                              trust_remote_code=True)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the model: {str(exc).splitlines()[0]}", path=str(path)) from exc
    try:
        model.to(device).eval()
    except torch.OutOfMemoryError as exc:
        raise ModelError(f"out of {device} memory loading the model (try --device cpu)",
                         path=str(path)) from exc

    meta = {}
    if (path / INFILL_CONFIG).is_file():
        meta = json.loads((path / INFILL_CONFIG).read_text())
    codec = TextCodec(tokenizer)
    config = model.config
    mask_id = meta.get("mask_id", tokenizer.mask_token_id)
    if backend == "llada":
        mask_id = 126336
    elif backend == "dream":
        mask_id = 151666
    if mask_id is None:
        raise ModelError("the tokenizer has no mask token; this is not a masked LM", path=str(path))
    bos = meta.get("bos_id", tokenizer.cls_token_id if backend == "hf-mlm" else None)
    eos = meta.get("eos_id", tokenizer.sep_token_id if backend == "hf-mlm" else tokenizer.eos_token_id)
    pad = meta.get("pad_id", tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos or 0))
    # Without an infill config, EOS is the "nothing here" token (Dream, LLaDA) or there is
    # none (plain masked LMs: fills have exactly the budget's length).
    null = meta.get("null_id", eos if backend in ("llada", "dream") else None)
    max_context = int(meta.get("max_context") or getattr(config, "max_position_embeddings", 512) or 512)
    denoiser = HFDenoiser(
        name=path.name, codec=codec, mask_id=int(mask_id), null_id=null, bos_id=bos, eos_id=eos,
        pad_id=int(pad), max_context=min(max_context, 4096), shifted_logits=backend == "dream",
        language_ids=dict(meta.get("language_ids", {})), defaults=dict(meta.get("sampler", {})),
        device=device, backend=backend, path=str(path),
        parameters=sum(p.numel() for p in model.parameters()),
        scores_visible=bool(meta.get("replaced_token_detection", False)),
    )
    denoiser.model = model
    return denoiser
