"""Copy candidates: fills for a one-line hole taken from the other lines of the same text.

Code repeats itself: a statement cut out of a function often stands, character for
character, elsewhere in the same file (for a quarter of the holes of the project's
``python-exec`` set, the true line does). A small model rarely writes such a line out token
by token, but it can tell which of a few written-out lines fits best. ``copy_texts`` lists
the texts a hole could take from the rest of its file; the engine scores them with the
model beside its own fill and keeps the one the model finds likelier (``Filler``, step 8).

Pure text rules: no model, no tokenizer.
"""

from __future__ import annotations

from infill.markers import HOLE, Span

MAX_LINES = 4096  # lines looked at per hole, the nearest: a fill in a huge file stays cheap


def copy_texts(text: str, span: Span, whole_line: bool) -> list[str]:
    """Texts for the hole ``span`` of ``text`` drawn from the text's other lines, in the order
    they first appear, without repeats.

    A hole inside a line takes the middle of any other line that, indentation and trailing
    blanks aside, starts with what stands before the hole on its line and ends with what
    follows it (``x = `` + hole + ``)`` takes ``foo(1`` from ``x = foo(1)``). A whole-line
    hole (``whole_line``: it starts a line and the text after it starts the next) takes any
    other line, at the indentation of the line that follows the hole (one level deeper than
    the line before when that one opens a block the following line does not continue), with
    its newline. A hole that stands for a whole statement (a whole line, or a line's text
    after its indentation) takes only lines that carry code: a letter or a digit, not a
    comment. Holes that span lines, rewrites and spans with a ``__FILL_N__`` cap above
    one line get none."""
    if span.kind != HOLE or span.start != span.end or (span.max_lines or 1) > 1:
        return []
    start = span.start
    line_start = text.rfind("\n", 0, start) + 1
    if whole_line:
        before_hole, after_hole, rest_from = "", "", start
    else:
        line_end = text.find("\n", start)
        line_end = len(text) if line_end < 0 else line_end
        before_hole = text[line_start:start].lstrip(" \t")
        after_hole = text[start:line_end].rstrip()
        rest_from = line_end
    above, below = text[:line_start].split("\n")[:-1], text[rest_from:].split("\n")
    keep_above = max(MAX_LINES // 2, MAX_LINES - len(below))
    others = above[-keep_above:] + below[:MAX_LINES - min(len(above), keep_above)]
    seen: dict[str, None] = {}
    for line in others:
        stripped = line.strip()
        if len(stripped) <= len(before_hole) + len(after_hole):
            continue
        if not (stripped.startswith(before_hole) and stripped.endswith(after_hole)):
            continue
        middle = stripped[len(before_hole):len(stripped) - len(after_hole)]
        if middle.strip() and (before_hole or after_hole or _carries_code(middle)):
            seen.setdefault(middle, None)
    if not whole_line:
        return list(seen)
    indent = whole_line_indent(text, start)
    return [indent + m + "\n" for m in seen]


# Comment lines in the languages infill knows; ``#`` only before a space or alone, so that
# C's ``#include`` and Rust's ``#[derive(...)]`` count as code.
COMMENT_STARTS = ("# ", "//", "/*", "* ", "*/", "<!--")


def _carries_code(line: str) -> bool:
    """A line worth copying into a hole that stands for a statement: it has a letter or a
    digit and is not a comment (a lone bracket, quote or comment from elsewhere in the file
    is a guess about structure, not about code; the model's own fill makes that guess)."""
    return (any(c.isalnum() for c in line) and not line.startswith(COMMENT_STARTS)
            and line != "#")


def whole_line_indent(text: str, start: int) -> str:
    """The indentation a line written at ``start`` (a line start) takes: the next non-blank
    line's, unless the previous non-blank line ends with ``:`` or ``{`` and the next one is
    not indented deeper than it (the hole is the whole body of a block: one level in, a tab
    where the text indents with tabs, else four spaces)."""
    after = next((line for line in text[start:].split("\n") if line.strip()), "")
    before = next((line for line in reversed(text[:start].split("\n")) if line.strip()), "")
    indent_after = after[:len(after) - len(after.lstrip(" \t"))]
    indent_before = before[:len(before) - len(before.lstrip(" \t"))]
    opens = before.rstrip().endswith((":", "{"))
    if opens and len(indent_after) <= len(indent_before):
        tabs = indent_before.startswith("\t") or (not indent_before and "\n\t" in text)
        unit = "\t" if tabs else "    "
        return indent_before + unit
    return indent_after
