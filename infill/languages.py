"""Language names, guessed from a file name or from the text itself.

The engine needs a language for two things: the house model's header token and the
tree-sitter grammar that ranks candidates. Both use the names below; anything else is
"unknown". Pure code: no torch, no tree-sitter.
"""

from __future__ import annotations

import os
import re

UNKNOWN = "unknown"

EXTENSIONS: dict[str, str] = {
    ".py": "python", ".pyi": "python", ".pyw": "python",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".cxx": "cpp", ".hpp": "cpp", ".hh": "cpp", ".hxx": "cpp",
    ".rs": "rust", ".go": "go",
    ".md": "markdown", ".markdown": "markdown", ".rst": "rst",
}

LANGUAGES = ("python", "javascript", "typescript", "c", "cpp", "rust", "go", "markdown", "rst")
# The house model's language header tokens, in token-id order (``<lang:python>`` first).
HEADER_LANGUAGES = (*LANGUAGES, UNKNOWN)

_SHEBANGS = {"python": "python", "node": "javascript", "deno": "typescript"}

# (language, pattern, weight): cheap evidence for text without a file name.
_CLUES: tuple[tuple[str, re.Pattern[str], int], ...] = tuple(
    (lang, re.compile(pattern, re.M), weight) for lang, pattern, weight in (
        ("python", r"^\s*(def|class) \w+.*:\s*$", 3),
        ("python", r"^\s*(import \w+|from [\w.]+ import)", 2),
        ("python", r"^\s*(elif|except|with) .*:\s*$|self\.", 2),
        ("rust", r"\bfn \w+\s*[<(]|\blet mut\b|\bimpl\b|::new\(|^\s*use \w+::", 3),
        ("go", r"^package \w+|\bfunc (\(\w+ \*?\w+\) )?\w+\(|:= ", 3),
        ("javascript", r"\b(const|let|var) \w+ = |=> |\bfunction\b|require\(", 2),
        ("typescript", r":\s*(string|number|boolean)\b|\binterface \w+ \{|\bexport type\b", 3),
        ("c", r"^#include [<\"]|\bprintf\(|\bmalloc\(", 2),
        ("cpp", r"\bstd::|\btemplate ?<|\bnamespace \w+|#include <\w+>$", 3),
        ("markdown", r"^#{1,6} \S|^\s*[-*] \S|\]\(http", 1),
        ("rst", r"^(=+|-+|~+)\s*$|^\.\. \w+::", 2),
    )
)


def language_from_path(path: str | None) -> str | None:
    if not path:
        return None
    ext = os.path.splitext(path)[1].lower()
    return EXTENSIONS.get(ext)


def guess_language(path: str | None = None, text: str = "") -> str:
    """The language of a file: from its name, then its shebang, then its text; else unknown."""
    by_path = language_from_path(path)
    if by_path:
        return by_path
    first = text.split("\n", 1)[0]
    if first.startswith("#!"):
        for word, lang in _SHEBANGS.items():
            if word in first:
                return lang
    sample = text[:20000]
    scores: dict[str, int] = {}
    for lang, pattern, weight in _CLUES:
        hits = len(pattern.findall(sample))
        if hits:
            scores[lang] = scores.get(lang, 0) + weight * min(hits, 10)
    if not scores:
        return UNKNOWN
    best = max(scores.items(), key=lambda item: item[1])
    return best[0] if best[1] >= 3 else UNKNOWN


def normalise_language(name: str | None) -> str | None:
    """A user's ``--lang`` spelling mapped to infill's names ("py" → "python")."""
    if name is None:
        return None
    key = name.strip().lower()
    aliases = {"py": "python", "js": "javascript", "ts": "typescript", "c++": "cpp",
               "cxx": "cpp", "rs": "rust", "golang": "go", "md": "markdown"}
    key = aliases.get(key, key)
    return key if key in LANGUAGES or key == UNKNOWN else UNKNOWN
