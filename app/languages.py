"""Syntax highlighting languages for the code views: Textual's built-ins plus C, C++ and TypeScript.

Textual's syntax extra ships grammars and highlight queries for Python, JavaScript, Rust, Go
and others; C, C++ and TypeScript come from their grammar wheels, with the wheel's own
``highlights.scm`` (C++ extends C, TypeScript extends JavaScript, as in nvim-treesitter).

Queries are compiled once per process and never freed: with tree-sitter 0.26.1, freeing a
query compiled from Textual's ``javascript.scm`` and compiling it again crashes the
interpreter, and a preview that reloads its text would otherwise do exactly that.
Everything here is offline and lazy: nothing is imported until a view asks for a language.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any

from infill.languages import EXTENSIONS as ENGINE_EXTENSIONS

# File extension -> language name (the names the code views use): the engine's table
# (``infill.languages.EXTENSIONS``), TSX apart (its own grammar), and the formats the views
# highlight but the engine does not name.
EXTENSIONS = {
    **ENGINE_EXTENSIONS, ".tsx": "tsx",
    ".json": "json", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
    ".html": "html", ".htm": "html", ".css": "css", ".sh": "bash", ".bash": "bash",
    ".sql": "sql", ".java": "java", ".xml": "xml",
}

# Languages from grammar wheels: name -> (module, language function, query parts).
# A query part is "textual:NAME" (Textual's bundled query) or "wheel:MODULE" (the wheel's).
_EXTRA = {
    "c": ("tree_sitter_c", "language", ("wheel:tree_sitter_c",)),
    "cpp": ("tree_sitter_cpp", "language", ("wheel:tree_sitter_c", "wheel:tree_sitter_cpp")),
    "typescript": ("tree_sitter_typescript", "language_typescript",
                   ("textual:javascript", "wheel:tree_sitter_typescript")),
    "tsx": ("tree_sitter_typescript", "language_tsx",
            ("textual:javascript", "wheel:tree_sitter_typescript")),
}

# The infill engine's language names for the view's names (for ``fill_spans(language=...)``).
ENGINE_NAMES = {"tsx": "typescript"}


def language_for_path(path: str | None) -> str | None:
    """The view language for a file name, or ``None`` for plain text."""
    if not path:
        return None
    return EXTENSIONS.get(Path(path).suffix.lower())


def _textual_query(name: str) -> str:
    import textual

    return (Path(textual.__file__).parent / "tree-sitter" / "highlights" / f"{name}.scm").read_text()


def _wheel_query(module: str) -> str:
    return getattr(import_module(module), "HIGHLIGHTS_QUERY")


@lru_cache(maxsize=None)
def resolve(name: str) -> tuple[Any, Any] | None:
    """``(tree_sitter.Language, compiled Query)`` for ``name``, or ``None`` (plain text).

    Cached for the life of the process (see the module docstring).
    """
    try:
        from tree_sitter import Language, Query
    except ImportError:
        return None
    try:
        if name in _EXTRA:
            module, function, parts = _EXTRA[name]
            language = Language(getattr(import_module(module), function)())
            source = "\n".join(_textual_query(p[8:]) if p.startswith("textual:")
                               else _wheel_query(p[6:]) for p in parts)
        else:
            from textual._tree_sitter import get_language

            language = get_language(name)
            if language is None:
                return None
            source = _textual_query(name)
        return language, Query(language, source)
    except (ImportError, OSError, AttributeError, ValueError, SyntaxError):
        return None
