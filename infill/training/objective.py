"""The masked-diffusion training objective, as short pure functions over token id tensors.

Forward process (MDLM / LLaDA): every *maskable* position is replaced by ``<mask>`` with
probability ``t``, ``t ~ U(eps, 1]`` per example. The loss is the cross-entropy at masked
positions weighted by ``1/t`` (time-agnostic: the model gets no ``t`` input).

Replaced-token detection (for rewrite strength < 1, DESIGN.md section 5): of the positions left
visible, a share ``replace_rate`` is replaced by random ordinary tokens, and an equal share is
left as it is but *checked*. At checked positions (replaced or kept) the model is trained to
predict the original token from what it sees. Without the kept half every loss target at a
visible position would differ from the token shown, and the model would learn to give the
visible token probability ~0 everywhere, which makes ``p(current token)`` useless for ranking
the tokens to re-mask.

Nothing here knows about text; ``data.py`` builds the examples.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F


class Noised(NamedTuple):
    """The output of ``apply_noise``; all tensors are ``(B, L)``."""

    noisy_ids: torch.Tensor  # (B, L) long: ids with masks and replacements applied
    masked: torch.Tensor  # (B, L) bool: set to <mask>
    replaced: torch.Tensor  # (B, L) bool: visible, changed to a random ordinary token
    kept: torch.Tensor  # (B, L) bool: visible, unchanged, but checked by the loss


@dataclass
class LossOut:
    """The training loss and its parts (scalars; ``loss`` carries the graph).

    The counts are 0-d tensors on the loss's device, so that computing the loss never waits
    for the accelerator; ``int()`` one to read it. ``n_selected`` (masked + checked) is known
    on the host from the shapes alone.
    """

    loss: torch.Tensor
    masked_ce: torch.Tensor  # sum over masked of CE / t, divided by the number of maskable tokens
    replaced_ce: torch.Tensor  # mean CE over checked (replaced + kept) positions
    n_masked: torch.Tensor
    n_maskable: torch.Tensor
    n_checked: torch.Tensor
    n_selected: int


def sample_t(batch_size: int, eps: float = 1e-3, generator: torch.Generator | None = None,
             device: str | torch.device = "cpu") -> torch.Tensor:
    """Noise levels ``t ~ U(eps, 1]``, one per example: ``(B,)`` float."""
    u = torch.rand(batch_size, generator=generator, device=device)  # (B,)
    return eps + (1.0 - eps) * (1.0 - u)  # (B,), 1-u in (0, 1]


def mask_positions(maskable: torch.Tensor, t: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Bernoulli(t) per maskable position: ``(B, L)`` bool, never outside ``maskable``."""
    u = torch.rand(maskable.shape, generator=generator, device=maskable.device)  # (B, L)
    return maskable & (u < t[:, None])  # (B, L)


def ordinary_ids(vocab_size: int, special_ids, device: str | torch.device = "cpu") -> torch.Tensor:
    """The ids a random replacement may use: every id that is not special, ``(V',)``."""
    keep = torch.ones(vocab_size, dtype=torch.bool, device=device)
    keep[torch.as_tensor(sorted(set(special_ids)), dtype=torch.long, device=device)] = False
    return keep.nonzero().squeeze(1)  # (V',)


@functools.lru_cache(maxsize=8)
def _noise_tables(vocab_size: int, special_ids: tuple[int, ...], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(the special ids, the ordinary ids) on ``device``, made once: building them copies from
    the host and counts (``nonzero``), and each would make every training step wait for the
    accelerator. Read-only: callers must not write into them."""
    specials = torch.as_tensor(special_ids, dtype=torch.long, device=device)  # (S,)
    return specials, ordinary_ids(vocab_size, special_ids, device)


def random_replacements(ids: torch.Tensor, allowed: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random id from ``allowed`` per position, always different from ``ids``: ``(B, L)``."""
    n = allowed.numel()
    idx = torch.randint(0, n, ids.shape, generator=generator, device=ids.device)  # (B, L)
    cand = allowed[idx]  # (B, L)
    clash = cand == ids
    return torch.where(clash, allowed[(idx + 1) % n], cand)  # (B, L)


def apply_noise(ids: torch.Tensor, maskable: torch.Tensor, t: torch.Tensor, mask_id: int, vocab_size: int,
                replace_rate: float = 0.05, special_ids=(), protected: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> Noised:
    """Mask ``maskable`` positions with probability ``t``; replace some visible tokens.

    ids: (B, L) long; maskable: (B, L) bool; t: (B,) float.
    ``special_ids`` are never used as replacements. ``protected`` (B, L) bool marks positions
    never touched (``<bos>``, ``<lang:…>``, ``<eos>``, ``<pad>``); when ``None``, every position
    holding a special id that is not maskable is protected (a span's ``<null>`` is maskable).
    Of the visible, unprotected positions, a share ``replace_rate`` gets a random ordinary id
    (``replaced``) and another share ``replace_rate`` of the rest is ``kept`` for the loss.
    """
    specials, allowed = _noise_tables(vocab_size, tuple(sorted(set(special_ids))), ids.device)
    if protected is None:
        protected = torch.isin(ids, specials.to(ids.dtype)) & ~maskable  # (B, L)
    maskable = maskable & ~protected
    masked = mask_positions(maskable, t, generator)  # (B, L)
    visible = ~masked & ~protected  # (B, L)
    u = torch.rand(ids.shape, generator=generator, device=ids.device)  # (B, L)
    replaced = visible & (u < replace_rate)  # (B, L)
    kept = visible & (u >= replace_rate) & (u < 2 * replace_rate)  # (B, L)
    noisy = torch.where(replaced, random_replacements(ids, allowed, generator), ids)  # (B, L)
    noisy = torch.where(masked, torch.full_like(ids, mask_id), noisy)  # (B, L)
    return Noised(noisy, masked, replaced, kept)


def sparse_diffusion_loss(logits: torch.Tensor, targets: torch.Tensor, is_masked: torch.Tensor,
                          t: torch.Tensor, n_maskable: int | torch.Tensor, mask_id: int) -> LossOut:
    """The loss over the selected positions only (the trainer's fast path).

    logits: (N, V) at the N positions that are masked or checked; targets: (N,) original ids;
    is_masked: (N,) bool (False: a checked visible position); t: (N,) the example's noise level.

    masked_ce  = sum_{masked i} CE_i / t_i  /  n_maskable
                 (an unbiased estimate of the mean per-maskable-token NELBO; n_maskable is
                 the number of maskable positions in the whole batch, masked or not)
    replaced_ce = mean_{checked i} CE_i     (weight 1)
    loss = masked_ce + replaced_ce

    No count is read on the host here (``n_maskable`` may be a 0-d tensor), so the loss never
    makes the accelerator wait for the Python side.
    """
    # (N, V) float32, always a new tensor: the caller's logits are never written into
    wide = logits.clone() if logits.dtype == torch.float32 else logits.float()
    wide[:, mask_id] = float("-inf")  # <mask> is never a valid prediction
    ce = F.cross_entropy(wide, targets, reduction="none")  # (N,)
    n_maskable = torch.as_tensor(n_maskable, device=ce.device)
    n_masked = is_masked.sum()
    n_checked = is_masked.numel() - n_masked
    masked_ce = (ce * is_masked / t).sum() / n_maskable.clamp(min=1)
    replaced_ce = (ce * ~is_masked).sum() / n_checked.clamp(min=1)
    return LossOut(masked_ce + replaced_ce, masked_ce.detach(), replaced_ce.detach(),
                   n_masked, n_maskable, n_checked, int(is_masked.numel()))


def diffusion_loss(logits: torch.Tensor, ids: torch.Tensor, masked: torch.Tensor, replaced: torch.Tensor,
                   t: torch.Tensor, maskable: torch.Tensor | None = None, kept: torch.Tensor | None = None,
                   mask_id: int = 0) -> LossOut:
    """The diffusion loss on full tensors (reference form of ``sparse_diffusion_loss``).

    logits: (B, L, V); ids: (B, L) clean ids; masked, replaced, kept, maskable: (B, L) bool;
    t: (B,). Checked positions are ``replaced | kept``. ``maskable`` defaults to ``masked``
    (then the normaliser is the number of masked tokens).
    """
    checked = replaced if kept is None else replaced | kept  # (B, L)
    select = masked | checked  # (B, L)
    n_maskable = (masked if maskable is None else maskable).sum()
    t_pos = t[:, None].expand_as(ids)  # (B, L)
    return sparse_diffusion_loss(logits[select], ids[select], masked[select], t_pos[select], n_maskable, mask_id)
