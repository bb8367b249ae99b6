"""The native LLaDA and Dream forwards and samplers against the official code.

References: tests/fixtures/dllm/, recorded by scripts/make_dllm_references.py with the
official modeling files under transformers 4.57 on the weights of tests/dllm_tiny.py (the
same seeded function builds them here). These tests run under the project's own install.

``INFILL_TEST_DEVICE=cuda`` runs the models on a GPU instead (docs/TRAINING.md, the device
session's backend checks): float32 there with a looser tolerance, the comparisons on the CPU.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch

from dllm_tiny import write_checkpoint
from infill.backends import dream, llada
from infill.batch import Batch
from infill.options import SamplerOptions
from infill.sampler import sample

FIXTURES = Path(__file__).parent / "fixtures" / "dllm"
DEVICE = os.environ.get("INFILL_TEST_DEVICE", "cpu")
TOL = 1e-4 if DEVICE == "cpu" else 1e-3     # another device's float32 kernels: other sums
BF16_STEP = 0.125 if DEVICE == "cpu" else 0.25
FAMILIES = {"llada": (llada, 126336, 126081), "dream": (dream, 151666, 151643)}


def references(family: str) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(FIXTURES / f"{family}.safetensors"))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """family -> a tiny checkpoint directory (config.json + bf16 model.safetensors)."""
    return {name: write_checkpoint(tmp_path_factory.mktemp(name), name) for name in FAMILIES}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family(request, checkpoints):
    name = request.param
    module = FAMILIES[name][0]
    return name, module.load_model(checkpoints[name], DEVICE, torch.float32), references(name)


def run_net(net, ids, attention=None):
    """The net's float32 logits on the CPU, the inputs moved to the test device."""
    with torch.inference_mode():
        out = net(ids.to(DEVICE)) if attention is None else net(ids.to(DEVICE), attention.to(DEVICE))
    return out.float().cpu()


def rows_of(ref):
    r = 0
    while f"forward.{r}.ids" in ref:
        yield r, ref[f"forward.{r}.ids"]
        r += 1


def check_row(ref, r, logits):
    """``logits``: (L, V) of forward row ``r``; compares columns, log-sum-exp and top-8."""
    cols = ref["columns"]
    assert (logits[:, cols] - ref[f"forward.{r}.logits"]).abs().max() <= TOL
    assert (torch.logsumexp(logits, -1) - ref[f"forward.{r}.lse"]).abs().max() <= TOL
    top = torch.topk(logits, 8, dim=-1)
    assert torch.equal(top.indices, ref[f"forward.{r}.top_ids"])
    assert (top.values - ref[f"forward.{r}.top_values"]).abs().max() <= TOL


def test_forward_matches_official_per_row(family):
    _, net, ref = family
    for r, ids in rows_of(ref):
        check_row(ref, r, run_net(net, ids[None])[0])


@pytest.mark.parametrize("side", ["left", "right"])
def test_padded_batch_matches_official_rows(family, side):
    """Rows of different lengths in one padded batch give each row's own logits: padding is
    masked out of attention and position ids skip it."""
    name, net, ref = family
    rows = [ids for _, ids in rows_of(ref)]
    width = max(len(r) for r in rows)
    pad = FAMILIES[name][2]
    ids = torch.full((len(rows), width), pad)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    where = []
    for b, row in enumerate(rows):
        at = slice(width - len(row), width) if side == "left" else slice(0, len(row))
        ids[b, at], attention[b, at] = row, 1
        where.append(at)
    logits = run_net(net, ids, attention)
    for b, at in enumerate(where):
        check_row(ref, b, logits[b, at])


def test_bfloat16_forward_matches_official_bfloat16(family, checkpoints):
    """In bf16 (the CUDA default, optional on CPU) the native forward gives the official
    code's bf16 logits (recorded on CPU: identical there; one bf16 step of slack for other
    CPUs' kernels), and stays close to float32."""
    name, net32, ref = family
    net16 = FAMILIES[name][0].load_model(checkpoints[name], DEVICE, torch.bfloat16)
    for r, ids in rows_of(ref):
        with torch.inference_mode():
            assert net16(ids[None].to(DEVICE)).dtype == torch.bfloat16
        b, a = run_net(net16, ids[None])[0], run_net(net32, ids[None])[0]
        got = b[:, ref["columns"]]
        assert (got - ref[f"forward.{r}.logits_bf16"]).abs().max() <= BF16_STEP
        assert (b - a).abs().max() / a.abs().max() < 0.05


# ------------------------------------------------------------------------ sampler parity

def run_sampler(net, ids, attention, slots, mask_id, shifted, strategy="confidence", block_length=None):
    """infill's sampler, greedy, one token per step (steps = slots); returns the canvas after
    every step (B, steps, L)."""
    def logits_fn(x, att, wanted=None):
        logits = run_net(net, x, att)
        if shifted:
            logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        return logits

    canvases = []
    steps = int(slots.sum(1).max())
    options = SamplerOptions(strategy=strategy, steps=steps, temperature=0.0, block_length=block_length)
    gens = [torch.Generator().manual_seed(0) for _ in range(ids.shape[0])]
    ranges = [[(int(r.nonzero()[0]), int(r.nonzero()[-1]) + 1)] for r in slots]
    batch = Batch(ids, attention, slots, gens, mask_id, slot_ranges=ranges)
    out = sample(logits_fn, batch, options,
                 on_step=lambda record, current, conf: canvases.append(current.clone()))
    assert out.forward_passes == steps
    return torch.stack(canvases, dim=1)


@pytest.mark.parametrize("block", [8, 4])
def test_llada_greedy_matches_generate_py(checkpoints, block):
    """LLaDA generate.py (steps = gen_length, low-confidence remasking, greedy; one block, or
    semi-autoregressive blocks of 4): the same token at the same step, every step, for both
    prompts batched with padding."""
    ref = references("llada")
    meta = json.loads((FIXTURES / "manifest.json").read_text())["families"]["llada"]["greedy"]["cases"]
    net = llada.load_model(checkpoints["llada"], DEVICE, torch.float32)
    names = [n for n in meta if meta[n]["block_length"] == block]
    prompts = [ref[n + ".prompt"] for n in names]
    gen = meta[names[0]]["gen_length"]
    width = max(len(p) for p in prompts) + gen
    ids = torch.full((len(names), width), 126081)
    attention = torch.zeros_like(ids)
    slots = torch.zeros_like(ids, dtype=torch.bool)
    for b, p in enumerate(prompts):  # left padding: the official runs each row alone, unpadded
        n = len(p) + gen
        ids[b, width - n:width - gen] = p
        ids[b, width - gen:] = 126336
        attention[b, width - n:] = 1
        slots[b, width - gen:] = True
    history = run_sampler(net, ids, attention, slots, 126336, shifted=False,
                          block_length=None if block == gen else block)
    for b, name in enumerate(names):
        n = len(prompts[b]) + gen
        assert torch.equal(history[b, :, width - n:], ref[name + ".history"]), name


@pytest.mark.parametrize("alg,strategy", [("maskgit_plus", "confidence"), ("topk_margin", "margin"),
                                          ("entropy", "entropy")])
def test_dream_greedy_matches_diffusion_generate(checkpoints, alg, strategy):
    """Dream diffusion_generate (greedy, one token per step; alg maskgit_plus / topk_margin /
    entropy = infill's confidence / margin / entropy) on a left-padded batch of two: the same
    canvas after every step."""
    ref = references("dream")
    net = dream.load_model(checkpoints["dream"], DEVICE, torch.float32)
    ids, attention = ref["greedy.ids"], ref["greedy.attention"]
    history_ref = ref[f"greedy.{alg}.history"]
    gen = history_ref.shape[1]
    ids = torch.cat([ids, torch.full((ids.shape[0], gen), 151666)], dim=1)
    attention = torch.cat([attention, torch.ones((ids.shape[0], gen), dtype=torch.long)], dim=1)
    slots = torch.zeros_like(ids, dtype=torch.bool)
    slots[:, -gen:] = True
    history = run_sampler(net, ids, attention, slots, 151666, shifted=True, strategy=strategy)
    assert torch.equal(history, history_ref)


def test_reference_fixtures_are_small():
    total = sum(f.stat().st_size for f in FIXTURES.iterdir())
    assert total < 1_000_000


def test_dreamon_sampler_matches_official(tmp_path):
    """DreamOn's variable-length sampler (expand -> two masks, EOS ends the middle, entropy
    order, one token per step) against DreamOn's own eval/generator.py: the same middle
    before every forward pass, the same result, the same number of passes; the recorded
    cases include spans that grew to the budget, ended early, and neither."""
    from infill.backends.dreamon import dreamon_sample

    ref = references("dreamon")
    meta = json.loads((FIXTURES / "manifest.json").read_text())["dreamon"]
    net = dream.load_model(write_checkpoint(tmp_path, "dream", variant="dreamon"), DEVICE, torch.float32)
    budget, initial = meta["max_gen_len"], meta["min_gen_len"]
    for name, case in meta["cases"].items():
        prompt = ref[name + ".prompt"].tolist()
        start = 1 + case["prefix_len"]
        row = prompt[:start] + [151666] * budget + prompt[start + initial:]
        seen = []

        def logits_fn(x, att):
            m = [t for t in x[0, start:].tolist()]
            seen.append(m[:len(m) - (x.shape[1] - int(att[0].sum())) - case["suffix_len"] - 1])
            logits = run_net(net, x, att)
            return torch.cat([logits[:, :1], logits[:, :-1]], dim=1)

        ids = torch.tensor([row])
        out, _, passes, _ = dreamon_sample(
            logits_fn, ids, torch.ones_like(ids), [[(start, start + budget)]], mask_id=151666,
            expand_id=151667, eos_id=151643, pad_id=151643, steps=None, strategy="entropy",
            initial=initial)
        middles = [[t for t in r if t >= 0] for r in ref[name + ".middles"].tolist()]
        final = [t for t in out[0, start:start + budget].tolist() if t != 151643]
        assert seen == middles[:-1], name
        assert final == middles[-1], name
        assert passes == case["passes"], name


def test_denoiser_logits_at_wanted_positions_only(tmp_path, monkeypatch):
    """``wanted`` computes the head where the sampler reads and gives the same numbers there."""
    from dllm_tiny import write_model
    from infill.backends.native_backend import load_llada

    monkeypatch.setenv("INFILL_DTYPE", "float32")
    d = load_llada(write_model(tmp_path / "m", "llada"), DEVICE)
    ids = torch.tensor([[126080, 5, 6, 126336, 126336, 7, 126081], [126080, 8, 126336, 9, 126081, 126081, 126081]])
    attention = torch.tensor([[1] * 7, [1] * 5 + [0] * 2])
    wanted = ids == 126336
    full = d.logits(ids, attention).cpu()
    part = d.logits(ids, attention, wanted).cpu()
    assert torch.allclose(full[wanted], part[wanted], atol=1e-5, rtol=0)
    assert torch.isinf(full[..., 126348]).all()  # EoT pooled into EOS, never chosen itself
