"""The quality guard: fills that would leave the file worse are not applied (DESIGN section 5).

Given the text a fill was computed from (markers taken out), its spans and one fill per
span, ``guard_fills`` says which fills to keep. A fill is refused when

- the file parses worse with it than with a *placeholder* there (tree-sitter ERROR and
  MISSING nodes): a hole's placeholder is an identifier, which is a valid expression,
  statement or name almost everywhere, and a region's placeholder is its old text. Each
  span is judged on its own, with the other spans holding their placeholders, so one bad
  fill does not take the good ones down with it; or
- a hole's fill is blank where the grammar needs something: the placeholder is a whole
  expression that is part of a larger construct (``return _``, ``f(a, _)``,
  ``assert_eq!(x, _)``), not a statement of its own, a string or a comment.

A refused span goes back into the text as its marker (``markers.render_markers``), so
``--write`` and the hook leave the marker where it was and say why. Languages without a
grammar are never refused.

``caution_fills`` names what a kept fill may get wrong without breaking the parse: in
Python, names it reads that nothing in view binds (``infill.names``) and code it cuts off
(``return`` with more of its block after it); in any language, a word it repeats three
times in a row, letters it runs together inside a word and a line it makes repeat the line
before it (``infill.lint``). Such a fill is written, and every front door says so beside
it. Pure: text in, decisions out; no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from infill import lint, names, syntax
from infill.markers import HOLE, MarkerSyntax, Span, render_markers, splice

#: A hole's stand-in while the rest of the file is parsed: an identifier in every grammar.
PLACEHOLDER = "infill_placeholder"

# Nodes a statement can sit in directly: a hole there may well be left empty.
_CONTAINERS = {"module", "block", "program", "source_file", "translation_unit",
               "compound_statement", "statement_block", "declaration_list", "field_declaration_list",
               "class_body", "function_body", "statement_list"}


@dataclass(frozen=True)
class Verdict:
    """What the guard says about one span's fill: its index (in the caller's order), its
    line, and why."""

    index: int
    line: int
    reason: str


class Refusal(Verdict):
    """A fill the guard kept out."""


class Caution(Verdict):
    """A fill written that may be wrong."""


def guard_fills(text: str, spans: Sequence[Span], fills: Sequence[str],
                language: str | None) -> list[Refusal]:
    """The fills of ``spans`` (offsets into ``text``) that must not be applied, and why."""
    if not spans or syntax.get_parser(language or "") is None:
        return []
    holders = [PLACEHOLDER if span.kind == HOLE else text[span.start:span.end] for span in spans]
    base_text = splice(text, spans, holders)
    base_errors = syntax.count_errors(base_text, language)
    refusals = []
    for i, (span, fill) in enumerate(zip(spans, fills)):
        trial = list(holders)
        trial[i] = fill
        errors = syntax.count_errors(splice(text, spans, trial), language)
        if errors is not None and base_errors is not None and errors > base_errors:
            refusals.append(Refusal(i, span.line, (
                f"the fill does not parse ({errors} syntax error{'s' * (errors != 1)} "
                f"where the file with the marker has {base_errors}); marker kept")))
        elif span.kind == HOLE and not fill.strip() and _needs_something(
                base_text, spans, holders, i, language):
            refusals.append(Refusal(i, span.line,
                                    "the fill is empty where code is needed; marker kept"))
    return refusals


def caution_fills(text: str, spans: Sequence[Span], fills: Sequence[str],
                  language: str | None) -> list[Caution]:
    """What to say beside the fills of ``spans`` (offsets into ``text``) that are written:
    each fill that reads names nothing in view binds (Python; nothing for other languages,
    or when the filled text does not parse), and each fault ``lint.findings`` tells (code
    cut off, a word or a line repeated); lines are the filled text's."""
    filled = splice(text, spans, fills)
    ranges = [(start, start + len(fill)) for start, fill in
              ((_offset_in(filled, spans, fills, i), fills[i]) for i in range(len(spans)))]
    out = []
    for i, (span, faults) in enumerate(zip(spans, lint.findings(filled, ranges,
                                                                 language or ""))):
        found = names.undefined_names(filled, [ranges[i]], language or "")
        if found:
            listed = ", ".join(f"`{n}`" for n in dict.fromkeys(found))
            out.append(Caution(i, span.line, f"the fill reads {listed}, which nothing in view "
                                             f"binds; check it"))
        out.extend(Caution(i, span.line, f"{fault}; check it") for fault in faults)
    return out


def keep_refused_markers(text: str, spans: Sequence[Span], fills: Sequence[str],
                         refusals: Sequence[Refusal], markers: MarkerSyntax,
                         language: str | None) -> str:
    """``text`` with the fills applied, except refused spans, which are markers again."""
    refused = {r.index for r in refusals}
    kept = [text[s.start:s.end] if i in refused else fill
            for i, (s, fill) in enumerate(zip(spans, fills))]
    filled = splice(text, spans, kept)
    # Where the refused spans are now: shift each by the growth of the fills before it.
    located = []
    for i in sorted(refused):
        span = spans[i]
        shift = sum(len(kept[j]) - (spans[j].end - spans[j].start)
                    for j in range(len(spans)) if spans[j].start < span.start)
        located.append(Span(span.start + shift, span.end + shift, span.kind, span.max_lines,
                            span.strength, span.instruction, span.block, span.line))
    return render_markers(filled, located, markers, language) if located else filled


def _needs_something(base_text: str, spans: Sequence[Span], holders: Sequence[str], index: int,
                     language: str) -> bool:
    tree = syntax.parse_tree(base_text, language)
    if tree is None:
        return False
    start = _offset_in(base_text, spans, holders, index)
    lo = len(base_text[:start].encode("utf-8"))
    hi = lo + len(PLACEHOLDER.encode("utf-8"))
    node = tree.root_node.named_descendant_for_byte_range(lo, hi)
    if node is None or node.start_byte != lo or node.end_byte != hi:
        return False  # inside a string, a comment or a longer name: blank is fine there
    parent = node.parent
    if parent is None or parent.type in _CONTAINERS or parent.has_error:
        return False
    if parent.type == "expression_statement" and parent.named_child_count == 1:
        return False  # the placeholder is a statement of its own: an empty line is fine
    return True


def _offset_in(base_text: str, spans: Sequence[Span], holders: Sequence[str], index: int) -> int:
    """Where span ``index``'s text (a placeholder, or a fill) starts in the spliced text."""
    target = spans[index]
    shift = sum(len(holders[j]) - (spans[j].end - spans[j].start)
                for j in range(len(spans)) if spans[j].start < target.start)
    return target.start + shift
