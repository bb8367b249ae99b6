"""Rewrite strength < 1 with a model trained on masked positions only (LLaDA, Dream): the old
tokens are judged by masking them in chunks, each read from its context (DESIGN section 5)."""

from __future__ import annotations

import torch

from infill.batch import Batch
from infill.options import SamplerOptions
from infill.sampler import sample

MASK = 9


def test_chunked_rescoring_masks_each_old_token_once_and_reads_it_masked():
    ids = torch.tensor([[1, 2, 3, 4, 5, 6, 7, 8]])
    rescore = torch.tensor([[False, True, True, True, True, True, True, False]])
    seen = []
    # the model is sure of every token it can see and gives the masked one p depending on id
    def logits_fn(x, att, wanted):
        seen.append(x.clone())
        logits = torch.full((1, 8, 10), -30.0)
        logits[0, torch.arange(8), x[0].clamp(max=9)] = 0.0
        for i in range(8):
            if x[0, i] == MASK:
                logits[0, i, ids[0, i]] = -float(ids[0, i])  # higher id: less likely
                logits[0, i, 0] = 0.0
                logits[0, i, MASK] = -30.0
        return logits

    batch = Batch(ids, torch.ones_like(ids), rescore.clone(), [torch.Generator()], MASK,
                  rescore=rescore, rescore_fraction=[0.5], rescore_chunks=4)
    out = sample(logits_fn, batch, SamplerOptions(steps=8), on_step=None)
    judging = seen[:4]
    hidden = [set((x[0] == MASK).nonzero().flatten().tolist()) for x in judging]
    assert hidden == [{1, 5}, {2, 6}, {3}, {4}]  # every old token masked exactly once
    # the half judged least likely (highest ids: 7, 6, 5 at positions 6, 5, 4) was remasked
    assert out.steps[0].remasked == [[4, 5, 6]]
    assert out.forward_passes <= 8


def test_native_rewrite_uses_chunked_judging(tmp_path):
    from dllm_tiny import write_model

    import infill

    filler = infill.load(str(write_model(tmp_path / "m", "llada")), device="cpu")
    assert not filler.denoiser.scores_visible
    text = "a = 1\n# >>> infill strength=0.5\nb = a + 2\nc = b * 3\n# <<< infill\n"
    result = filler.fill_text(text, steps=6)
    assert result.forward_passes <= 6
    assert result.text.startswith("a = 1\n")
