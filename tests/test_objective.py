"""The diffusion objective and the training examples it is applied to."""

from __future__ import annotations

import math
import random

import pytest
import torch

from infill.training.data import ExampleBuilder, ExampleConfig, choose_span, collate
from infill.training.objective import apply_noise, diffusion_loss, sample_t, sparse_diffusion_loss
from infill.training.tokenizer import decode_ids, train_tokenizer

MASK, NULL, BOS, EOS, PAD, LANG = 0, 1, 2, 3, 4, 5
SPECIALS = list(range(15))
V = 50


def toy_batch(B=4, L=4000, seed=0):
    """<bos> <lang> content... <eos> <pad>...; maskable: the content."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(15, V, (B, L), generator=g)  # (B, L)
    ids[:, 0], ids[:, 1], ids[:, -3], ids[:, -2:] = BOS, LANG, EOS, PAD
    ids[:, 100:110] = NULL  # nulls inside the maskable region
    maskable = torch.zeros(B, L, dtype=torch.bool)
    maskable[:, 2:-3] = True
    return ids, maskable


def test_sample_t_range_and_seed():
    t = sample_t(10_000, eps=1e-3, generator=torch.Generator().manual_seed(1))
    assert t.shape == (10_000,) and float(t.min()) >= 1e-3 and float(t.max()) <= 1.0
    assert abs(float(t.mean()) - 0.5) < 0.02
    assert torch.equal(t, sample_t(10_000, eps=1e-3, generator=torch.Generator().manual_seed(1)))


def test_only_maskable_positions_are_masked_and_rate_tracks_t():
    ids, maskable = toy_batch()
    t = torch.tensor([0.1, 0.4, 0.7, 1.0])
    n = apply_noise(ids, maskable, t, MASK, V, 0.05, SPECIALS, generator=torch.Generator().manual_seed(0))
    assert not (n.masked & ~maskable).any()
    assert torch.equal(n.noisy_ids[n.masked], torch.full_like(ids[n.masked], MASK))
    rate = n.masked.sum(1) / maskable.sum(1)  # (B,)
    assert torch.allclose(rate, t, atol=0.03)


def test_specials_are_never_touched():
    ids, maskable = toy_batch()
    t = torch.full((4,), 0.5)
    n = apply_noise(ids, maskable, t, MASK, V, 0.3, SPECIALS, generator=torch.Generator().manual_seed(0))
    for col in (0, 1, -3, -2, -1):
        assert torch.equal(n.noisy_ids[:, col], ids[:, col])
        assert not (n.masked[:, col] | n.replaced[:, col] | n.kept[:, col]).any()


def test_replacements_are_ordinary_and_differ():
    ids, maskable = toy_batch()
    t = torch.full((4,), 0.3)
    n = apply_noise(ids, maskable, t, MASK, V, 0.1, SPECIALS, generator=torch.Generator().manual_seed(2))
    new = n.noisy_ids[n.replaced]
    assert new.numel() > 0
    assert bool((new >= 15).all())
    assert bool((new != ids[n.replaced]).all())
    assert not (n.replaced & n.masked).any() and not (n.replaced & n.kept).any() and not (n.kept & n.masked).any()
    visible = (~n.masked & (ids >= 15)).sum()
    assert abs(float(n.replaced.sum() / visible) - 0.1) < 0.01
    assert abs(float(n.kept.sum() / visible) - 0.1) < 0.01
    assert torch.equal(n.noisy_ids[n.kept], ids[n.kept])
    unchanged = ~n.masked & ~n.replaced
    assert torch.equal(n.noisy_ids[unchanged], ids[unchanged])


def test_loss_weights_are_one_over_t_by_hand():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 3, 6, generator=g)  # (B, L, V)
    ids = torch.tensor([[2, 3, 4], [5, 1, 2]])
    masked = torch.tensor([[True, False, True], [False, True, False]])
    replaced = torch.tensor([[False, True, False], [False, False, False]])
    kept = torch.tensor([[False, False, False], [True, False, False]])
    maskable = torch.tensor([[True, True, True], [True, True, False]])
    t = torch.tensor([0.25, 0.5])
    out = diffusion_loss(logits, ids, masked, replaced, t, maskable=maskable, kept=kept, mask_id=0)

    def ce(b, i):  # cross-entropy with <mask> (id 0) excluded from the softmax
        row = logits[b, i, 1:]
        return -(row[ids[b, i] - 1] - torch.logsumexp(row, 0)).item()

    masked_ce = (ce(0, 0) / 0.25 + ce(0, 2) / 0.25 + ce(1, 1) / 0.5) / 5  # 5 maskable tokens
    replaced_ce = (ce(0, 1) + ce(1, 0)) / 2
    assert math.isclose(float(out.masked_ce), masked_ce, rel_tol=1e-5)
    assert math.isclose(float(out.replaced_ce), replaced_ce, rel_tol=1e-5)
    assert math.isclose(float(out.loss), masked_ce + replaced_ce, rel_tol=1e-5)
    assert (int(out.n_masked), int(out.n_maskable), int(out.n_checked), out.n_selected) == (3, 5, 2, 5)


def test_mask_logit_is_never_a_prediction():
    logits = torch.zeros(4, 8)
    logits[:, 0] = 100.0  # the model "predicts" <mask>
    out = sparse_diffusion_loss(logits, torch.tensor([3, 4, 5, 6]), torch.tensor([True, True, False, False]),
                                torch.ones(4), 2, mask_id=0)
    assert math.isclose(float(out.masked_ce), math.log(7), rel_tol=1e-5)


# ---------------------------------------------------------------- examples

TEXT = "".join(
    f"def function_{i}(a, b):\n    value = a * {i} + b\n    if value > {i}:\n        return value\n    return None\n\n"
    for i in range(60)
)


@pytest.fixture(scope="module")
def tok(tmp_path_factory):
    return train_tokenizer([TEXT] * 3, vocab_size=300, out_dir=tmp_path_factory.mktemp("tok"))


def runs(mask):
    """(start, end) of the True runs in a list of bools."""
    out, start = [], None
    for i, m in enumerate(mask + [False]):
        if m and start is None:
            start = i
        if not m and start is not None:
            out.append((start, i))
            start = None
    return out


def test_span_examples_follow_the_canvas_layout(tok):
    builder = ExampleBuilder(tok, ExampleConfig(seq_len=128, plain_share=0.0))
    rng = random.Random(0)
    n_null_tail = 0
    for _ in range(200):
        ex = builder.build(TEXT, "python", rng)
        ids, mask = ex.input_ids, ex.maskable
        assert len(ids) == len(mask) <= 128
        assert ids[0] == BOS and ids[1] in (LANG, 14) and ids[-1] == EOS
        assert not mask[0] and not mask[1] and not mask[-1]
        # nulls appear only in the maskable region, after the span's tokens
        for i, m in zip(ids, mask):
            assert m or i >= 15 or i in (BOS, LANG, 14, EOS)
        for s, e in runs(mask):
            region = ids[s:e]
            k = next((j for j, x in enumerate(region) if x == NULL), len(region))
            assert all(x == NULL for x in region[k:]), "nulls follow the span"
            assert all(x >= 15 for x in region[:k])
            n_null_tail += len(region) - k
        # dropping the nulls gives a contiguous piece of the file (segments decode exactly)
        body = [i for i in ids[2:-1] if i != NULL]
        assert decode_ids(tok, body) in TEXT
    assert n_null_tail > 0


def test_plain_examples_make_all_content_maskable(tok):
    builder = ExampleBuilder(tok, ExampleConfig(seq_len=64, plain_share=1.0))
    ex = builder.build(TEXT, "python", random.Random(1))
    assert ex.n_spans == 0 and len(ex.input_ids) == 64
    assert ex.maskable == [False, False] + [True] * 61 + [False]


def test_choose_span_kinds():
    rng = random.Random(0)
    for _ in range(200):
        s, e = choose_span(TEXT, (0, len(TEXT)), 0, rng)  # rest of a line, after the indentation
        line_start = TEXT.rfind("\n", 0, s) + 1
        assert e > s and "\n" not in TEXT[s:e] and TEXT[e] == "\n"
        assert TEXT[line_start:s].strip() or TEXT[s] != " "
        s, e = choose_span(TEXT, (0, len(TEXT)), 1, rng)  # whole lines
        assert s == 0 or TEXT[s - 1] == "\n" or TEXT[TEXT.rfind("\n", 0, s) + 1:s].strip() == ""
        assert TEXT[s:e].count("\n") <= 8
        s, e = choose_span(TEXT, (0, len(TEXT)), 2, rng)  # random characters
        assert 1 <= e - s <= 200
        s, e = choose_span(TEXT, (0, len(TEXT)), 3, rng)  # empty
        assert s == e


def test_collate_pads():
    from infill.training.data import Example

    batch = collate([Example([2, 5, 20, 3], [False, False, True, False], row=7), Example([2, 5, 3], [False] * 3, row=9)],
                    pad_id=PAD, multiple=8)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["input_ids"][1].tolist() == [2, 5, 3] + [PAD] * 5
    assert batch["attention_mask"].sum().item() == 7
    assert batch["maskable"].sum().item() == 1
    assert batch["rows"].tolist() == [7, 9]


def test_loss_leaves_the_callers_logits_alone():
    """The <mask> column is forbidden on the loss's own float32 copy, never in the caller's tensor."""
    logits = torch.randn(4, 8)
    before = logits.clone()
    out = sparse_diffusion_loss(logits, torch.tensor([3, 4, 5, 6]), torch.tensor([True, True, False, False]),
                                torch.ones(4), 2, mask_id=0)
    assert torch.equal(logits, before) and torch.isfinite(out.loss)
    half = logits.bfloat16().requires_grad_()
    out = sparse_diffusion_loss(half, torch.tensor([3, 4, 5, 6]), torch.tensor([True, True, False, False]),
                                torch.ones(4), torch.tensor(2), mask_id=0)
    out.loss.backward()
    assert half.grad.dtype == torch.bfloat16 and bool((half.grad[:, 0] == 0).all())  # no gradient into <mask>
