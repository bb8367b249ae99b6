"""Tiny checkpoints of each public family fill through the editor as ``infill edit FILE
--model DIR --device cpu`` opens it (no --trust-remote-code): the model loads in the editor's
worker, ctrl+g fills the hole, enter accepts, ctrl+s saves. The saved file keeps every byte
outside the span (CRLF newlines, non-ASCII text), holds no special token, and the fill took
no more forward passes than --steps."""

from __future__ import annotations

import pytest

from dllm_tiny import GEMMA_SPECIALS, NATIVE_VARIANTS, expected_backend, native_specials
from infill.cli import main
from test_app_support import accept_anyway
from test_app_flow import wait_for

pytestmark = pytest.mark.anyio

# Prose: random weights write noise, and the quality guard would hold back code that does
# not parse; text has no grammar, so every fill is accepted at the first enter.
SOURCE = b"Shopping list\r\n  caf\xc3\xa9 au lait\r\n  __FILL__\r\n  bread, 2 loaves\r\n"
STEPS = 3


def _open_as_the_cli_does(path, model, monkeypatch):
    """The app ``infill edit`` builds (settings, model flags, filler factory), not run."""
    import infill.app

    built = []
    monkeypatch.setattr(infill.app, "_run", lambda app: built.append(app) or 0)
    assert main(["edit", str(path), "--model", str(model), "--device", "cpu"]) == 0
    return built[0]


@pytest.mark.parametrize("name", sorted(NATIVE_VARIANTS) + ["diffusion-gemma"])
async def test_editor_fills_with_each_family(name, request, tmp_path, monkeypatch):
    if name == "diffusion-gemma":
        model, specials = request.getfixturevalue("gemma_model"), list(GEMMA_SPECIALS.values())
    else:
        model, specials = request.getfixturevalue("native_models")[name], native_specials(name)
    path = tmp_path / "list.txt"
    path.write_bytes(SOURCE)
    app = _open_as_the_cli_does(path, model, monkeypatch)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.filler is not None or app.model_error, timeout=60)
        assert app.model_error is None and app.status.state == "ready"
        assert app.filler.info.backend == expected_backend(name)
        assert "__FILL__" not in app.editor.text and len(app.editor.spans) == 1
        app.set_options(app.options.with_(steps=STEPS))
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review", timeout=60)
        result = app.fill_run.result
        assert 1 <= result.forward_passes <= STEPS
        await accept_anyway(app, pilot)
        assert app.state == "edit" and app.editor.text == result.text and app.editor.spans == ()
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not app.status.modified
    saved = path.read_bytes()
    head, tail = SOURCE.split(b"__FILL__")
    assert saved.startswith(head) and saved.endswith(tail) and b"__FILL__" not in saved
    text = saved.decode("utf-8")
    for special in specials:
        assert special not in text, special
