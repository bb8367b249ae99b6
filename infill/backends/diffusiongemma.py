"""DiffusionGemma as a prompted-infill backend, on transformers' own ``generate()``.

DiffusionGemma (``DiffusionGemmaForBlockDiffusion``, transformers >= 5.24) is an instruct
model that writes an answer block by block, denoising each block; it conditions on a prompt,
not on a masked canvas with text on both sides. So each span becomes a request: the text
before and after it go into the prompt with a placeholder where the span is, and the answer
is the span's text. The answer stops at the model's end of turn; special tokens are never
written. Every denoising step's draft (``put_draft`` on the streamer ``generate`` takes) is a
frame of the trajectory, so the editor animates it like any other fill.

The engine sees an ordinary ``Denoiser`` whose ``sampler`` does this (docs/CONTRACTS.md):
slots hold the answer's tokens and then the null (the pad token) for the unused ones, so
elastic length works as for the masked models. ``--steps`` bounds the denoising steps of the
whole fill; ``--seed`` seeds ``generate``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from infill.backends.base import Denoiser, TextCodec
from infill.errors import Cancelled, ModelError

PLACEHOLDER = "<FILL_HERE>"
PROMPT = ("Here is a file with one part missing, marked {placeholder}. Write exactly the text "
          "that belongs at {placeholder}: no explanation, no code fences, nothing that is "
          "already before or after it.\n\n{prefix}{placeholder}{suffix}")


@dataclass
class GemmaDenoiser(Denoiser):
    model: Any = None
    tokenizer: Any = None
    stops: tuple[int, ...] = ()    # ids that end an answer (EOS, end of turn, pad)
    specials: tuple[int, ...] = ()  # ids never written into a file

    def logits(self, ids, attention, wanted=None):
        raise ModelError("DiffusionGemma fills through generate(), not through canvas logits")

    def sampler(self, logits_fn, batch, options, *, on_step=None, cancel=None):
        return prompted_fill(self, batch, options, on_step=on_step, cancel=cancel)


class _Drafts:
    """The streamer ``generate`` reports to: keeps each denoising step's draft."""

    def __init__(self, on_draft) -> None:
        self.on_draft = on_draft
        self.blocks: list[torch.Tensor] = []

    def put(self, value) -> None:        # the prompt, then each finished block
        self.blocks.append(value)

    def put_draft(self, value) -> None:  # the argmax canvas of the current block, every step
        self.on_draft(value)

    def end(self) -> None:
        pass


def prompt_ids(d: GemmaDenoiser, prefix: str, suffix: str) -> torch.Tensor:
    text = PROMPT.format(placeholder=PLACEHOLDER, prefix=prefix, suffix=suffix)
    tok = d.tokenizer
    if getattr(tok, "chat_template", None):
        ids = tok.apply_chat_template([{"role": "user", "content": text}], add_generation_prompt=True,
                                      tokenize=True, return_dict=False)
        ids = ids["input_ids"] if isinstance(ids, dict) else ids
        return torch.tensor([list(ids)])
    bos = [tok.bos_token_id] if tok.bos_token_id is not None else []
    return torch.tensor([bos + d.codec.encode(text)])


def answer_tokens(d: GemmaDenoiser, tokens: list[int]) -> list[int]:
    """The answer up to its end (first stop id), without any special token."""
    out = []
    for t in tokens:
        if t in d.stops:
            break
        if t not in d.specials:
            out.append(t)
    return out


def prompted_fill(d: GemmaDenoiser, batch, options, *, on_step=None, cancel=None):
    from infill.sampler import SampleOutput, StepRecord

    ids = batch.ids.clone()
    confidence = torch.zeros(ids.shape, dtype=torch.float32)
    records: list = []
    passes = 0
    null = d.null_id if d.null_id is not None else d.pad_id
    requests = [(b, start, end) for b in range(batch.size) for start, end in (batch.slot_ranges or [[]])[b]]
    budget_steps = options.steps
    canvas = int(getattr(d.model.config, "canvas_length", 32) or 32)
    for n, (b, start, end) in enumerate(requests):
        if cancel is not None and cancel.is_set():
            raise Cancelled("fill cancelled")
        left = None if budget_steps is None else budget_steps - passes
        if (left is not None and left < 1) or end <= start:
            ids[b, start:end] = null                  # out of steps (or no slots): stays empty
            continue
        row = ids[b, : int(batch.attention[b].sum())].tolist()
        others = [(s, e) for bb, s, e in requests if bb == b]
        prefix = d.codec.decode(_context(row, 0, start, others, d))
        suffix = d.codec.decode(_context(row, end, len(row), others, d))
        prompt = prompt_ids(d, prefix, suffix).to(d.device)
        width = end - start
        # generate() denoises one canvas at a time with up to max_denoising_steps each, and
        # every canvas takes at least one step: with fewer steps left than the span needs
        # canvases, the answer is cut to the canvases the steps can pay for.
        wanted = width if left is None else min(width, left * canvas)
        blocks = -(-wanted // canvas)
        kwargs: dict[str, Any] = {"max_new_tokens": wanted}
        if left is not None:
            kwargs["max_denoising_steps"] = left // blocks
        if str(d.device) == "cpu":
            kwargs["disable_compile"] = True

        def on_draft(value, b=b, start=start, end=end):
            nonlocal passes
            passes += 1
            tokens = answer_tokens(d, value[0].tolist())[:width]
            before = ids[b, start:end].clone()
            ids[b, start:end] = null
            ids[b, start:start + len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            changed = (ids[b, start:end] != before).nonzero().flatten() + start
            record = StepRecord(passes, [changed.tolist() if i == b else [] for i in range(batch.size)])
            records.append(record)
            if on_step is not None:
                on_step(record, ids, confidence)

        torch.manual_seed(batch.generators[b].initial_seed() + n)
        out = d.model.generate(prompt, streamer=_Drafts(on_draft), **kwargs)
        sequences = out.sequences if hasattr(out, "sequences") else out
        tokens = answer_tokens(d, sequences[0, prompt.shape[1]:].tolist())[:width]
        ids[b, start:end] = null
        ids[b, start:start + len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        confidence[b, start:end] = 1.0
    logprob = torch.zeros_like(confidence)
    return SampleOutput(ids, confidence, logprob, records, passes)


def _context(row: list[int], start: int, end: int, spans, d: GemmaDenoiser) -> list[int]:
    """Context tokens in row[start:end], without other spans' slots and framing tokens."""
    keep = []
    for i in range(start, end):
        if any(s <= i < e for s, e in spans) or row[i] in d.specials:
            continue
        keep.append(row[i])
    return keep


def load(path: Path, device: str, backend=None, config=None, *,
         trust_remote_code: bool = False) -> GemmaDenoiser:
    """Registry loader: a DiffusionGemma checkpoint through transformers' own classes."""
    from infill.backends.native import check_weight_files

    try:
        from transformers import AutoTokenizer, DiffusionGemmaForBlockDiffusion
    except ImportError as exc:
        raise ModelError("DiffusionGemma needs transformers >= 5.24 (pip install -U transformers)",
                         path=str(path)) from exc
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    check_weight_files(path)
    dtype = torch.bfloat16 if str(device).startswith("cuda") else torch.float32
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = DiffusionGemmaForBlockDiffusion.from_pretrained(path, local_files_only=True, dtype=dtype)
        model.to(device).eval()
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load the model: {str(exc).splitlines()[0]}", path=str(path)) from exc
    except torch.OutOfMemoryError as exc:
        raise ModelError(f"out of {device} memory loading the model (try --device cpu)", path=str(path)) from exc
    specials = tuple(sorted(set(tokenizer.all_special_ids)))
    stops = {i for i in (tokenizer.eos_token_id, tokenizer.pad_token_id) if i is not None}
    for name in ("<end_of_turn>", "<turn|>", "<|turn_end|>"):
        i = tokenizer.convert_tokens_to_ids(name)
        if isinstance(i, int) and i != tokenizer.unk_token_id:
            stops.add(i)
    mask = tokenizer.mask_token_id if tokenizer.mask_token_id is not None else tokenizer.pad_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    text_config = getattr(model.config, "text_config", model.config)
    return GemmaDenoiser(
        name=path.name, codec=TextCodec(tokenizer), mask_id=int(mask), null_id=int(pad), bos_id=None,
        eos_id=None, pad_id=int(pad), max_context=int(getattr(text_config, "max_position_embeddings", 8192)),
        defaults={}, device=str(device), backend="diffusion-gemma", path=str(path),
        parameters=sum(p.numel() for p in model.parameters()), model=model, tokenizer=tokenizer,
        stops=tuple(sorted(stops)), specials=specials)
