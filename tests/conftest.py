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


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A tiny random-weight infill checkpoint (structure, not quality)."""
    from infill.testing import make_tiny_model

    return make_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_filler(tiny_model_dir):
    import infill

    return infill.load(str(tiny_model_dir), device="cpu")
