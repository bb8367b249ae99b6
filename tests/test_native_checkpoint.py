"""Checkpoints that cannot load fail with a one-line reason (ModelError: exit 2), never a
traceback: truncated or garbage safetensors, missing tensors, wrong shapes, bad config.json."""

from __future__ import annotations

import json

import pytest
import torch

from dllm_tiny import make_weights, write_checkpoint
from infill.backends import dream, llada
from infill.errors import InfillError, ModelError

FAMILIES = {"llada": llada, "dream": dream}


@pytest.fixture(params=sorted(FAMILIES))
def ckpt(request, tmp_path):
    return request.param, FAMILIES[request.param], write_checkpoint(tmp_path / request.param, request.param)


def load(module, path):
    return module.load_model(path, "cpu", torch.float32)


def expect(module, path, *words):
    with pytest.raises(ModelError) as info:
        load(module, path)
    message = str(info.value)
    assert isinstance(info.value, InfillError) and "\n" not in message
    for word in words:
        assert word in message, message
    return message


def test_truncated_weights(ckpt):
    _, module, path = ckpt
    file = path / "model.safetensors"
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2])
    expect(module, path, "truncated", "model.safetensors")


def test_garbage_weights(ckpt):
    _, module, path = ckpt
    (path / "model.safetensors").write_bytes(b"\x00garbage, not tensors" * 50)
    expect(module, path, "safetensors")


def test_empty_weights_file(ckpt):
    _, module, path = ckpt
    (path / "model.safetensors").write_bytes(b"")
    expect(module, path, "safetensors")


def test_no_weights(ckpt):
    _, module, path = ckpt
    (path / "model.safetensors").unlink()
    expect(module, path, "no *.safetensors")


def test_missing_tensor(ckpt):
    from safetensors.torch import save_file

    family, module, path = ckpt
    weights = make_weights(family)
    dropped = sorted(weights)[3]
    del weights[dropped]
    save_file(weights, str(path / "model.safetensors"))
    expect(module, path, "missing tensors", dropped)


def test_wrong_shape(ckpt):
    family, module, path = ckpt
    config = json.loads((path / "config.json").read_text())
    config["mlp_hidden_size" if family == "llada" else "intermediate_size"] = 48
    (path / "config.json").write_text(json.dumps(config))
    expect(module, path, "shape", "config.json implies")


def test_config_not_json(ckpt):
    _, module, path = ckpt
    (path / "config.json").write_text("{not json")
    expect(module, path, "config.json is not valid JSON")


def test_config_bad_value(ckpt):
    family, module, path = ckpt
    config = json.loads((path / "config.json").read_text())
    config["n_heads" if family == "llada" else "num_attention_heads"] = "four"
    (path / "config.json").write_text(json.dumps(config))
    expect(module, path, "positive integer")


def test_config_heads_do_not_divide(ckpt):
    family, module, path = ckpt
    config = json.loads((path / "config.json").read_text())
    config["n_heads" if family == "llada" else "num_attention_heads"] = 5
    (path / "config.json").write_text(json.dumps(config))
    expect(module, path, "do not divide")


def test_unsupported_llada_config(tmp_path):
    path = write_checkpoint(tmp_path / "m", "llada")
    config = json.loads((path / "config.json").read_text())
    config["alibi"] = True
    (path / "config.json").write_text(json.dumps(config))
    expect(llada, path, "unsupported LLaDA config: alibi=True")


def test_unsupported_dream_rope_scaling(tmp_path):
    path = write_checkpoint(tmp_path / "m", "dream")
    config = json.loads((path / "config.json").read_text())
    config["rope_scaling"] = {"rope_type": "yarn", "factor": 4.0}
    (path / "config.json").write_text(json.dumps(config))
    expect(dream, path, "rope_scaling")


def test_sharded_index_names_a_missing_file(ckpt):
    family, module, path = ckpt
    names = list(make_weights(family))
    index = {"metadata": {}, "weight_map": {n: "model.safetensors" for n in names}}
    index["weight_map"][names[-1]] = "model-00002-of-00002.safetensors"
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    expect(module, path, "missing")


def test_sharded_index_not_json(ckpt):
    _, module, path = ckpt
    (path / "model.safetensors.index.json").write_text("[1, 2")
    expect(module, path, "model.safetensors.index.json")


def test_sharded_checkpoint_loads(ckpt, tmp_path):
    """Weights split over two files with an index load like a single file."""
    from safetensors.torch import save_file

    family, module, path = ckpt
    weights = make_weights(family)
    names = sorted(weights)
    half = len(names) // 2
    parts = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    (path / "model.safetensors").unlink()
    for file, part in parts.items():
        save_file({n: weights[n] for n in part}, str(path / file))
    index = {"metadata": {}, "weight_map": {n: f for f, part in parts.items() for n in part}}
    (path / "model.safetensors.index.json").write_text(json.dumps(index))
    single = write_checkpoint(tmp_path / "single", family)
    ids = torch.tensor([[1, 2, 3, 4]])
    assert torch.equal(load(module, path)(ids), load(module, single)(ids))


def test_extra_tensors_are_ignored(tmp_path):
    """LLaDA copies that carry a ``mask_head`` (or any tensor the forward does not use) load."""
    from safetensors.torch import save_file

    path = write_checkpoint(tmp_path / "m", "llada")
    weights = make_weights("llada")
    weights["model.transformer.mask_head.weight"] = torch.zeros(1, 32, dtype=torch.bfloat16)
    save_file(weights, str(path / "model.safetensors"))
    assert load(llada, path)(torch.tensor([[5, 6]])).shape == (1, 2, 126464)


def test_context_length_keys(tmp_path):
    """LLaDA's context is max_sequence_length (it has no max_position_embeddings)."""
    path = write_checkpoint(tmp_path / "l", "llada")
    config = json.loads((path / "config.json").read_text())
    assert "max_position_embeddings" not in config
    assert llada.arch_from_config(config, path).max_context == 4096
    path = write_checkpoint(tmp_path / "d", "dream")
    config = json.loads((path / "config.json").read_text())
    assert dream.arch_from_config(config, path).max_context == 131072


# --------------------------------------------- any checkpoint, through the CLI: exit 2, not 3

def _house_copy(tiny_model_dir, tmp_path):
    import shutil

    return shutil.copytree(tiny_model_dir, tmp_path / "model")


def _fill_exit(model, tmp_path, capsys):
    from infill.cli import main

    target = tmp_path / "a.py"
    target.write_text("x = __FILL__\n")
    code = main(["fill", str(target), "--model", str(model), "--device", "cpu", "--steps", "1"])
    err = capsys.readouterr().err.strip()
    assert target.read_text() == "x = __FILL__\n"
    return code, err


@pytest.mark.parametrize("damage,words", [
    (lambda p: (p / "model.safetensors").write_bytes((p / "model.safetensors").read_bytes()[:5000]),
     "truncated safetensors file"),
    (lambda p: (p / "model.safetensors").write_bytes(b"garbage" * 100), "safetensors"),
    (lambda p: (p / "infill_config.json").write_text("{\"mask_id\": 0,"), "infill_config.json"),
    (lambda p: (p / "infill_config.json").write_text(json.dumps(
        {**json.loads((p / "infill_config.json").read_text()), "mask_id": 10 ** 7})),
     "mask_id 10000000 is outside the vocabulary"),
    (lambda p: (p / "infill_config.json").write_text(json.dumps(
        {**json.loads((p / "infill_config.json").read_text()), "null_id": -3})), "null_id"),
])
def test_broken_house_checkpoint_is_exit_2(tiny_model_dir, tmp_path, capsys, damage, words):
    model = _house_copy(tiny_model_dir, tmp_path)
    damage(model)
    code, err = _fill_exit(model, tmp_path, capsys)
    assert code == 2, err
    assert words in err and len(err.splitlines()) == 1, err


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_broken_native_checkpoint_is_exit_2(family, tmp_path, capsys):
    from dllm_tiny import write_model

    model = write_model(tmp_path / "m", family)
    data = (model / "model.safetensors").read_bytes()
    (model / "model.safetensors").write_bytes(data[: len(data) // 3])
    code, err = _fill_exit(model, tmp_path, capsys)
    assert code == 2 and "truncated safetensors file" in err and len(err.splitlines()) == 1, err


def test_special_id_out_of_range_in_config_is_exit_2(tmp_path, capsys):
    from dllm_tiny import write_model

    model = write_model(tmp_path / "m", "llada")
    config = json.loads((model / "config.json").read_text())
    config["mask_token_id"] = 200000
    (model / "config.json").write_text(json.dumps(config))
    code, err = _fill_exit(model, tmp_path, capsys)
    assert code == 2 and "mask_id 200000 is outside the vocabulary" in err, err
