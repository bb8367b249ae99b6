"""The native ModernBERT forward (``infill.backends.modernbert``) against transformers'.

Parity to 1e-4 in float32 on the bundled house model and on a tiny random config with local
windows, global layers, two RoPE thetas and padding; logits at chosen positions and the
context cache checked against the full pass. No timing here (docs/BENCHMARKS.md has it).

``INFILL_TEST_DEVICE=cuda`` runs the native forward on a GPU instead (the device session's
backend checks, docs/TRAINING.md): float32 there with a looser tolerance, the references and
comparisons on the CPU.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from infill.backends import load_backend
from infill.backends.cpu import cpu_does_bf16, cpu_threads, pick_dtype
from infill.backends.modernbert import ModernBert, ModernBertShape, load_weights, read_shape
from infill.errors import ModelError

HOUSE = Path(__file__).resolve().parent.parent / "models" / "house"
DEVICE = os.environ.get("INFILL_TEST_DEVICE", "cpu")
TOL = 1e-4 if DEVICE == "cpu" else 1e-3     # another device's float32 kernels: other sums


def _reference(path: Path):
    from transformers import AutoModelForMaskedLM

    return AutoModelForMaskedLM.from_pretrained(path, dtype=torch.float32, local_files_only=True).eval()


def _random_pair():
    """A tiny ModernBERT with local windows, two thetas, and norms that are not all ones."""
    from transformers import ModernBertConfig, ModernBertForMaskedLM

    torch.manual_seed(0)
    config = ModernBertConfig(
        vocab_size=99, hidden_size=32, intermediate_size=48, num_hidden_layers=4,
        num_attention_heads=2, max_position_embeddings=64, local_attention=8,
        global_attn_every_n_layers=2, global_rope_theta=500.0, local_rope_theta=77.0,
        pad_token_id=0, bos_token_id=1, eos_token_id=2, cls_token_id=1, sep_token_id=2)
    ref = ModernBertForMaskedLM(config).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    shape = ModernBertShape.from_config(config.to_dict())
    return ref, ModernBert(shape, dict(ref.state_dict()), device=DEVICE)


def _batch(vocab: int, length: int, pads: list[int], seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, vocab, (len(pads), length), generator=g)
    attention = torch.ones(len(pads), length, dtype=torch.long)
    for b, pad in enumerate(pads):
        if pad:
            attention[b, length - pad:] = 0
            ids[b, length - pad:] = 4
    return ids, attention


def _ref_logits(ref, ids, attention):
    with torch.inference_mode():
        return ref(input_ids=ids, attention_mask=attention).logits


@pytest.mark.parametrize("which", ["house", "random"])
def test_full_pass_matches_transformers(which):
    if which == "house":
        ref, net = _reference(HOUSE), ModernBert(read_shape(HOUSE), load_weights(HOUSE), device=DEVICE)
        ids, attention = _batch(16384, 120, [0, 37, 100])
    else:
        ref, net = _random_pair()
        ids, attention = _batch(99, 40, [0, 15])
    assert net.shape.global_layers.count(False) == (0 if which == "house" else 2)
    expected = _ref_logits(ref, ids, attention)
    got = net.logits(ids, attention).cpu()
    real = attention.bool()
    assert torch.isfinite(got).all()
    assert (got - expected)[real].abs().max() < TOL


@pytest.mark.parametrize("which", ["house", "random"])
def test_logits_at_chosen_positions_match_the_full_pass(which):
    net = (ModernBert(read_shape(HOUSE), load_weights(HOUSE), device=DEVICE) if which == "house"
           else _random_pair()[1])
    vocab = net.shape.vocab_size
    ids, attention = _batch(vocab, 40, [0, 10, 3])
    where = torch.zeros(ids.shape, dtype=torch.bool)
    where[0, 3:9] = True
    where[1, 29] = True              # one position; row 2 has none
    full = net.logits(ids, attention).cpu()
    got = net.logits(ids, attention, where).cpu()
    assert got.shape == (7, vocab)
    assert (got - full[where]).abs().max() < TOL


def test_context_cache_is_exact_while_the_context_has_not_changed():
    """Fast-dLLM's dual cache is approximate only because the context's hidden states go
    stale; with unchanged ids, recomputing the slots against the cache is the full pass."""
    _, net = _random_pair()
    ids, attention = _batch(99, 40, [0, 12])
    full = net.logits(ids, attention).cpu()
    _, cache = net.encode(ids, attention)
    positions = torch.tensor([[4, 5, 6, 20], [10, 11, 11, 11]])   # row 1 pads by repeating
    got = net.logits_active(ids.gather(1, positions), positions, cache).cpu()
    expected = full[torch.arange(2)[:, None], positions]
    assert (got - expected).abs().max() < TOL
    # Logits at some positions only, rows of uneven length: in row-major order.
    where = torch.tensor([[False, True, False, True], [True, False, False, False]])
    got = net.logits_active(ids.gather(1, positions), positions, cache, where).cpu()
    assert (got - expected[where]).abs().max() < TOL
    # Every position active (nothing cached): the uncached forward again.
    everything = torch.arange(40).expand(2, 40)
    assert (net.logits_active(ids, everything, cache).cpu() - full)[attention.bool()].abs().max() < TOL


def test_context_cache_sees_new_slot_tokens():
    _, net = _random_pair()
    ids, attention = _batch(99, 40, [0, 0])
    _, cache = net.encode(ids, attention)
    changed = ids.clone()
    changed[:, 5] = 7
    positions = torch.tensor([[5, 6], [5, 6]])
    got = net.logits_active(changed.gather(1, positions), positions, cache).cpu()
    stale = net.logits(ids, attention)[:, 5:7].cpu()
    assert (got - stale).abs().max() > 1e-3


def test_bfloat16_is_close_to_float32():
    weights = load_weights(HOUSE)
    f32 = ModernBert(read_shape(HOUSE), weights, device=DEVICE)
    b16 = ModernBert(read_shape(HOUSE), weights, torch.bfloat16, DEVICE)
    ids, attention = _batch(16384, 64, [0])
    a = f32.logits(ids, attention).log_softmax(-1).cpu()
    b = b16.logits(ids, attention).log_softmax(-1).cpu()
    assert b.dtype == torch.float32
    agree = (a.argmax(-1) == b.argmax(-1)).float().mean()
    assert agree > 0.9


def test_house_checkpoint_loads_without_transformers(tiny_model_dir):
    code = ("import sys, torch, infill; f = infill.load(sys.argv[1], device='cpu');"
            "r = f.fill_text('def f():\\n    return __FILL__\\n'); assert '__FILL__' not in r.text;"
            "print(f.info.backend, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tiny_model_dir)], capture_output=True,
                         text=True, check=True, timeout=120)
    assert out.stdout.split() == ["house", "False"]


def test_house_and_hf_backends_give_the_same_fill(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("INFILL_DTYPE", "float32")
    house = load_backend(str(tiny_model_dir), "cpu")
    hf = load_backend(str(tiny_model_dir), "cpu", backend="hf-mlm")
    assert (house.backend, hf.backend) == ("house", "hf-mlm")
    assert house.parameters == hf.parameters
    ids, attention = _batch(house.codec.vocab_size, 30, [0, 9])
    assert (house.logits(ids, attention) - hf.logits(ids, attention))[attention.bool()].abs().max() < TOL


def test_dtype_choice(monkeypatch):
    monkeypatch.delenv("INFILL_DTYPE", raising=False)
    assert cpu_does_bf16({"avx512f", "avx512_bf16"}) and cpu_does_bf16({"amx_bf16"})
    assert not cpu_does_bf16({"avx512f", "avx2"})
    assert pick_dtype("cuda") == "bfloat16" and pick_dtype("mps") == "float32"
    assert pick_dtype("cpu") == ("bfloat16" if cpu_does_bf16() else "float32")
    assert pick_dtype("cpu", "float32") == "float32"
    monkeypatch.setenv("INFILL_DTYPE", "bfloat16")
    assert pick_dtype("cpu") == "bfloat16"
    monkeypatch.setenv("INFILL_DTYPE", "fp8")
    with pytest.raises(ModelError, match="INFILL_DTYPE"):
        pick_dtype("cpu")


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5", " ", "99999999999999999999x"])
def test_bad_thread_counts_are_errors(value, monkeypatch):
    monkeypatch.setenv("INFILL_THREADS", value)
    if not value.strip():
        assert cpu_threads() >= 1    # blank is unset
        return
    with pytest.raises(ModelError, match="INFILL_THREADS"):
        cpu_threads()


def test_thread_count_is_read(monkeypatch):
    monkeypatch.setenv("INFILL_THREADS", "3")
    assert cpu_threads() == 3
    monkeypatch.delenv("INFILL_THREADS")
    assert cpu_threads() == max(1, (os.cpu_count() or 2) - 1)


@pytest.mark.parametrize("value", ["0", "abc"])
def test_fill_with_bad_threads_exits_2_with_a_reason(value, tmp_path, tiny_model_dir):
    f = tmp_path / "a.py"
    f.write_text("def add(a, b):\n    return __FILL__\n")
    proc = subprocess.run([sys.executable, "-m", "infill", "fill", str(f), "--model", str(tiny_model_dir)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "INFILL_THREADS": value})
    assert proc.returncode == 2
    assert f"INFILL_THREADS='{value}'" in proc.stderr and "at least 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_house_model_fills_on_the_test_device(monkeypatch):
    """The whole engine on the test device (candidates, retries and copies batched into rows
    there): in float32 it writes what it writes on the CPU, and in the device's own dtype
    (bf16 on CUDA) it fills every hole with text."""
    import infill

    text = ("def mean(values):\n    total = __FILL__\n    return total / len(values)\n\n\n"
            "def largest(values):\n    __FILL__\n")
    if DEVICE != "cpu":
        monkeypatch.setenv("INFILL_DTYPE", "float32")
        here = infill.load(str(HOUSE), device="cpu").fill_text(text, path="m.py")
        there = infill.load(str(HOUSE), device=DEVICE).fill_text(text, path="m.py")
        assert there.text == here.text, (there.text, here.text)
        monkeypatch.delenv("INFILL_DTYPE")
    native = infill.load(str(HOUSE), device=DEVICE)
    result = native.fill_text(text, path="m.py")
    assert "__FILL__" not in result.text and len(result.spans) == 2
    assert all(span.text.strip() for span in result.spans), result.text
