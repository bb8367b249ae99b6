"""Layer boundaries (DESIGN section 3): cheap imports, pure core, UI apart."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("textual", "tree_sitter", "git", "torch", "transformers")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_infill_imports_no_heavy_module():
    modules = loaded_after("import infill")
    assert not [m for m in modules if m.split(".")[0] in HEAVY]


@pytest.mark.parametrize("module", ["infill.markers", "infill.canvas", "infill.document",
                                    "infill.patch", "infill.settings", "infill.trajectory",
                                    "infill.languages", "infill.options", "infill.strategies",
                                    "infill.fills"])
def test_core_text_logic_imports_neither_torch_nor_textual(module):
    modules = loaded_after(f"import {module}")
    assert not [m for m in modules if m.split(".")[0] in HEAVY]


def test_fill_command_does_not_import_textual_tree_sitter_grammars_or_git():
    modules = loaded_after("import infill.cli, infill.fill_cmd, infill.engine")
    assert not [m for m in modules if m.split(".")[0] in ("textual", "git")]
    assert not [m for m in modules if m.startswith("tree_sitter_")]
