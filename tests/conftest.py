"""Shared fixtures. Tests never touch the network or need a GPU."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# Tests run two at a time (pytest -n 2) on small models: one thread each, no spin-waiting.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("INFILL_THREADS", "1")
# A developer's running `infill serve` must not answer the tests' fills (tests that want a
# server start their own on a socket of their own).
os.environ.setdefault("INFILL_SERVER", "off")


@pytest.fixture
def anyio_backend():
    """Textual's Pilot tests run on asyncio."""
    return "asyncio"


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random-weight infill checkpoint (structure, not quality)."""
    from infill.testing import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_filler(tiny_model_dir):
    import infill

    return infill.load(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def native_models(tmp_path_factory):
    """Tiny random-weight checkpoints of LLaDA, Dream (slow tokenizer files only), DiffuCoder
    and DreamOn, written once per test session: name -> directory."""
    from dllm_tiny import NATIVE_VARIANTS, write_model

    return {name: write_model(tmp_path_factory.mktemp(name), *spec) for name, spec in NATIVE_VARIANTS.items()}


@pytest.fixture(scope="session")
def gemma_model(tmp_path_factory):
    """A tiny random DiffusionGemma checkpoint (skips where transformers lacks the model)."""
    pytest.importorskip("transformers.models.diffusion_gemma")
    from dllm_tiny import write_diffusion_gemma

    return write_diffusion_gemma(tmp_path_factory.mktemp("gemma") / "gemma")


@pytest.fixture
def git_env(tmp_path, monkeypatch):
    """A git environment that ignores the user's config and any hook git is running.

    Returns ``tmp_path``; commits made there have a fixed author."""
    for name in list(os.environ):
        if name.startswith("GIT_") or name == "PRE_COMMIT":
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for role in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{role}_NAME", "Test")
        monkeypatch.setenv(f"GIT_{role}_EMAIL", "test@example.com")
    return tmp_path
