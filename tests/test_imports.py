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
                                    "infill.fills", "infill.copies", "infill.names",
                                    "infill.lint"])
def test_core_text_logic_imports_neither_torch_nor_textual(module):
    modules = loaded_after(f"import {module}")
    assert not [m for m in modules if m.split(".")[0] in HEAVY]


def test_fill_command_does_not_import_textual_tree_sitter_grammars_or_git():
    modules = loaded_after("import infill.cli, infill.fill_cmd, infill.engine")
    assert not [m for m in modules if m.split(".")[0] in ("textual", "git")]
    assert not [m for m in modules if m.startswith("tree_sitter_")]


# ------------------------------------------------------------- who may run git (issue 13, 5)

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CORE = ["markers", "canvas", "document", "patch", "settings", "trajectory", "languages",
        "options", "strategies", "fills", "guard", "errors", "signals"]


def imported_names(path: Path) -> set[str]:
    """Every module a file imports (``import a.b`` and ``from a.b import c`` give ``a.b``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("name", [n for n in CORE if (ROOT / "infill" / f"{n}.py").exists()])
def test_the_core_runs_no_subprocess_and_no_git(name):
    names = imported_names(ROOT / "infill" / f"{name}.py")
    assert "subprocess" not in names
    assert not [n for n in names if n == "git" or n.startswith(("git.", "infill.gitops"))]


@pytest.mark.parametrize("path", sorted((ROOT / "app").glob("*.py")), ids=lambda p: p.name)
def test_the_app_runs_no_git_of_its_own(path):
    names = imported_names(path)
    assert "subprocess" not in names
    assert not [n for n in names if n == "git" or n.startswith("git.")]
    # git work lives in infill.gitops; the app may use its diff data API, not raw git calls
    assert not [n for n in names if n.startswith("infill.gitops.repo")]


def test_app_package_imports_without_textual():
    modules = loaded_after("import infill.app, infill.app.files, infill.app.spans")
    assert not [m for m in modules if m.split(".")[0] == "textual"]


def test_one_writer_for_users_files():
    """The front doors that write a user's file (fill, hook, editor, diff mode) leave the
    temporary file, the fsync and the rename to ``infill.patch``."""
    writers = [*ROOT.glob("app/*.py"), ROOT / "infill" / "fill_cmd.py",
               ROOT / "infill" / "gitops" / "hook.py", ROOT / "infill" / "gitops" / "diff.py"]
    offenders = [str(p.relative_to(ROOT)) for p in writers
                 for call in ("os.replace(", "os.link(", "mkstemp(", "os.rename(")
                 if call in p.read_text()]
    assert offenders == []
