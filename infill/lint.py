"""Cheap checks that written code almost never fails and a weak model's fill often does.

- **Code cut off** (Python): a ``return``, ``raise``, ``break`` or ``continue`` with more
  statements after it in its block. 7 of 4,141 Python files of the training corpus hold
  such a statement (10 in all); a fill ``return f(x)`` written in the middle of a function,
  with the function's real ending on the next line, makes one.
- **A stutter** (any language): one word three or more times in a row with the same
  separator, ``u, u, u`` or ``ray.ray.ray`` or ``status_status_status``: what a
  masked-diffusion model writes when neighbouring slots commit the same token in one step.
  0.1 to 0.7 in 1,000 lines of the training corpus have one (``int64_t, int64_t,
  int64_t``); constants (``None, None, None``, ``0, 0, 0``) and ``_`` are not counted.
- **A run** (any language): one, two or three letters five or more times in a row inside a
  word, ``eeeeee``, ``sesesesese``, ``MapMapMapMapMap``: the same slip at the level of word
  pieces. 0.09 in 1,000 lines of the training corpus have one (test strings such as
  ``aaaaaaaaaa``, placeholders such as ``XXXXXX``), against 8.6 in 1,000 of v0.3's fills
  (28 of 3,273 evaluation fills of the engine before these checks, none right); hex
  literals (``0xffffffff``, ``#bbbbbb``, ``\xff``) and runs of ``f`` in hex digits do not
  count.
- **A repeated line** (any language): a line the fill writes or completes that is the same
  as the line before it (blank lines skipped, indentation ignored), the line it follows or
  the one after the hole included: the model echoing its neighbour. 0.3 to 1.2 in 1,000
  pairs of neighbouring lines in the training corpus are the same (mostly data: ``None,``,
  ``0xff, 0xff,``); lines of punctuation or of three characters or fewer are not counted.

The engine counts all four at each fill among a candidate's faults (``fills.standing``), so a
fill without them ranks higher and the engine samples more when the best one has them.

Pure: ``ast`` (through ``syntax.python_tree``, which shares a candidate's parse with the
parse check and the names) and regular expressions; the text is never run.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterator, Sequence

from infill.syntax import ast_offset, line_starts, python_tree

__all__ = ["count", "cut_off", "findings", "repeated_lines", "runs", "stuttered", "stutters",
           "unreachable", "unreachable_count"]

_ENDS_BLOCK = (ast.Return, ast.Raise, ast.Break, ast.Continue)


def cut_off(tree: ast.AST) -> Iterator[tuple[ast.stmt, ast.stmt]]:
    """(ending, unreachable) pairs: a statement that ends its block and the statement right
    after it in that block. A bare ``yield`` after a ``raise`` is left alone (it only makes
    the function a generator, a known idiom). Walks statements only, not expressions."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            block = getattr(node, name, None)
            if not isinstance(block, list):  # a lambda's or an if-expression's body
                continue
            stack.extend(block)
            for ending, after in zip(block, block[1:]):
                if (isinstance(ending, _ENDS_BLOCK) and isinstance(after, ast.stmt)
                        and not (isinstance(after, ast.Expr)
                                 and isinstance(after.value, (ast.Yield, ast.YieldFrom)))):
                    yield ending, after


def unreachable(text: str, ranges: Sequence[tuple[int, int]], language: str
                ) -> list[list[str]]:
    """Per fill at character ``ranges`` of ``text``: what it cuts off, in words, one entry
    per block it ends with code still after the ending (the ending statement starts in the
    fill) or writes code into after the block has ended (the first unreachable statement
    starts in the fill). Nothing when this cannot be told (not Python, or no parse)."""
    found: list[list[str]] = [[] for _ in ranges]
    if language != "python" or not ranges:
        return found
    tree = python_tree(text)
    pairs = [] if tree is None else list(cut_off(tree))
    if not pairs:
        return found
    starts = line_starts(text)

    def offset(node: ast.stmt) -> int:
        return ast_offset(text, starts, node.lineno, node.col_offset)

    order = sorted(range(len(ranges)), key=lambda i: ranges[i])
    firsts = [ranges[i][0] for i in order]

    def fill_at(at: int) -> int | None:
        k = bisect.bisect_right(firsts, at) - 1
        i = order[k] if k >= 0 else None
        return i if i is not None and ranges[i][0] <= at < ranges[i][1] else None

    for ending, after in pairs:
        word = _WORDS[type(ending)]
        if (i := fill_at(offset(ending))) is not None:
            found[i].append(f"the fill's `{word}` leaves the code after it (line {after.lineno}) "
                            f"unreachable")
        elif (i := fill_at(offset(after))) is not None:
            found[i].append(f"the fill comes after a `{word}` (line {ending.lineno}) and can "
                            f"never run")
    return found


def unreachable_count(text: str, ranges: Sequence[tuple[int, int]], language: str) -> int:
    """How many blocks the fills at ``ranges`` cut off (``unreachable``)."""
    return sum(map(len, unreachable(text, ranges, language)))


_WORDS = {ast.Return: "return", ast.Raise: "raise", ast.Break: "break",
          ast.Continue: "continue"}
_STUTTER = re.compile(r"(?<![\w.])([A-Za-z_]\w*)(\s*[,.]\s*|_|\s+)(?:\1\2)+\1(?!\w)")
_CONSTANTS = frozenset({"_", "None", "True", "False", "null", "nil", "true", "false",
                        "undefined", "NULL", "nullptr"})


def stuttered(fill: str) -> list[str]:
    """The words ``fill`` repeats three or more times in a row with the same separator
    (``u, u, u``, ``ray.ray.ray``), once per run; constants and ``_`` do not count."""
    return [m.group(1) for m in _STUTTER.finditer(fill) if m.group(1) not in _CONSTANTS]


def stutters(fill: str) -> int:
    """How many runs in ``fill`` stutter (``stuttered``)."""
    return len(stuttered(fill))


_RUN = re.compile(r"([A-Za-z]{1,3}?)\1{4,}")
_WORD_RUN = re.compile(r"\w+")
_HEX_DIGITS = re.compile(r"[0-9a-fA-F_]+(?:[uUlLnN]*|[iu](?:8|16|32|64|128|size))")  # C, Rust, JS suffixes


def runs(fill: str) -> list[str]:
    """The letters ``fill`` repeats five or more times in a row inside a word (``eeeee``,
    ``sesesesese``), once per word; hex literals and runs of ``f`` in hex digits do not count."""
    found = []
    for word in _WORD_RUN.finditer(fill):
        run = _RUN.search(word.group())
        if run is None:
            continue
        text, before = word.group(), fill[word.start() - 1:word.start()]
        prefix = 2 if text[:2] in ("0x", "0X") else 1 if before == "\\" and text[0] in "xX" else 0
        if _HEX_DIGITS.fullmatch(text[prefix:]) and (prefix or before == "#"
                                                     or not run.group(1).strip("fF")):
            continue
        found.append(run.group(1))
    return found


def findings(text: str, ranges: Sequence[tuple[int, int]], language: str) -> list[list[str]]:
    """Per fill at character ``ranges`` of ``text``: its faults in words, code it cuts off
    (``unreachable``), words it stutters (``stuttered``), letters it runs together
    (``runs``), lines it repeats (``repeated_lines``)."""
    return [cut + [f"the fill repeats `{word}` three or more times in a row" for word in
                   stuttered(text[start:end])]
            + [f"the fill repeats `{unit}` five or more times inside a word" for unit in
               runs(text[start:end])]
            + [f"the fill makes line {line} repeat the line before it (`{_short(same)}`)"
               for line, same in repeated_lines(text, start, end)]
            for cut, (start, end) in zip(unreachable(text, ranges, language), ranges)]


def _short(line: str, width: int = 40) -> str:
    return line if len(line) <= width else line[:width - 3] + "..."


def repeated_lines(text: str, start: int, end: int) -> list[tuple[int, str]]:
    """(1-based line, stripped text) of each line among those the fill at ``start:end`` of
    ``text`` writes or completes, and the next line after them, that is the same as the
    non-blank line before it (``_counts_as_a_line``). Nothing for a blank fill."""
    if not text[start:end].strip():
        return []
    last = end - 1 if text[start:end].endswith("\n") else end  # a whole-line fill's newline
    lo = text.rfind("\n", 0, start) + 1  # the start of the fill's first line
    hi = _line_end(text, max(last, start))  # the end of its last line
    # Widen to the non-blank line before and the non-blank line after.
    while lo > 0:
        lo = text.rfind("\n", 0, lo - 1) + 1
        if text[lo:_line_end(text, lo)].strip():
            break
    while hi < len(text):
        nxt = _line_end(text, hi + 1)
        line, hi = text[hi + 1:nxt], nxt
        if line.strip():
            break
    first = text.count("\n", 0, lo) + 1
    lines = [(first + k, line.strip()) for k, line in enumerate(text[lo:hi].split("\n"))
             if line.strip()]
    return [(number, line) for (_, previous), (number, line) in zip(lines, lines[1:])
            if line == previous and _counts_as_a_line(line)]


def _line_end(text: str, at: int) -> int:
    end = text.find("\n", at)
    return len(text) if end < 0 else end


def _counts_as_a_line(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 3 and any(c.isalnum() for c in stripped)


def count(text: str, ranges: Sequence[tuple[int, int]], language: str) -> int:
    """How many faults the fills at ``ranges`` of ``text`` have: blocks they cut off, words
    they stutter, letters they run together and lines they repeat (the engine's
    ``Candidate.lint``)."""
    return sum(map(len, findings(text, ranges, language)))
