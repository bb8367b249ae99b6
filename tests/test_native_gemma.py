"""DiffusionGemma as a prompted-infill backend (transformers' own generate()), on a tiny
random checkpoint: it fills through ``infill fill`` without --trust-remote-code, the bytes
outside the span are kept, no special token is written, the trajectory is streamed."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers.models.diffusion_gemma")

from dllm_tiny import write_diffusion_gemma  # noqa: E402


def test_diffusion_gemma_fills_through_generate(tmp_path):
    import infill
    from infill.backends import detect_backend

    path = write_diffusion_gemma(tmp_path / "gemma")
    assert detect_backend(path) == "diffusion-gemma"
    filler = infill.load(str(path), device="cpu")
    frames = []
    text = "def f(x):\n    y = __FILL__\n    return y\n"
    result = filler.fill_text(text, steps=4, budget=6, on_frame=frames.append)
    head, tail = text.split("__FILL__")
    assert result.text.startswith(head) and result.text.endswith(tail)
    for special in ("<pad>", "<eos>", "<bos>", "<mask>", "<start_of_turn>", "<end_of_turn>"):
        assert special not in result.text
    assert 1 <= result.forward_passes <= 4
    assert frames and len(frames) == result.forward_passes  # one frame per denoising step
