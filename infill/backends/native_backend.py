"""Denoisers over the native forwards: LLaDA and the Dream family, with no remote code.

A family module (``llada.py``, ``dream.py``) reads the checkpoint's config and tokenizer
files into a ``Conventions``: which id is the mask, which frame a canvas (BOS, EOS), which
mean "nothing here" (the null: EOS, LLaDA's EoT, DiffuCoder's ``<|dlm_pad|>``; their
probabilities are pooled into one null id so the sampler sees one), which are banned from
fills (every other special token: a fill never holds ``<|im_end|>`` or ``<|startoftext|>``,
and nothing of them is written as text), and the family's recommended sampler settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from infill.backends import native
from infill.backends.base import Denoiser, TextCodec
from infill.backends.tokenizer_files import load_tokenizer
from infill.errors import ModelError


@dataclass(frozen=True)
class Conventions:
    family: str                  # "llada", "dream", "dream-coder", "diffucoder", "dreamon"
    mask_id: int
    bos_id: int | None
    eos_id: int | None
    null_id: int | None
    pad_id: int
    pooled: tuple[int, ...] = ()  # ids whose probability counts as the null's
    banned: tuple[int, ...] = ()  # ids a fill may never hold
    defaults: dict = field(default_factory=dict)
    shifted_logits: bool = False
    expand_id: int | None = None  # DreamOn: "one more slot here"


class NativeDenoiser(Denoiser):
    """A ``Denoiser`` whose ``logits`` run ``native.DecoderLM``."""

    model: native.DecoderLM
    pooled: tuple[int, ...] = ()
    banned: tuple[int, ...] = ()
    family: str = ""
    expand_id: int | None = None
    prefix: tuple[int, ...] = ()  # an instruct model's chat frame, before every canvas
    sampler = None  # DreamOn: its own variable-length sampler (infill.backends.dreamon)

    def banned_ids(self) -> list[int]:
        ids = set(self.banned) | set(super().banned_ids())
        ids.discard(self.null_id)
        return sorted(ids)

    def logits(self, ids: torch.Tensor, attention: torch.Tensor,
               wanted: torch.Tensor | None = None) -> torch.Tensor:
        """(B, L, V) float32 logits on the CPU. With ``wanted`` (B, L, bool) the output head
        runs at those positions only and only they are copied back; the others are left
        uninitialised (the sampler never reads them): on a GPU this saves the head over the
        whole context and a (B, L, V) transfer per pass."""
        shape = tuple(ids.shape)
        with torch.inference_mode():
            if self.prefix:
                ids, attention, wanted = self._framed(ids, attention, wanted)
            h = self.model.hidden(ids.to(self.model.embed.device), attention)
            if self.prefix:
                h = h[:, len(self.prefix):]
                wanted = None if wanted is None else wanted[:, len(self.prefix):]
            if wanted is None:
                return self._pool(self.model.logits_of(h).float()).cpu()
            at = wanted.to(h.device)
            picked = self._pool(self.model.logits_of(h[at]).float()).cpu()
            out = torch.empty((*shape, picked.shape[-1]), dtype=torch.float32)
            out[wanted.cpu()] = picked
            return out

    def _framed(self, ids, attention, wanted):
        """The chat frame put before every row (attended to like the rest of the row)."""
        frame = torch.tensor(self.prefix, dtype=ids.dtype).expand(ids.shape[0], -1)
        ids = torch.cat([frame, ids.cpu()], dim=1)
        attention = torch.cat([torch.ones_like(frame), attention.cpu().to(frame.dtype)], dim=1)
        if wanted is not None:
            wanted = torch.cat([torch.zeros_like(frame, dtype=torch.bool), wanted.cpu()], dim=1)
        return ids, attention, wanted

    def _pool(self, logits: torch.Tensor) -> torch.Tensor:
        """The null's probability absorbs that of the ids that mean the same (``pooled``)."""
        if self.pooled and self.null_id is not None:
            group = [self.null_id, *self.pooled]
            logits[..., self.null_id] = torch.logsumexp(logits[..., group], dim=-1)
            logits[..., list(self.pooled)] = float("-inf")
        return logits


def special_ids(tokenizer, vocab_size: int) -> set[int]:
    """Every special/added token id of the tokenizer that exists in the model's vocabulary."""
    return {i for i in tokenizer.specials.values() if 0 <= i < vocab_size}


def check_ids(conv: Conventions, vocab_size: int, path: Path) -> None:
    native.check_ids({name: getattr(conv, name) for name in
                      ("mask_id", "bos_id", "eos_id", "null_id", "pad_id", "expand_id")},
                     vocab_size, path, "config.json / tokenizer")


def load_llada(path: Path, device: str, backend=None, config=None, *,
               trust_remote_code: bool = False) -> NativeDenoiser:
    """Registry loader (``infill.backends.BACKENDS``) for LLaDA checkpoints."""
    from infill.backends import llada

    return load_native(path, llada, device)


def load_dream(path: Path, device: str, backend=None, config=None, *,
               trust_remote_code: bool = False) -> NativeDenoiser:
    """Registry loader for Dream-family checkpoints (Dream, Dream-Coder, DiffuCoder, DreamOn)."""
    from infill.backends import dream

    return load_native(path, dream, device)


def load_native(path: Path, family_module, device: str, dtype: str | None = None) -> NativeDenoiser:
    """Load ``path`` with ``family_module`` (llada or dream) on ``device`` ("auto" resolved).
    Weights are bf16 on CUDA and float32 elsewhere; ``dtype`` or ``INFILL_DTYPE`` (``bfloat16``,
    ``float32``, ``float16``) overrides (bf16 halves the memory of an 8B model on a CPU)."""
    import os

    from infill.backends.base import prepare_device

    device = prepare_device(device)
    dtype = dtype or os.environ.get("INFILL_DTYPE") or None
    config = native.read_config(path)
    tokenizer = load_tokenizer(path)
    arch = family_module.arch_from_config(config, path)
    conv = family_module.conventions(config, tokenizer, path, arch.vocab_size)
    check_ids(conv, arch.vocab_size, path)
    frame = _chat_frame(path, config, tokenizer, conv)
    if frame:
        conv = replace(conv, bos_id=None)  # the frame starts with the template's own BOS
    model = family_module.load_model(path, device, native.default_dtype(device, dtype), config)
    max_context = min(arch.max_context, int(conv.defaults.get("max_context", arch.max_context)))
    max_context -= len(frame)
    defaults = _runnable(conv.defaults)
    denoiser = NativeDenoiser(
        name=path.name, codec=TextCodec(tokenizer), mask_id=conv.mask_id, null_id=conv.null_id,
        bos_id=conv.bos_id, eos_id=conv.eos_id, pad_id=conv.pad_id, max_context=max_context,
        shifted_logits=conv.shifted_logits, defaults=defaults, device=device,
        backend=conv.family, path=str(path), parameters=model.parameters_count())
    denoiser.model = model
    denoiser.pooled = tuple(i for i in conv.pooled if i != conv.null_id)
    denoiser.banned = conv.banned
    denoiser.family = conv.family
    denoiser.expand_id = conv.expand_id
    denoiser.prefix = tuple(frame)
    if conv.expand_id is not None and conv.eos_id is not None:
        from functools import partial

        from infill.backends.dreamon import sample_batch
        denoiser.sampler = partial(sample_batch, expand_id=conv.expand_id, eos_id=conv.eos_id,
                                   pad_id=conv.pad_id)
    return denoiser


def _chat_frame(path: Path, config: dict, tokenizer, conv: Conventions) -> list[int]:
    """An instruct checkpoint's chat frame (``chat.py``); none for base models and DreamOn
    (trained on raw ``<bos> prefix <masks> suffix <eos>`` canvases). ``INFILL_CHAT=0`` turns
    it off, ``INFILL_CHAT=1`` on for a checkpoint whose name does not say "instruct"."""
    import os

    from infill.backends import chat

    wanted = os.environ.get("INFILL_CHAT")
    use = chat.is_instruct(path, config) if wanted in (None, "") else wanted not in ("0", "false", "no")
    if not use or conv.family == "dreamon":
        return []
    return chat.frame_ids(tokenizer) or []


def _runnable(defaults: dict) -> dict:
    """The family's recommended settings that this sampler can run (a strategy it does not
    know falls back to ``confidence``)."""
    from infill import sampler

    out = dict(defaults)
    if out.get("strategy") not in getattr(sampler, "STRATEGIES", (out.get("strategy"),)):
        out["strategy"] = "confidence"
    return out


def describe(path: Path, backend: str) -> str:
    """One line for ``infill models``: the family variant and its recommended settings, read
    from config.json and the tokenizer's special tokens only (no weights are read)."""
    import json

    from infill.backends import dream, llada
    from infill.backends.tokenizer_files import FileTokenizer, added_tokens

    try:
        config = native.read_config(path)
        specials, tok_config = added_tokens(path)
        module = llada if backend == "llada" else dream
        arch = module.arch_from_config(config, path)
        tokenizer = FileTokenizer(None, specials, tok_config)
        conv = module.conventions(config, tokenizer, path, arch.vocab_size)
    except (ModelError, KeyError, TypeError, ValueError) as exc:
        return f"cannot read it: {exc}"
    from infill.backends import chat

    context = min(arch.max_context, int(conv.defaults.get("max_context", arch.max_context)))
    settings = {k: v for k, v in conv.defaults.items() if k != "max_context"}
    framed = (chat.is_instruct(path, config) and conv.family != "dreamon"
              and bool(tok_config.get("chat_template")))
    return (f"{conv.family}{' (instruct: canvases in its chat frame)' if framed else ''}, "
            f"context {context} tokens, mask {conv.mask_id}, defaults {json.dumps(settings)}")
