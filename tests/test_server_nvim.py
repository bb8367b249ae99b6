"""``infill serve`` with a real editor: headless Neovim's built-in LSP client fills a hole
through the code-action menu (tests/e2e_nvim.lua). Skipped where nvim is not installed
(``apt-get install neovim``; .ci/run installs it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")

from infill.markers import MarkerSyntax, parse_markers  # noqa: E402
from infill.settings import Settings  # noqa: E402

SCRIPT = Path(__file__).with_name("e2e_nvim.lua")
SOURCE = "def add(a, b):\n    return __FILL__\n"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed")
def test_neovim_fills_a_hole_through_infill_serve(tiny_model_dir, tiny_filler, tmp_path):
    path = tmp_path / "calc.py"
    path.write_text(SOURCE)
    result = tmp_path / "result.txt"
    env = dict(os.environ, INFILL_E2E_FILE=str(path), INFILL_E2E_PYTHON=sys.executable,
               INFILL_E2E_MODEL=str(tiny_model_dir), INFILL_E2E_RESULT=str(result),
               INFILL_THREADS="1", XDG_STATE_HOME=str(tmp_path / "state"),
               XDG_CACHE_HOME=str(tmp_path / "cache"))
    proc = subprocess.run(["nvim", "--headless", "--clean", "-n", "-c", f"luafile {SCRIPT}"],
                          cwd=tmp_path, env=env, capture_output=True, timeout=400,
                          stdin=subprocess.DEVNULL)
    message = result.read_text() if result.exists() else "(no result written)"
    assert proc.returncode == 0 and message == "ok", (message, proc.stderr[-2000:])

    marked = parse_markers(SOURCE, MarkerSyntax(), str(path))
    expected = tiny_filler.fill_spans(marked.text, marked.spans, None, 0, path=str(path),
                                      options=Settings().fill).text
    assert path.read_text() == expected
