"""Hugging Face backends: any masked LM, and the diffusion LLM families.

- ``hf-mlm``: ``AutoModelForMaskedLM`` (the house model is a ModernBERT; any BERT-like masked
  LM works). An ``infill_config.json`` beside ``config.json`` supplies the null, bos, eos and
  language header ids and the recommended sampler settings.
- ``llada``: LLaDA-family models (remote code, mask id 126336, logits not shifted).
- ``dream``: Dream, Dream-Coder, DiffuCoder, DreamOn (remote code, mask id 151666, shifted).

Weights are only ever read from disk (``local_files_only=True``). The registry entries that
name these loaders are in ``infill/backends/__init__.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from infill.backends import Backend
from infill.backends.base import Denoiser, TextCodec
from infill.backends.trust import refuse_remote_code
from infill.config import InfillConfig
from infill.errors import ModelError

@dataclass
class HFDenoiser(Denoiser):
    model: Any = None  # the transformers module, in eval mode on ``device``

    def logits(self, ids: torch.Tensor, attention: torch.Tensor,
               wanted: torch.Tensor | None = None) -> torch.Tensor:
        with torch.inference_mode():
            out = self.model(input_ids=ids.to(self.device), attention_mask=attention.to(self.device))
        logits = out.logits if hasattr(out, "logits") else out[0]
        return logits.float().cpu()


def load_masked_lm(path: Path, device: str, backend: Backend, config: InfillConfig | None, *,
                   trust_remote_code: bool = False) -> HFDenoiser:
    """Any ``AutoModelForMaskedLM``; ``infill_config.json`` (the house model) supplies the null,
    bos, eos and language header ids and the recommended sampler settings. Without it the
    tokenizer's CLS/SEP frame the canvas and fills have exactly their budget's length."""
    from transformers import AutoModelForMaskedLM

    from infill.backends.native import check_ids, check_weight_files

    check_weight_files(path)
    tokenizer, model = _load(path, device, AutoModelForMaskedLM, trust_remote_code)
    if config is not None:
        ids = {"mask_id": config.mask_id, "null_id": config.null_id, "bos_id": config.bos_id,
               "eos_id": config.eos_id, "pad_id": config.pad_id,
               **{f"language_ids.{k}": v for k, v in config.language_ids.items()}}
        check_ids(ids, model.get_input_embeddings().num_embeddings, path, "infill_config.json")
    mask = config.mask_id if config else tokenizer.mask_token_id
    if mask is None:
        raise ModelError("the tokenizer has no mask token; this is not a masked LM", path=str(path))
    bos = config.bos_id if config else tokenizer.cls_token_id
    eos = config.eos_id if config else tokenizer.sep_token_id
    null = config.null_id if config else None
    return _denoiser(path, device, backend, config, tokenizer, model, mask, null, bos, eos, False)


def load_remote_dllm(path: Path, device: str, backend: Backend, config: InfillConfig | None, *,
                     trust_remote_code: bool = True) -> HFDenoiser:
    """A diffusion LLM through its own remote code (``backend.settings``: ``mask_id``,
    ``shifted``); EOS is its "nothing here" token."""
    from transformers import AutoModel

    tokenizer, model = _load(path, device, AutoModel, trust_remote_code, model_code=True)
    eos = config.eos_id if config and config.eos_id is not None else tokenizer.eos_token_id
    null = config.null_id if config and config.null_id is not None else eos
    bos = config.bos_id if config else None
    return _denoiser(path, device, backend, config, tokenizer, model,
                     int(backend.settings["mask_id"]), null, bos, eos,
                     bool(backend.settings.get("shifted", False)))


def _load(path: Path, device: str, auto_class: Any, trust_remote_code: bool,
          model_code: bool = False):
    from transformers import AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    # Before transformers sees the directory: code shipped with it (auto_map, an unknown
    # model_type) is refused unless the user trusts it, and transformers never asks on stdin.
    refuse_remote_code(path, "", trust_remote_code)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True,
                                                  trust_remote_code=trust_remote_code)
        model = auto_class.from_pretrained(path, local_files_only=True, dtype=dtype,
                                           trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the model: {str(exc).splitlines()[0]}", path=str(path)) from exc
    try:
        model.to(device).eval()
    except torch.OutOfMemoryError as exc:
        raise ModelError(f"out of {device} memory loading the model (try --device cpu)",
                         path=str(path)) from exc
    return tokenizer, model


def _denoiser(path, device, backend, config, tokenizer, model, mask, null, bos, eos,
              shifted) -> HFDenoiser:
    pad = config.pad_id if config and config.pad_id is not None else (
        tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (eos or 0))
    max_context = int((config.max_context if config else None)
                      or getattr(model.config, "max_position_embeddings", 512) or 512)
    return HFDenoiser(
        name=path.name, codec=TextCodec(tokenizer), mask_id=int(mask), null_id=null, bos_id=bos,
        eos_id=eos, pad_id=int(pad), max_context=min(max_context, 4096), shifted_logits=shifted,
        language_ids=dict(config.language_ids) if config else {},
        defaults=config.defaults() if config else {}, device=device, backend=backend.name,
        path=str(path), parameters=sum(p.numel() for p in model.parameters()),
        scores_visible=bool(config and config.replaced_token_detection), model=model)
