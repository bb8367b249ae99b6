"""DiffusionGemma as a prompted-infill backend (transformers' own generate()), on a tiny
random checkpoint: it fills through the Python API and through ``infill fill --write``
without --trust-remote-code, the bytes outside the span are kept, no special token is
written, the trajectory is streamed."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers.models.diffusion_gemma")

from dllm_tiny import GEMMA_SPECIALS  # noqa: E402


def test_diffusion_gemma_fills_through_generate(gemma_model):
    import infill
    from infill.backends import detect_backend

    assert detect_backend(gemma_model) == "diffusion-gemma"
    filler = infill.load(str(gemma_model), device="cpu")
    frames = []
    text = "def f(x):\n    y = __FILL__\n    return y\n"
    result = filler.fill_text(text, steps=4, budget=6, on_frame=frames.append)
    head, tail = text.split("__FILL__")
    assert result.text.startswith(head) and result.text.endswith(tail)
    for special in GEMMA_SPECIALS.values():
        assert special not in result.text
    assert 1 <= result.forward_passes <= 4
    assert frames and len(frames) == result.forward_passes  # one frame per denoising step


def test_diffusion_gemma_fills_through_the_cli(gemma_model, tmp_path, capsys):
    """``infill fill --write`` on prose (no grammar, so the guard never holds the fill back):
    exit 0, the file rewritten in place with only the span changed, no special token."""
    from infill.cli import main

    source = b"Shopping list\r\n  caf\xc3\xa9 au lait\r\n  __FILL__\r\n  bread, 2 loaves\r\n"
    target = tmp_path / "list.txt"
    target.write_bytes(source)
    code = main(["fill", str(target), "--model", str(gemma_model), "--device", "cpu", "--steps", "3",
                 "--write"])
    assert code == 0, capsys.readouterr().err
    out = target.read_bytes()
    head, tail = source.split(b"__FILL__")
    assert out.startswith(head) and out.endswith(tail) and b"__FILL__" not in out
    text = out.decode("utf-8")
    for special in GEMMA_SPECIALS.values():
        assert special not in text, special


@pytest.mark.parametrize("steps", [1, 2])
def test_steps_bound_the_fill_when_the_span_needs_more_blocks_than_steps(gemma_model, steps):
    """A span wider than ``steps`` canvases (8 tokens each here) still takes at most ``steps``
    denoising steps: the answer is cut to the canvases the steps can pay for."""
    import infill

    filler = infill.load(str(gemma_model), device="cpu")
    result = filler.fill_text("x = __FILL__\n", steps=steps, budget=40)
    assert 1 <= result.forward_passes <= steps
    assert result.text.startswith("x = ") and result.text.endswith("\n")
