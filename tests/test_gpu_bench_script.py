"""scripts/gpu_bench.py end to end on the CPU at tiny shapes, as the device machine runs it.

The script is the one command a GPU session runs; this proves that every section measures
something, that the results are valid JSON and Markdown in OUT, that a deadline already past
still leaves valid files (every section skipped), and that a failing section is recorded
while the others still run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_bench(out: Path, *flags: str, deadline: str = "300") -> dict:
    env = {**os.environ, "OUT": str(out), "DEADLINE": deadline, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "scripts/gpu_bench.py", "--device", "cpu", "--tiny", *flags],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (out / "gpu_bench.md").read_text().startswith("# GPU benchmarks")
    assert not list(out.glob(".*.tmp"))
    return json.loads((out / "gpu_bench.json").read_text())


def rows(data: dict, section: str, kind: str) -> list[dict]:
    found = [r for r in data["sections"][section]["rows"] if r["kind"] == kind]
    assert found and all(r["status"] == "ok" for r in found), (section, kind, found)
    return found


def positive(row: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(row[key], (int, float)) and row[key] > 0, (key, row)


@pytest.mark.slow
def test_tiny_run_measures_every_section(tmp_path):
    data = run_bench(tmp_path / "out")
    assert data["meta"]["plan"]["tiny"] and data["meta"]["torch"] == __import__("torch").__version__
    assert {s: p["status"] for s, p in data["sections"].items()} == {
        "house": "ok", "llada": "ok", "dream": "ok"}
    for row in rows(data, "house", "forward"):
        positive(row, "ms_per_pass", "slots_per_s")
    single = rows(data, "house", "single_fill")[0]
    positive(single, "fills", "p50_ms", "reference_p50_ms", "passes_per_fill", "reference_passes_per_fill")
    assert single["latency_vs_reference"].endswith(("faster", "slower", "(the same)"))
    for row in rows(data, "house", "batched_fill"):
        positive(row, "filled_tokens", "passes", "filled_tokens_per_s")
    plan = data["meta"]["plan"]
    for family in ("llada", "dream"):
        build = rows(data, family, "build")[0]
        positive(build, "parameters", "expected_gb")
        assert build["hidden"] == 64 and build["layers"] == 2
        forward = rows(data, family, "forward")
        assert len(forward) == len(plan["batches"]) * len(plan["lengths"])
        for row in forward:
            positive(row, "ms_per_step", "tokens_per_s")
            assert row["finite"] is True
        for row, batch in zip(rows(data, family, "sample"), plan["sample_batches"]):
            positive(row, "filled_tokens_per_s", "ms_per_step")
            assert row["filled_tokens"] == batch * plan["slots"] and row["passes"] == plan["steps"]
    text = (tmp_path / "out" / "gpu_bench.md").read_text()
    assert "## llada" in text and "| sample |" in text


def test_a_past_deadline_leaves_valid_files_with_every_section_skipped(tmp_path):
    data = run_bench(tmp_path / "out", deadline="0")
    assert {s: p["status"] for s, p in data["sections"].items()} == {
        "house": "skipped", "llada": "skipped", "dream": "skipped"}
    for part in data["sections"].values():
        assert [r["why"] for r in part["rows"]] == ["deadline"]


def test_a_failing_section_is_recorded_and_the_next_one_runs(tmp_path):
    data = run_bench(tmp_path / "out", "--sections", "house,llada", "--model", str(tmp_path / "missing"))
    house = data["sections"]["house"]
    assert house["status"] == "0 ok, 1 failed, 0 skipped"
    assert house["rows"][0]["kind"] == "load" and house["rows"][0]["error"]
    assert data["sections"]["llada"]["status"] == "ok"


@pytest.fixture
def bench(monkeypatch):
    """scripts/gpu_bench.py as a module."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_bench", ROOT / "scripts" / "gpu_bench.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "gpu_bench", module)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def test_a_measurement_that_would_pass_the_deadline_is_skipped(bench, tmp_path):
    results = bench.Results(tmp_path, bench.describe_machine("cpu", bench.TINY_PLAN, 60), ["house"])
    clock = bench.Clock(60)
    assert bench.measure(results, clock, "house", "forward", "a", lambda: {"ms": 1.0}, expect=5) == {"ms": 1.0}
    assert bench.measure(results, clock, "house", "forward", "b", lambda: {"ms": 1.0}, expect=120) is None
    rows = json.loads((tmp_path / "gpu_bench.json").read_text())["sections"]["house"]["rows"]
    assert [r["status"] for r in rows] == ["ok", "skipped"]
    assert rows[1]["why"].startswith("would end after the deadline")
    assert bench.scaled((2.0, 8), 32) == 8.0 and bench.scaled(None, 32) == 0.0


def test_full_shapes_are_the_released_models(bench):
    """8.0B and 7.6B parameters (16.0 and 15.2 GB in bf16), and the same special ids and
    numerics as the released configs that tests/dllm_tiny.py copies."""
    import math

    from dllm_tiny import DREAM_CONFIG, LLADA_CONFIG

    from infill.backends import dream, llada, native

    for module, config, released, billions in ((llada, bench.LLADA_8B, LLADA_CONFIG, 8.016),
                                               (dream, bench.DREAM_7B, DREAM_CONFIG, 7.616)):
        arch = module.arch_from_config(dict(config), Path("x"))
        count = sum(math.prod(shape) for shape in native.expected_shapes(arch).values())
        assert round(count / 1e9, 3) == billions
        tiny = module.arch_from_config(dict(released), Path("x"))
        for field in ("vocab_size", "rope_theta", "norm_eps", "max_context", "qkv_bias", "tied",
                      "rope_float32", "embed_scale", "logit_scale"):
            assert getattr(arch, field) == getattr(tiny, field), field
        for key in ("mask_token_id", "eos_token_id"):
            assert config[key] == released[key]
