"""Parse checks, used to rank candidates and guard writes (a fill must not break the parse).

Tree-sitter grammars are imported on first use only: ``import infill`` and a training
machine need none. A language without an installed grammar has no parse check (``None``),
never an error. Python text is also given to Python's own parser (never run): tree-sitter
accepts what Python refuses, such as a line indented deeper than its block. Which names a
fill reads and binds is ``infill.names``'s business.
"""

from __future__ import annotations

import ast
import functools
import importlib
import warnings

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


# Bodies a language requires but its grammar accepts empty: Python's ``def f():`` followed
# by nothing (or only comments) parses without an ERROR node in tree-sitter-python, and a
# blank fill there would pass as valid.
_BODIES = {"python": "block"}


def count_errors(text: str, language: str) -> int | None:
    """ERROR and MISSING nodes in the parse of ``text``, plus required bodies left empty,
    plus one when the text is Python that Python's parser refuses; None when the language
    has no grammar."""
    tree = parse_tree(text, language)
    if tree is None:
        return None
    errors = _empty_bodies(tree, language)
    if language == "python" and not python_parses(text):
        errors += 1
    if not tree.root_node.has_error:
        return errors
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            errors += 1
        if node.has_error:
            stack.extend(node.children)
    return errors


def python_parses(text: str) -> bool:
    """Python's own parser accepts ``text`` (parsed only: nothing is compiled or run).

    The running interpreter's grammar decides, so a file written for a newer Python is
    refused both with and without a fill, and comparisons between the two stay fair."""
    return python_tree(text) is not None


@functools.lru_cache(maxsize=4)  # count_errors and infill.names parse the same candidate
def python_tree(text: str) -> ast.Module | None:
    """``text``'s syntax tree, None when Python refuses it (the last few are kept)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning: invalid escapes and the like
            return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def line_starts(text: str) -> list[int]:
    """The character offset of each line of ``text``."""
    starts, at = [], 0
    for line in text.split("\n"):
        starts.append(at)
        at += len(line) + 1
    return starts


def ast_offset(text: str, starts: list[int], lineno: int, col: int) -> int:
    """The character offset in ``text`` of an ``ast`` position (1-based ``lineno``,
    ``col`` in UTF-8 bytes), given ``line_starts(text)``."""
    start = starts[lineno - 1]
    end = starts[lineno] - 1 if lineno < len(starts) else len(text)
    line = text[start:end]
    return start + (col if line.isascii()
                    else len(line.encode("utf-8")[:col].decode("utf-8", "replace")))


def _empty_bodies(tree, language: str) -> int:
    kind = _BODIES.get(language)
    if kind is None:
        return 0
    query = _query(language, f"({kind}) @body")
    if query is None:
        return 0
    import tree_sitter

    found = tree_sitter.QueryCursor(query).captures(tree.root_node).get("body", [])
    return sum(all(c.type == "comment" for c in node.named_children) for node in found)


@functools.lru_cache(maxsize=None)
def _query(language: str, source: str):
    parser = get_parser(language)
    if parser is None:
        return None
    import tree_sitter

    try:
        return tree_sitter.Query(parser.language, source)
    except (AttributeError, ValueError, TypeError):  # another tree-sitter API: no extra check
        return None
