"""The house backend: infill's own ModernBERT forward (``modernbert.py``) over a checkpoint
made for infill (``config.json`` with ``model_type: modernbert`` and ``infill_config.json``).

Loading it imports torch, ``safetensors`` and ``tokenizers`` only: no transformers, whose
import alone costs more CPU time than a fill. Weights run in bfloat16 on CPUs that multiply
bf16 natively and on CUDA, float32 elsewhere (``cpu.pick_dtype``; ``INFILL_DTYPE`` forces).

Beyond the ``Denoiser`` protocol it answers the two questions that make a pass cheap:
logits at chosen positions only (``logits_at``), and a context cache (``encode`` once, then
``logits_active`` for the slots of the spans being written, and what changed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from infill.backends.base import Denoiser, TextCodec
from infill.backends.cpu import pick_dtype
from infill.backends.modernbert import KVCache, ModernBert, load_weights, read_shape
from infill.config import CONFIG_FILE, InfillConfig, load_config
from infill.errors import ModelError

_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class _Tokenizer:
    """The few parts of a Hugging Face fast tokenizer that infill reads (``TextCodec``, and
    the training example builder in ``infill.training``), over a ``tokenizers.Tokenizer``
    loaded from ``tokenizer.json``: no transformers import."""

    unk_token_id = None  # byte-level BPE: every text has ids

    def __init__(self, backend) -> None:
        self.backend_tokenizer = self._tokenizer = backend

    def convert_tokens_to_ids(self, token: str) -> int | None:
        return self._tokenizer.token_to_id(token)

    def decode(self, ids, skip_special_tokens: bool = False, **_: Any) -> str:
        return self._tokenizer.decode(list(ids), skip_special_tokens=skip_special_tokens)


@dataclass
class HouseDenoiser(Denoiser):
    net: Any = None          # the ModernBert
    dtype: str = "float32"   # what the weights run in

    def logits(self, ids: torch.Tensor, attention: torch.Tensor,
               wanted: torch.Tensor | None = None) -> torch.Tensor:  # (B, L, V)
        """Full logits; with ``wanted``, rows with nothing wanted are skipped and only the
        wanted positions hold values (the rest is uninitialised)."""
        if wanted is None:
            return self.net.logits(ids, attention)
        from infill.backends.passes import ModelPasses

        return ModelPasses(self, wanted)(ids, attention, wanted)

    def logits_at(self, ids: torch.Tensor, attention: torch.Tensor,
                  where: torch.Tensor) -> torch.Tensor:
        """(N, V) logits at the True positions of ``where`` ((B, L) bool), row-major."""
        return self.net.logits(ids, attention, where)

    def encode(self, ids: torch.Tensor, attention: torch.Tensor,
               where: torch.Tensor | None = None) -> tuple[torch.Tensor, KVCache]:
        """A full pass that keeps every layer's keys and values (the context cache)."""
        return self.net.encode(ids, attention, where)

    def logits_active(self, ids: torch.Tensor, positions: torch.Tensor, cache: KVCache,
                      where: torch.Tensor | None = None) -> torch.Tensor:
        """Recompute ``positions`` only, against the cached keys and values of the rest."""
        return self.net.logits_active(ids, positions, cache, where)


def load_house(path: Path, device: str = "cpu", backend=None, config: InfillConfig | None = None,
               *, trust_remote_code: bool = False, dtype: str | None = None) -> HouseDenoiser:
    """Load an infill ModernBERT checkpoint with the native forward (a registry loader:
    ``device`` is already resolved and its threads set; ``config`` is its InfillConfig)."""
    from tokenizers import Tokenizer

    _refuse_shipped_code(path, trust_remote_code)
    config = config if config is not None else load_config(path)
    if config is None:
        raise ModelError(f"the house backend needs {CONFIG_FILE} beside config.json", path=str(path))
    if config.pad_id is None:
        raise ModelError(f"{CONFIG_FILE} has no pad_id", path=str(path))
    from infill.backends.native import check_ids, check_weight_files

    chosen = pick_dtype(device, dtype)
    shape = read_shape(path)
    check_weight_files(path)  # truncated or not safetensors: exit 2 naming the file
    ids = {"mask_id": config.mask_id, "null_id": config.null_id, "bos_id": config.bos_id,
           "eos_id": config.eos_id, "pad_id": config.pad_id,
           **{f"language_ids.{k}": v for k, v in config.language_ids.items()}}
    check_ids(ids, shape.vocab_size, path, CONFIG_FILE)
    try:
        tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    except Exception as exc:  # tokenizers raises a bare Exception for a missing or bad file
        raise ModelError(f"cannot read tokenizer.json ({str(exc).splitlines()[0]})", path=str(path)) from exc
    try:
        net = ModernBert(shape, load_weights(path), _DTYPES[chosen], device)
    except torch.OutOfMemoryError as exc:
        raise ModelError(f"out of {device} memory loading the model (try --device cpu)",
                         path=str(path)) from exc
    max_context = int(config.max_context or shape.max_positions)
    return HouseDenoiser(
        name=path.name, codec=TextCodec(_Tokenizer(tokenizer)), mask_id=config.mask_id,
        null_id=config.null_id, bos_id=config.bos_id, eos_id=config.eos_id,
        pad_id=config.pad_id, max_context=min(max_context, shape.max_positions, 4096),
        language_ids=dict(config.language_ids), defaults=config.defaults(), device=device,
        backend="house", path=str(path), parameters=net.parameters,
        scores_visible=bool(config.replaced_token_detection), net=net, dtype=chosen)


def _refuse_shipped_code(path: Path, trust_remote_code: bool) -> None:
    """The native forward never runs code from the model directory, but a checkpoint that
    ships some (an ``auto_map``) says it needs it: refused like every backend does, unless
    the user agreed (``backends.trust``). Checked without importing transformers."""
    import json

    for name in ("config.json", "tokenizer_config.json"):
        try:
            config = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict) and config.get("auto_map"):
            from infill.backends.trust import refuse_remote_code

            refuse_remote_code(path, "house", trust_remote_code)
            return
