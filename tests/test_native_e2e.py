"""Tiny checkpoints of each public family fill through ``infill fill`` with the project's own
install and without --trust-remote-code: bytes outside the spans unchanged, no special token
in the file, forward passes within --steps."""

from __future__ import annotations

import pytest

from dllm_tiny import NATIVE_VARIANTS as VARIANTS
from dllm_tiny import expected_backend, native_specials, write_model
from infill.cli import main

# Prose (random weights write noise, and the quality guard keeps a marker whose fill does not
# parse), CRLF newlines and non-ASCII text around the hole.
SOURCE = b"Shopping list\r\n  caf\xc3\xa9 au lait\r\n  __FILL__\r\n  bread, 2 loaves\r\n"


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_fill_without_remote_code(name, native_models, tmp_path):
    target = tmp_path / "list.txt"
    target.write_bytes(SOURCE)
    code = main(["fill", str(target), "--model", str(native_models[name]), "--device", "cpu",
                 "--steps", "3", "--write"])
    assert code == 0
    out = target.read_bytes()
    head, tail = SOURCE.split(b"__FILL__")
    assert out.startswith(head) and out.endswith(tail) and out != SOURCE
    text = out.decode("utf-8")
    for special in native_specials(name):
        assert special not in text, special


def test_models_shows_family_defaults(native_models, tmp_path, monkeypatch, capsys):
    hub = tmp_path / "hub"
    for name, path in native_models.items():
        snap = hub / f"models--org--{name}" / "snapshots" / "abc"
        snap.parent.mkdir(parents=True)
        snap.symlink_to(path, target_is_directory=True)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    main(["models"])
    out = capsys.readouterr().out
    assert "org/llada: backend llada  " in out and "backend llada (needs" not in out
    assert 'llada, context 4096 tokens, mask 126336, defaults {"strategy": "confidence"' in out
    assert "dreamon, context 2048 tokens, mask 151666" in out
    assert "diffucoder, context 2048 tokens" in out
    assert '"strategy": "entropy"' in out


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_family_ids_and_steps_bound_the_whole_fill(name, native_models):
    """Ids come from the checkpoint: mask from config.json, BOS/EOS from the tokenizer files,
    the null is EOS (LLaDA, Dream, DreamOn) or <|dlm_pad|> (DiffuCoder), every other special
    banned. --steps bounds the forward passes of the whole fill, elastic rounds included."""
    import infill

    filler = infill.load(str(native_models[name]), device="cpu")
    d = filler.denoiser
    assert filler.info.backend == expected_backend(name)
    if name == "llada":
        assert (d.mask_id, d.bos_id, d.eos_id, d.null_id, d.max_context) == (126336, 126080, 126081, 126081, 4096)
        assert 126348 in d.pooled and 126348 in d.banned_ids() and 126081 not in d.banned_ids()
    elif name == "diffucoder":
        assert (d.mask_id, d.bos_id, d.eos_id, d.null_id, d.shifted_logits) == (151666, 151665, 151643, 151667, True)
        assert {151643, 151645} <= set(d.pooled) and 151667 not in d.banned_ids()
        assert {151643, 151644, 151645, 151665} <= set(d.banned_ids())
    else:
        assert (d.mask_id, d.bos_id, d.null_id, d.max_context) == (151666, 151665, 151643, 2048)
    for steps in (1, 3):
        result = filler.fill_text("x = __FILL__\ny = __FILL__\n", steps=steps, budget=2)
        assert 1 <= result.forward_passes <= steps


def test_dreamon_fills_through_its_own_sampler(native_models, monkeypatch):
    """DreamOn's spans grow and shrink (infill.backends.dreamon) inside the engine: the fill is
    what the variable-length sampler returned, with EOS as the dropped null."""
    import infill
    from infill.backends import dreamon

    calls = []
    real = dreamon.dreamon_sample

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        calls.append(out)
        return out

    monkeypatch.setattr(dreamon, "dreamon_sample", spy)
    filler = infill.load(str(native_models["dreamon"]), device="cpu")
    assert filler.denoiser.sampler is not None
    result = filler.fill_text("x = 1\n__FILL__\ny = 2\n", budget=6, temperature=0.0)
    assert calls and result.forward_passes == sum(c[2] for c in calls)
    assert "<|expand|>" not in result.text and "<|mask|>" not in result.text
    assert 0 <= result.spans[0].tokens <= 6


def test_instruct_checkpoints_get_their_chat_frame(tmp_path, monkeypatch):
    """An instruct checkpoint (its name says so) sees every canvas inside its own chat
    template's frame (user turn, then the assistant's turn); a base one does not; DreamOn
    never (it is trained on raw canvases)."""
    import torch

    import infill

    monkeypatch.delenv("INFILL_CHAT", raising=False)
    instruct = infill.load(str(write_model(tmp_path / "LLaDA-8B-Instruct", "llada")), device="cpu").denoiser
    base = infill.load(str(write_model(tmp_path / "LLaDA-8B-Base", "llada")), device="cpu").denoiser
    assert base.prefix == () and base.bos_id == 126080
    frame = list(instruct.prefix)
    assert frame[:2] == [126080, 126346] and frame[-1] != 126081 and instruct.bos_id is None
    assert frame.count(126348) == 1 and frame.count(126347) == 2  # user turn, assistant header
    assert instruct.codec.decode(frame[2:]).startswith("user")
    assert instruct.max_context == 4096 - len(frame)
    ids = torch.tensor([[5, 6, 126336, 7, 126081]])
    attention = torch.ones_like(ids)
    inside = instruct.logits(ids, attention)
    whole = instruct.model(torch.cat([torch.tensor([frame]), ids], dim=1)).float()[:, len(frame):]
    assert torch.allclose(inside[0, 2, :100], whole[0, 2, :100], atol=1e-5)
    result = infill.Filler(instruct).fill_text("x = __FILL__\n", steps=2, budget=3)
    assert result.text.startswith("x = ") and "<|" not in result.text
    monkeypatch.setenv("INFILL_CHAT", "1")
    dreamon = infill.load(str(write_model(tmp_path / "DreamOn-v0-7B", "dream", "dreamon")), device="cpu").denoiser
    assert dreamon.prefix == ()
