"""Issue 12, security: a model directory's code never runs without --trust-remote-code, and
nothing asks on stdin (a piped "y" must not be taken as consent)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from infill.backends.trust import refuse_remote_code, remote_code_reasons
from infill.errors import ModelError

EVIL = """import pathlib
pathlib.Path({sentinel!r}).write_text("ran")
from transformers import ModernBertConfig as EvilConfig
from transformers import ModernBertForMaskedLM as EvilModel
"""


def _evil_copy(tiny_model_dir, tmp_path, model_type="modernbert"):
    model = tmp_path / "evil-model"
    shutil.copytree(tiny_model_dir, model)
    sentinel = tmp_path / "code-ran"
    (model / "evil.py").write_text(EVIL.format(sentinel=str(sentinel)))
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModelForMaskedLM": "evil.EvilModel"}
    config["model_type"] = model_type
    (model / "config.json").write_text(json.dumps(config))
    return model, sentinel


@pytest.mark.parametrize("model_type, extra", [
    ("modernbert", []), ("evil-kind", []), ("modernbert", ["--backend", "llada-remote"]),
    ("modernbert", ["--backend", "hf-mlm"])])
def test_shipped_code_never_runs_even_when_stdin_says_yes(tmp_path, tiny_model_dir, model_type, extra):
    model, sentinel = _evil_copy(tiny_model_dir, tmp_path, model_type)
    source = tmp_path / "a.py"
    source.write_text("x = __FILL__\n")
    proc = subprocess.run(
        [sys.executable, "-m", "infill", "fill", str(source), "--model", str(model), *extra],
        input=b"y\ny\ny\n", capture_output=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2, proc.stderr
    assert b"--trust-remote-code" in proc.stderr
    assert not sentinel.exists()


def test_native_backends_never_run_shipped_code(tmp_path, tiny_model_dir):
    """``llada`` and ``dream`` are infill's own forwards: forced onto a checkpoint that ships
    code, they read its config and weights only (exit 2 here: it is not a LLaDA checkpoint)."""
    model, sentinel = _evil_copy(tiny_model_dir, tmp_path)
    source = tmp_path / "a.py"
    source.write_text("x = __FILL__\n")
    for backend in ("llada", "dream"):
        proc = subprocess.run(
            [sys.executable, "-m", "infill", "fill", str(source), "--model", str(model), "--backend", backend],
            input=b"y\n", capture_output=True, timeout=120, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert not sentinel.exists()


def test_reasons_name_what_would_run(tmp_path, tiny_model_dir):
    assert remote_code_reasons(tiny_model_dir, "hf-mlm") == []
    model, _ = _evil_copy(tiny_model_dir, tmp_path, "evil-kind")
    reasons = remote_code_reasons(model, "hf-mlm")
    assert any("auto_map" in r for r in reasons) and any("evil-kind" in r for r in reasons)
    with pytest.raises(ModelError):
        refuse_remote_code(model, "hf-mlm", trust_remote_code=False)
    refuse_remote_code(model, "hf-mlm", trust_remote_code=True)  # consent given: no error


def test_tokenizer_auto_map_is_refused(tmp_path, tiny_model_dir):
    model = tmp_path / "m"
    shutil.copytree(tiny_model_dir, model)
    config = json.loads((model / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["evil.Tok", None]}
    (model / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="tokenizer_config.json has an auto_map"):
        refuse_remote_code(model, "hf-mlm", trust_remote_code=False)
