"""The denoiser protocol: what the sampler needs from a model (DESIGN section 5).

A backend owns a tokenizer and a network and answers one question: logits for a batch of
canvases. Everything model-specific (which id is the mask, whether logits are shifted, which
tokens frame a canvas) is a field here, so the engine has no per-model branches.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import torch

from infill.errors import ModelError


class TextCodec:
    """A Hugging Face fast tokenizer, with special-token matching off.

    Literal ``<mask>`` in a file is ordinary text: it is tokenized as bytes, never as the mask
    id. Special tokens reach a canvas by id only.
    """

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        backend = getattr(tokenizer, "_tokenizer", None) or getattr(tokenizer, "backend_tokenizer", None)
        if backend is None or not hasattr(backend, "encode_special_tokens"):
            raise TypeError("infill needs a fast (tokenizers-backed) tokenizer")
        backend.encode_special_tokens = True
        self._backend = backend
        self._pieces: dict[int, str] = {}

    @property
    def vocab_size(self) -> int:
        return self._backend.get_vocab_size(with_added_tokens=True)

    def encode(self, text: str) -> list[int]:
        if not text:
            return []
        return self._backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int]) -> str:
        return self._backend.decode(list(ids), skip_special_tokens=False)

    def piece(self, token_id: int) -> str:
        """One token's text for display; an incomplete UTF-8 character shows as U+FFFD."""
        text = self._pieces.get(token_id)
        if text is None:
            text = self._pieces[token_id] = self.decode([token_id])
        return text


@dataclass
class Denoiser:
    """A model the sampler can run. ``logits`` is the only method a backend must provide."""

    name: str
    codec: TextCodec
    mask_id: int
    null_id: int | None            # "nothing here"; None: the model has no such token
    bos_id: int | None
    eos_id: int | None
    pad_id: int
    max_context: int
    shifted_logits: bool = False   # Dream-family: position i is predicted at i - 1
    language_ids: dict[str, int] = field(default_factory=dict)
    defaults: dict = field(default_factory=dict)  # recommended sampler settings
    device: str = "cpu"
    backend: str = "hf-mlm"
    path: str = ""
    parameters: int = 0
    scores_visible: bool = False   # trained to spot replaced tokens (rewrite strength < 1)

    def header_id(self, language: str) -> int | None:
        if not self.language_ids:
            return None
        return self.language_ids.get(language, self.language_ids.get("unknown"))

    def banned_ids(self) -> list[int]:
        """Ids a slot may never hold (framing and padding tokens, language headers)."""
        ids = {self.pad_id, *self.language_ids.values()}
        for i in (self.bos_id, self.eos_id):
            if i is not None and i != self.null_id:
                ids.add(i)
        ids.discard(self.null_id)
        return sorted(i for i in ids if i is not None and i >= 0)

    def logits(self, ids: torch.Tensor, attention: torch.Tensor,
               wanted: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, V) logits for ``ids`` (B, L). ``wanted`` (B, L, bool), when given, marks the
        positions that will be read; a backend may leave the others uncomputed."""
        raise NotImplementedError


def pick_device(device: str) -> str:
    """``auto``: CUDA, else MPS, else CPU; a device asked for by name must exist."""
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
    """All cores but one, or ``INFILL_THREADS`` (``infill.backends.cpu``: a bad value is a
    ``ModelError``, exit 2)."""
    from infill.backends.cpu import cpu_threads

    torch.set_num_threads(cpu_threads())


def prepare_device(device: str) -> str:
    """The device a backend loads on (``pick_device``), with CPU threads set when it is the CPU."""
    device = pick_device(device)
    if device == "cpu":
        set_cpu_threads()
    return device
