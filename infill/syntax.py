"""Tree-sitter parse checks, used to rank candidates (a fill must not break the parse).

Grammars are imported on first use only: ``import infill`` and a training machine need none.
A language without an installed grammar has no parse check (``None``), never an error.
"""

from __future__ import annotations

import functools
import importlib

_GRAMMARS = {
    "python": ("tree_sitter_python", "language"),
    "javascript": ("tree_sitter_javascript", "language"),
    "typescript": ("tree_sitter_typescript", "language_typescript"),
    "c": ("tree_sitter_c", "language"),
    "cpp": ("tree_sitter_cpp", "language"),
    "rust": ("tree_sitter_rust", "language"),
    "go": ("tree_sitter_go", "language"),
}


@functools.lru_cache(maxsize=None)
def get_parser(language: str):
    """A tree-sitter ``Parser`` for ``language``, or None when no grammar is installed."""
    spec = _GRAMMARS.get(language)
    if spec is None:
        return None
    try:
        import tree_sitter
        module = importlib.import_module(spec[0])
        return tree_sitter.Parser(tree_sitter.Language(getattr(module, spec[1])()))
    except (ImportError, AttributeError, ValueError, TypeError):
        return None


def parse_tree(text: str, language: str):
    parser = get_parser(language)
    return None if parser is None else parser.parse(text.encode("utf-8"))


def count_errors(text: str, language: str) -> int | None:
    """ERROR and MISSING nodes in the parse of ``text``; None when the language has no grammar."""
    tree = parse_tree(text, language)
    if tree is None:
        return None
    if not tree.root_node.has_error:
        return 0
    errors = 0
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            errors += 1
        if node.has_error:
            stack.extend(node.children)
    return errors
