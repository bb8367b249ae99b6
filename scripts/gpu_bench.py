"""GPU benchmarks in one command: the house model's fill speed, and the memory and speed of
7-8B-shaped LLaDA and Dream networks with random weights.

    OUT=$OUT PYTHONPATH=. DEADLINE=480 python3 scripts/gpu_bench.py     # the device machine
    OUT=/tmp/bench python scripts/gpu_bench.py --device cpu --tiny       # here, in seconds

Made for a lent accelerator (docs/BENCHMARKS.md, "GPU benchmarks"): one command of at most
10 minutes, and only the files in $OUT come back. So every measurement is guarded on its own
(an error is written into the results and the next measurement runs), no measurement starts
DEADLINE seconds after the start (default 480), and $OUT/gpu_bench.json and $OUT/gpu_bench.md
are rewritten after every measurement: a run cut at its limit still returns all it measured.

Sections (``--sections``):
- ``house``: ``models/house`` through ``infill.load``: ms per forward pass per batch of
  windows; single-hole fills, the configured sampler against the one-token-per-pass
  reference (``infill.bench.time_pair``), whose p50 is the "per fill" latency; one
  ``fill_spans`` call on a file of many holes (a window per hole: one batched sampler run),
  whose filled tokens per second is the "batched" throughput.
- ``llada``, ``dream``: the native forward (``infill/backends/native.py``) of LLaDA-8B and
  Dream-7B, shaped by the released config.json (keys read by ``arch_from_config``), with random
  weights made on the device (nothing read from disk): weights and peak memory, ms per
  forward step per (batch, length), and filled tokens per second through ``sampler.sample``
  with the family's recommended settings and a fixed number of steps. Random weights: the
  fills are noise; only speed and memory mean anything.

``--tiny`` runs the same code at tiny shapes (hidden 64, 2 layers, a few fills), so a CPU test
proves the script end to end (tests/test_gpu_bench_script.py).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import statistics
import sys
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent

# config.json of GSAI-ML/LLaDA-8B-Instruct and Dream-org/Dream-v0-Instruct-7B: the keys the
# native loaders read (the rest take the released values as defaults).
LLADA_8B = {"model_type": "llada", "d_model": 4096, "n_layers": 32, "n_heads": 32, "n_kv_heads": 32,
            "mlp_hidden_size": 12288, "embedding_size": 126464, "vocab_size": 126464,
            "max_sequence_length": 4096, "rope_theta": 500000.0, "rms_norm_eps": 1e-05,
            "mask_token_id": 126336, "eos_token_id": 126081, "weight_tying": False}
DREAM_7B = {"model_type": "Dream", "hidden_size": 3584, "num_hidden_layers": 28,
            "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944,
            "vocab_size": 152064, "max_position_embeddings": 131072, "rope_theta": 1000000.0,
            "rms_norm_eps": 1e-06, "mask_token_id": 151666, "eos_token_id": 151643,
            "tie_word_embeddings": False}
TINY = {"llada": {"d_model": 64, "n_layers": 2, "n_heads": 4, "n_kv_heads": 4, "mlp_hidden_size": 128},
        "dream": {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
                  "num_key_value_heads": 2, "intermediate_size": 128}}
SECTIONS = {"house": "house model (models/house)",
            "llada": "LLaDA-8B shape, random bf16 weights (speed and memory only)",
            "dream": "Dream-7B (Qwen2.5-7B) shape, random bf16 weights (speed and memory only)"}
TARGETS = {"batched_filled_tokens_per_s": 20000, "single_fill_p50_ms": 50}  # the speed issue, H200


@dataclass(frozen=True)
class Plan:
    """How much each section measures: the device plan, or the tiny one for a CPU check."""

    single_fills: int = 48                  # house: single-hole records, reference vs configured
    hole_counts: tuple[int, ...] = (16, 64, 256)   # house: holes in the one file of a batched fill
    house_batches: tuple[int, ...] = (1, 64, 256)  # house: windows per forward pass
    batches: tuple[int, ...] = (1, 8, 32)   # llada/dream: rows per forward step
    lengths: tuple[int, ...] = (512, 2048)  # llada/dream: tokens per row
    sample_batches: tuple[int, ...] = (1, 8, 32)
    sample_length: int = 512
    slots: int = 64                         # masked slots per row (logits read per pass)
    steps: int = 16                         # sampler passes per fill (4 tokens a pass)
    repeats: int = 3                        # timed runs after a warm-up; the median is kept
    tiny: bool = False


TINY_PLAN = Plan(single_fills=3, hole_counts=(2, 4), house_batches=(1, 4), batches=(1, 2),
                 lengths=(32, 64), sample_batches=(1, 2), sample_length=48, slots=8, steps=4,
                 repeats=2, tiny=True)


# -- results -----------------------------------------------------------------------------------

class Results:
    """Every measurement so far, as JSON and as Markdown in ``out``, rewritten (through a
    rename) after each one, so a run cut at any point leaves two valid files."""

    def __init__(self, out: Path, meta: dict, sections: list[str]) -> None:
        self.out, self.started = out, time.monotonic()
        self.data = {"meta": meta, "targets": TARGETS,
                     "sections": {s: {"title": SECTIONS[s], "status": "pending", "rows": []}
                                  for s in sections}}
        out.mkdir(parents=True, exist_ok=True)
        self.save()

    def add(self, section: str, row: dict) -> None:
        part = self.data["sections"][section]
        part["rows"].append(row)
        states = [r["status"] for r in part["rows"]]
        ok, errors, skipped = states.count("ok"), states.count("error"), states.count("skipped")
        part["status"] = ("ok" if ok == len(states) else "skipped" if skipped == len(states)
                          else f"{ok} ok, {errors} failed, {skipped} skipped")
        self.save()

    def fail(self, section: str, error: str) -> None:
        self.data["sections"][section].update(status="error", error=error)
        self.save()

    def save(self) -> None:
        self.data["meta"]["elapsed_s"] = round(time.monotonic() - self.started, 1)
        for name, text in (("gpu_bench.json", json.dumps(self.data, indent=1, default=str) + "\n"),
                           ("gpu_bench.md", markdown(self.data))):
            staging = self.out / f".{name}.tmp"
            staging.write_text(text, encoding="utf-8")
            staging.replace(self.out / name)


def markdown(data: dict) -> str:
    """The results as Markdown: the machine, then a table per kind of row in each section."""
    meta = data["meta"]
    shapes = "tiny shapes (a CPU check)" if meta["plan"]["tiny"] else "full shapes"
    lines = ["# GPU benchmarks (scripts/gpu_bench.py)", "",
             f"{meta['date']}; {meta['device_name']}; torch {meta['torch']}, CUDA {meta['cuda']}, "
             f"Python {meta['python']}; {shapes}; deadline {meta['deadline_s']} s, "
             f"{meta['elapsed_s']} s spent.", "",
             f"Targets (house model): {data['targets']}.", ""]
    for name, part in data["sections"].items():
        lines += [f"## {name}: {part['title']}", "", f"status: {part['status']}", ""]
        if part.get("error"):
            lines += [f"error: `{part['error']}`", ""]
        for kind in dict.fromkeys(r["kind"] for r in part["rows"]):
            rows = [r for r in part["rows"] if r["kind"] == kind]
            keys = [k for k in dict.fromkeys(k for r in rows for k in r) if k != "kind"]
            lines += [f"| {kind} | " + " | ".join(keys[1:]) + " |",
                      "| --- " * len(keys) + "|"]
            lines += ["| " + " | ".join(_cell(r.get(k)) for k in keys) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return "" if value is None else str(value).replace("|", "/")


class Clock:
    """The deadline: seconds left of ``deadline`` from now."""

    def __init__(self, deadline: float) -> None:
        self.end = time.monotonic() + deadline

    def left(self) -> float:
        return self.end - time.monotonic()


def measure(results: Results, clock: Clock, section: str, kind: str, name: str, run,
            expect: float = 0.0) -> dict | None:
    """One measurement: ``run()`` -> a dict of numbers, unless the deadline has passed or
    would pass in the ``expect`` seconds it should take. The row (its numbers, or the error,
    or "skipped") is saved at once; returns the numbers or None."""
    row = {"kind": kind, "name": name}
    if clock.left() <= expect:
        why = "deadline" if clock.left() <= 0 else f"would end after the deadline (about {expect:.0f} s)"
        results.add(section, row | {"status": "skipped", "why": why})
        return None
    started = time.monotonic()
    try:
        value = run()
    except Exception as exc:  # any failure is a result: the next measurement still runs
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        print(f"  {section} {kind} {name}: {error}\n{traceback.format_exc(limit=3)}", flush=True)
        results.add(section, row | {"status": "error", "error": error[:500]})
        return None
    row |= {"status": "ok", **value, "wall_s": round(time.monotonic() - started, 2)}
    print(f"  {section} {kind} {name}: " + ", ".join(f"{k}={_cell(v)}" for k, v in value.items()),
          flush=True)
    results.add(section, row)
    return value


# -- timing ------------------------------------------------------------------------------------

def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def median_seconds(run, device: str, repeats: int) -> float:
    """Median wall time of ``run()`` over ``repeats`` calls after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def reset_peak(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def memory_gb(device: str, peak: bool = True) -> float | None:
    """Peak (or current) GPU memory allocated, in GB (1e9 bytes); None on a CPU."""
    if not device.startswith("cuda"):
        return None
    return round((torch.cuda.max_memory_allocated() if peak else torch.cuda.memory_allocated()) / 1e9, 2)


# -- house model -------------------------------------------------------------------------------

def bench_house(m, plan: Plan, device: str, model: Path) -> None:
    """The house model: forward passes, single fills (with the sampler ratio), batched fills."""
    import infill
    from infill import bench
    from infill.options import FillOptions

    state: dict = {}

    def load() -> dict:
        start = time.perf_counter()
        filler = state["filler"] = infill.load(str(model), device=device)
        return {"seconds": time.perf_counter() - start, "parameters": filler.info.parameters,
                "dtype": filler.denoiser.dtype, "max_context": filler.denoiser.max_context}

    if not m("load", "", load):
        return
    filler = state["filler"]
    net, width = filler.denoiser.net, filler.denoiser.max_context
    for rows in plan.house_batches:
        m("forward", f"{rows} x {width}", lambda rows=rows: house_forward(net, rows, width, 48, device, plan))

    codec = filler.denoiser.codec
    count = functools.lru_cache(maxsize=None)(lambda text: len(codec.encode(text)))
    records = bench.load_records()
    configured = FillOptions(candidates=1)

    def single() -> dict:
        workloads = bench.record_workloads(records[:plan.single_fills + 1])
        bench.time_pair(filler, workloads[:1], configured)  # warm-up
        ref, mine = (t.summary() for t in bench.time_pair(filler, workloads[1:], configured))
        latency, passes = bench.ratio_words(ref, mine)
        return {"fills": mine["fills"], "p50_ms": mine["p50_ms"], "p95_ms": mine["p95_ms"],
                "passes_per_fill": mine["passes_per_fill"], "tokens_per_s": mine["tokens_per_s"],
                "reference_p50_ms": ref["p50_ms"], "reference_passes_per_fill": ref["passes_per_fill"],
                "latency_vs_reference": latency, "passes_vs_reference": passes,
                "target_p50_ms": TARGETS["single_fill_p50_ms"],
                "met": mine["p50_ms"] < TARGETS["single_fill_p50_ms"]}

    m("single_fill", "one hole per fill", single)
    for holes in plan.hole_counts:
        m("batched_fill", f"{holes} holes",
          lambda holes=holes: house_batched(filler, records, holes, count, configured))


def house_forward(net, rows: int, width: int, slots: int, device: str, plan: Plan) -> dict:
    """One sampler pass of the house network: ``rows`` windows of ``width`` tokens, logits at
    ``slots`` positions per row (brought to the CPU, as the sampler reads them)."""
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(15, net.shape.vocab_size, (rows, width), generator=g)
    attention = torch.ones(rows, width, dtype=torch.long)
    where = torch.zeros(rows, width, dtype=torch.bool)
    where[:, width // 2:width // 2 + slots] = True
    reset_peak(device)
    with torch.inference_mode():
        seconds = median_seconds(lambda: net.logits(ids, attention, where), device, plan.repeats)
    return {"ms_per_pass": 1000 * seconds, "slots_per_s": rows * slots / seconds,
            "peak_gb": memory_gb(device)}


def house_batched(filler, records: list[dict], holes: int, count, options) -> dict:
    """One ``fill_spans`` call on a file of ``holes`` holes, each in a window of its own: the
    engine plans a canvas per window and samples them as one batch. Best of two calls (the
    first also warms up this batch shape)."""
    from infill import bench

    work = bench.make_workload(records, holes * 240, holes, 0, count)
    best = None
    for _ in range(2):
        start = time.perf_counter()
        result = filler.fill_spans(work.text, work.spans, work.language, 0, options=options)
        seconds = time.perf_counter() - start
        if best is None or seconds < best[0]:
            best = (seconds, result)
    seconds, result = best
    filled = sum(s.tokens for s in result.spans)
    return {"file_tokens": work.tokens, "filled_tokens": filled, "passes": result.forward_passes,
            "seconds": seconds, "filled_tokens_per_s": filled / seconds,
            "target_tokens_per_s": TARGETS["batched_filled_tokens_per_s"],
            "met": filled / seconds >= TARGETS["batched_filled_tokens_per_s"]}


# -- LLaDA and Dream, random weights -----------------------------------------------------------

def random_tensors(arch, device: str, dtype: torch.dtype, seed: int = 0) -> dict[str, torch.Tensor]:
    """Every tensor the native forward needs (``native.expected_shapes``), made on ``device``:
    norms at one, the rest normal with std 0.02 (LLaDA's init_std), so activations stay finite."""
    from infill.backends import native

    g = torch.Generator(device=device).manual_seed(seed)
    out = {}
    for key, shape in native.expected_shapes(arch).items():
        if key == "norm" or key.endswith("_norm"):
            out[key] = torch.ones(shape, device=device, dtype=dtype)
        else:
            out[key] = torch.empty(shape, device=device, dtype=dtype).normal_(0.0, 0.02, generator=g)
    return out


def bench_dllm(m, plan: Plan, device: str, family: str) -> None:
    """A 7-8B-shaped native network with random weights: memory, forward steps, sampling."""
    from infill.backends import dream, llada, native

    module, config = (llada, dict(LLADA_8B)) if family == "llada" else (dream, dict(DREAM_7B))
    if plan.tiny:
        config |= TINY[family]
    state: dict = {}

    def build() -> dict:
        arch = module.arch_from_config(config, Path(family))
        dtype = native.default_dtype(device)
        reset_peak(device)
        start = time.perf_counter()
        model = state["model"] = native.DecoderLM(arch, random_tensors(arch, device, dtype)).eval()
        sync(device)
        n = model.parameters_count()
        return {"seconds": time.perf_counter() - start, "parameters": n, "dtype": str(dtype),
                "expected_gb": round(n * torch.finfo(dtype).bits / 8 / 1e9, 2),
                "weights_gb": memory_gb(device, peak=False), "hidden": arch.hidden,
                "layers": arch.layers, "heads": f"{arch.heads}/{arch.kv_heads}",
                "vocab": arch.vocab_size}

    if not m("build", "random weights", build):
        return
    model = state["model"]
    last = None  # (seconds, size) of the last row of a kind: the next one's cost, scaled
    for batch in plan.batches:
        for length in plan.lengths:
            value = m("forward", f"{batch} x {length}",
                      lambda b=batch, n=length: dllm_forward(model, b, n, plan.slots, device, plan),
                      expect=scaled(last, batch * length))
            if value:
                last = (value["ms_per_step"] / 1000 * (plan.repeats + 2), batch * length)
    last = None
    for batch in plan.sample_batches:
        value = m("sample", f"{batch} x {plan.sample_length}",
                  lambda b=batch: dllm_sample(model, module, config, family, b, plan, device),
                  expect=scaled(last, batch))
        if value:
            last = (value["seconds"], batch)
    del state["model"], model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def scaled(last: tuple[float, int] | None, size: int) -> float:
    """The seconds a row of ``size`` should take, from the last row of its kind (seconds,
    size), if its cost grows with the size (an underestimate when it grows faster)."""
    return 0.0 if last is None else last[0] * size / last[1]


def dllm_forward(model, batch: int, length: int, slots: int, device: str, plan: Plan) -> dict:
    """One forward step as the sampler runs it: the whole canvas through the layers, the output
    head at ``slots`` positions per row only."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 100000 if model.arch.vocab_size > 100000 else model.arch.vocab_size,
                        (batch, length), generator=g).to(device)
    where = torch.zeros(batch, length, dtype=torch.bool, device=device)
    where[:, (length - slots) // 2:(length + slots) // 2] = True

    def step():
        with torch.inference_mode():
            return model.logits_of(model.hidden(ids)[where])

    reset_peak(device)
    seconds = median_seconds(step, device, plan.repeats)
    finite = bool(torch.isfinite(step().float()).all())
    return {"ms_per_step": 1000 * seconds, "tokens_per_s": batch * length / seconds,
            "peak_gb": memory_gb(device), "finite": finite}


def dllm_sample(model, module, config: dict, family: str, batch: int, plan: Plan, device: str) -> dict:
    """``sampler.sample`` over ``batch`` rows of ``plan.sample_length`` random tokens with
    ``plan.slots`` masked slots each (one hole per row, no null token: every slot is filled),
    in ``plan.steps`` passes, with the family's recommended settings; through the backend's
    own ``logits`` (output head at the masked slots only, logits to the CPU)."""
    from infill.backends.native_backend import NativeDenoiser
    from infill.batch import Batch
    from infill.engine import Filler
    from infill.options import SamplerOptions
    from infill.sampler import sample

    mask = int(config["mask_token_id"])
    shifted = family == "dream"
    denoiser = NativeDenoiser(name=family, codec=None, mask_id=mask, null_id=None, bos_id=None,
                              eos_id=None, pad_id=int(config["eos_token_id"]),
                              max_context=model.arch.max_context, shifted_logits=shifted,
                              device=device, backend=family)
    denoiser.model = model
    defaults = module.DEFAULTS if family == "llada" else module.DEFAULTS["dream"]
    options = SamplerOptions(**{k: v for k, v in defaults.items() if k != "max_context"},
                             steps=plan.steps)
    length, slots = plan.sample_length, plan.slots
    start_at = (length - slots) // 2
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(0, min(mask, 100000), (batch, length), generator=g)
    ids[:, start_at:start_at + slots] = mask
    where = torch.zeros(batch, length, dtype=torch.bool)
    where[:, start_at:start_at + slots] = True

    def run():
        generators = [torch.Generator().manual_seed(b) for b in range(batch)]
        rows = Batch(ids, torch.ones_like(ids), where, generators, mask,
                     slot_ranges=[[(start_at, start_at + slots)]] * batch)
        return sample(Filler(denoiser).logits_fn, rows, options)

    # No warm-up run: the forward rows above ran these shapes, and on a Dream model a
    # sampling run is the dearest measurement here (see docs/BENCHMARKS.md).
    reset_peak(device)
    sync(device)
    start = time.perf_counter()
    out = run()
    seconds = time.perf_counter() - start
    filled = int((out.ids[where] != mask).sum())
    return {"slots": slots, "filled_tokens": filled, "passes": out.forward_passes,
            "seconds": seconds, "ms_per_step": 1000 * seconds / max(out.forward_passes, 1),
            "filled_tokens_per_s": filled / seconds, "peak_gb": memory_gb(device),
            "settings": ", ".join(f"{k}={v}" for k, v in defaults.items() if k != "max_context")}


# -- main --------------------------------------------------------------------------------------

def describe_machine(device: str, plan: Plan, deadline: float) -> dict:
    cuda = device.startswith("cuda")
    name = torch.cuda.get_device_name(0) if cuda else platform.processor() or platform.machine()
    memory = torch.cuda.get_device_properties(0).total_memory / 1e9 if cuda else None
    return {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "device": device,
            "device_name": name, "device_memory_gb": memory and round(memory, 1),
            "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
            "command": " ".join(sys.argv), "deadline_s": deadline, "plan": asdict(plan),
            "note": "llada/dream use random weights: their fills are noise; speed and memory only"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.environ.get("OUT", "runs/gpu_bench"))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--deadline", type=float, default=float(os.environ.get("DEADLINE", 480)))
    parser.add_argument("--tiny", action="store_true", default=os.environ.get("TINY") == "1",
                        help="tiny shapes and a few fills (a CPU check of the script)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated: house,llada,dream")
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "house")
    args = parser.parse_args()
    clock = Clock(args.deadline)
    if str(ROOT) not in sys.path:  # run without PYTHONPATH=.: infill is imported lazily below
        sys.path.insert(0, str(ROOT))
    plan = TINY_PLAN if args.tiny else Plan()
    sections = [s for s in args.sections.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    meta = describe_machine(args.device, plan, args.deadline)
    print(f"{meta['device_name']} ({args.device}); torch {meta['torch']}, CUDA {meta['cuda']}, "
          f"Python {meta['python']}; deadline {args.deadline:.0f} s; out {args.out}", flush=True)
    results = Results(Path(args.out), meta, sections)
    for section in sections:
        def m(kind, name, run, expect=0.0, section=section):
            return measure(results, clock, section, kind, name, run, expect)
        try:
            if section == "house":
                bench_house(m, plan, args.device, args.model)
            else:
                bench_dllm(m, plan, args.device, section)
        except Exception as exc:  # a section's own code failed: record it, go on to the next
            traceback.print_exc()
            results.fail(section, f"{type(exc).__name__}: {exc}"[:500])
    results.save()
    print(f"done in {meta['elapsed_s']} s; {args.out}/gpu_bench.json and gpu_bench.md", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
