"""Checkpoint metadata (``InfillConfig``) and the backend registry."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest

from infill.backends import BACKENDS, Backend, detect_backend, load_backend, model_type
from infill.config import CONFIG_FILE, InfillConfig, load_config
from infill.errors import ModelError

REPO = Path(__file__).resolve().parent.parent


def test_the_house_model_config_round_trips_exactly():
    path = REPO / "models" / "house" / CONFIG_FILE
    config = load_config(path.parent)
    assert config.mask_id == 0 and config.language_ids["python"] == 5
    assert config.to_dict() == json.loads(path.read_text())  # unknown notes are kept


def test_save_then_load_gives_the_same_config(tmp_path):
    config = InfillConfig(mask_id=3, null_id=4, language_ids={"python": 9},
                          extensions={".py": "python"}, sampler={"strategy": "margin"})
    config.save(tmp_path)
    assert load_config(tmp_path) == config
    assert load_config(tmp_path / "elsewhere") is None


@pytest.mark.parametrize("change, reason", [
    ({"format": 2}, "format 2 is not 1"),
    ({"mask_id": -1}, "mask_id must be a token id"),
    ({"null_id": "1"}, "null_id must be a token id"),
    ({"extensions": {".py": "cobol"}}, "maps to 'cobol', which has no language id"),
    ({"sampler": {"strategy": "greedy"}}, "sampler.strategy must be one of"),
    ({"sampler": {"temperature": float("nan")}}, "sampler.temperature must be a finite number"),
    ({"sampler": {"hole_budget": 0}}, "sampler.hole_budget must be an integer >= 1"),
    ({"sampler": {"colour": 1}}, "sampler.colour is not a sampler setting"),
    ({"sampler": {"candidates": 0}}, "sampler.candidates must be at least 1"),
    ({"max_context": 0}, "max_context must be an integer >= 8"),
])
def test_a_bad_config_fails_at_load_with_the_file_and_reason(tmp_path, change, reason):
    data = InfillConfig(mask_id=0, language_ids={"python": 5}).to_dict()
    data.update(change)
    (tmp_path / CONFIG_FILE).write_text(json.dumps(data))
    with pytest.raises(ModelError) as caught:
        load_config(tmp_path)
    assert caught.value.path == str(tmp_path / CONFIG_FILE)
    assert reason in caught.value.reason


def test_invalid_json_points_at_the_line(tmp_path):
    (tmp_path / CONFIG_FILE).write_text('{\n  "mask_id": 0,\n  oops\n}\n')
    with pytest.raises(ModelError) as caught:
        load_config(tmp_path)
    assert caught.value.line == 3 and str(caught.value).startswith(str(tmp_path / CONFIG_FILE))


def test_the_tiny_test_model_writes_a_valid_config(tiny_model_dir):
    config = load_config(tiny_model_dir)
    assert config is not None and config.null_id is not None and config.sampler["hole_budget"] == 12


def _checkpoint(directory: Path, config: dict, infill: bool = False) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))
    if infill:
        InfillConfig(mask_id=0).save(directory)
    return directory


def test_detection_walks_the_registry_in_order(tmp_path):
    assert detect_backend(_checkpoint(tmp_path / "a", {"model_type": "llada"})) == "llada"
    assert detect_backend(_checkpoint(tmp_path / "b", {"architectures": ["DreamModel"]})) == "dream"
    assert detect_backend(_checkpoint(tmp_path / "c", {"model_type": "bert"})) == "hf-mlm"
    # infill_config.json identifies the house family whatever the model_type says.
    assert detect_backend(_checkpoint(tmp_path / "d", {"model_type": "dream"}, infill=True)) == "hf-mlm"
    with pytest.raises(ModelError, match="no readable config.json"):
        detect_backend(tmp_path)


def test_remote_code_is_refused_once_for_every_family_that_needs_it(tmp_path):
    path = _checkpoint(tmp_path / "m", {"model_type": "llada"})
    for name, backend in BACKENDS.items():
        if backend.needs_remote_code:
            with pytest.raises(ModelError, match="--trust-remote-code"):
                load_backend(str(path), "cpu", name)


def test_a_new_family_is_one_module_and_one_registry_entry(tmp_path, monkeypatch):
    """What issue 10's backends do: a file with a loader, a line in BACKENDS."""
    (tmp_path / "toy_backend.py").write_text(textwrap.dedent("""
        def load(path, device, backend, config, *, trust_remote_code=False):
            return ("toy", path.name, device, backend.settings["mask_id"], config)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "toy_backend", raising=False)
    entry = Backend("toy", "toy_backend:load", model_type("toy"), settings={"mask_id": 7})
    monkeypatch.setitem(BACKENDS, "toy", entry)
    path = _checkpoint(tmp_path / "ckpt", {"model_type": "ToyForDiffusion"})
    assert detect_backend(path) == "toy"
    assert load_backend(str(path), "cpu") == ("toy", "ckpt", "cpu", 7, None)
