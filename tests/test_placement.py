"""``--device-map``: a tiny model split over two devices' worth of layers (CPU and disk
offload, through accelerate's hooks) fills exactly as the unsplit model does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("accelerate")

from infill.errors import InputError, ModelError  # noqa: E402
from infill.placement import load_placed, parse_device_map  # noqa: E402

TEXT = "def add(a, b):\n    return __FILL__\n\nx = __FILL__\n"
SPLIT = {"model.embeddings": "cpu", "decoder": "cpu", "model.rotary_emb": "cpu",
         "model.layers.0": "cpu", "model.layers.1": "disk", "model.final_norm": "disk",
         "head": "disk"}


@pytest.fixture(scope="module")
def tiny_filler(tiny_model_dir):
    """The whole model through transformers, as a device map places it (the house
    backend's own forward is not a transformers module)."""
    import infill

    return infill.load(str(tiny_model_dir), device="cpu", backend="hf-mlm")


def _same(a, b) -> bool:
    return a.text == b.text and [f.slots for f in a.trajectory] == [f.slots for f in b.trajectory]


def test_an_explicit_split_fills_like_the_whole_model(tiny_model_dir, tiny_filler, tmp_path):
    placed = load_placed(str(tiny_model_dir), json.dumps(SPLIT | {"offload_dir": str(tmp_path)}),
                         device="cpu")
    assert placed.denoiser.model.hf_device_map == SPLIT
    assert (tmp_path / "index.json").is_file()  # the disk half really is on disk
    assert _same(placed.fill_text(TEXT, path="a.py"), tiny_filler.fill_text(TEXT, path="a.py"))


def test_a_memory_budget_splits_the_layers(tiny_model_dir, tiny_filler):
    size = sum(p.numel() * p.element_size() for p in tiny_filler.denoiser.model.parameters())
    spec = {"strategy": "sequential", "max_memory": {"cpu": int(size * 0.7)}}
    placed = load_placed(str(tiny_model_dir), json.dumps(spec), device="cpu")
    devices = set(placed.denoiser.model.hf_device_map.values())
    assert devices == {"cpu", "disk"}
    assert _same(placed.fill_text(TEXT, path="a.py"), tiny_filler.fill_text(TEXT, path="a.py"))
    with pytest.raises(ModelError, match="holds no layer"):
        load_placed(str(tiny_model_dir), json.dumps({"strategy": "sequential",
                                                     "max_memory": {"cpu": 1000}}))


def test_auto_on_a_cpu_only_machine_keeps_the_model_whole(tiny_model_dir, tiny_filler):
    placed = load_placed(str(tiny_model_dir), "auto", device="cpu")
    assert set(placed.denoiser.model.hf_device_map.values()) == {"cpu"}
    assert _same(placed.fill_text(TEXT, path="a.py"), tiny_filler.fill_text(TEXT, path="a.py"))


@pytest.mark.parametrize("text, reason", [
    ("fastest", "readable .json"), ("{", "valid JSON"), ('{"a": "gpu"}', "unknown device"),
    ('{"strategy": "fast"}', "strategy must be")])
def test_bad_maps_are_input_errors(text, reason):
    with pytest.raises(InputError, match=reason):
        parse_device_map(text)


def test_infill_fill_device_map_prints_the_same_fill(tiny_model_dir, tmp_path):
    (tmp_path / "a.py").write_text(TEXT)
    flags = ["fill", "a.py", "--model", str(tiny_model_dir), "--device", "cpu"]
    whole = subprocess.run([sys.executable, "-m", "infill", *flags], cwd=tmp_path,
                           capture_output=True, timeout=300)
    split = subprocess.run([sys.executable, "-m", "infill", *flags, "--device-map",
                            json.dumps(SPLIT)], cwd=tmp_path, capture_output=True, timeout=300)
    assert whole.returncode == split.returncode == 0, split.stderr
    assert split.stdout == whole.stdout and b"__FILL__" not in split.stdout
