"""Markers in text: holes (``__FILL__``, ``__FILL_N__``) and rewrite regions.

``parse_markers`` turns text with markers into clean text plus a list of ``Span``s, character
offsets into that clean text. Everything else in the engine works on (text, spans), so the
editor, which marks spans by selection, and the batch CLI, which marks them in the file, share
one path. Marker text is matched here, in text; a model's special tokens never are.

A rewrite region is a pair of *marker lines*: a line that holds nothing but the marker, its
options and the comment syntax around it (``# >>> infill strength=0.4``). Requiring the whole
line keeps doctest lines (``>>> infill.load()``) and merge-conflict lines from matching.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from infill.errors import InputError

HOLE = "hole"
REWRITE = "rewrite"

# Comment leaders and trailers a marker line may carry, in any language infill knows.
_LEADERS = r"(?:#+|//+|--|;+|%+|/\*+|<!--|\*|\"\"\"|'''|REM\b|::)?"
_TRAILERS = r"(?:\*+/|-->|\"\"\"|''')?"


def split_hole(hole: str) -> tuple[str, str]:
    """``hole`` as (stem, trailing punctuation): ``("__FILL", "__")``."""
    stem = hole.rstrip("".join(chr(c) for c in range(128) if not chr(c).isalnum()))
    return stem, hole[len(stem):]


@dataclass(frozen=True)
class MarkerSyntax:
    """The marker strings; configurable so a repository can hold the literal text."""

    hole: str = "__FILL__"
    region_open: str = ">>> infill"
    region_close: str = "<<< infill"

    def __post_init__(self) -> None:
        for name in ("hole", "region_open", "region_close"):
            if not getattr(self, name).strip():
                raise InputError(f"marker '{name}' must not be empty")

    @classmethod
    def from_settings(cls, settings: object) -> "MarkerSyntax":
        """The markers of an ``infill.settings.Settings`` (or anything with those fields)."""
        return cls(settings.hole, settings.region_open, settings.region_close)

    def hole_pattern(self) -> re.Pattern[str]:
        """Matches the hole and its capped form (group ``n``): ``__FILL__``, ``__FILL_3__``.

        The cap goes before the hole's trailing punctuation: ``<<FILL>>`` → ``<<FILL_3>>``.
        """
        stem, tail = split_hole(self.hole)
        return re.compile(f"{re.escape(stem)}(?:_(?P<n>-?[0-9]+))?{re.escape(tail)}")

    def capped_hole(self, n: int) -> str:
        stem, tail = split_hole(self.hole)
        return f"{stem}_{n}{tail}"

    def line_pattern(self, marker: str) -> re.Pattern[str]:
        return re.compile(
            r"^[ \t]*" + _LEADERS + r"[ \t]*" + re.escape(marker)
            # Options are key=value words and an optional ": instruction"; anything else
            # after the marker (``>>> infill = 3`` in a doctest) makes it ordinary text.
            + r"(?P<opts>(?:[ \t]+[A-Za-z_-]+=[^\s:]*)*(?:[ \t]*:[^\r\n]*?)?)[ \t]*"
            + _TRAILERS + r"[ \t]*$"
        )


@dataclass(frozen=True)
class Span:
    """A part of the text for the model to write.

    ``start``/``end`` are character offsets into the clean text; ``start == end`` for a hole.
    ``block`` spans cover whole lines, their final newline included, and a fill of a block
    span always ends with a newline (a region rewritten into nothing leaves no blank line).
    """

    start: int
    end: int
    kind: str = HOLE
    max_lines: int | None = None
    strength: float = 1.0
    instruction: str | None = None
    block: bool = False
    line: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.start <= self.end:
            raise ValueError(f"bad span offsets {self.start}..{self.end}")
        if self.kind not in (HOLE, REWRITE):
            raise ValueError(f"unknown span kind {self.kind!r}")
        if not 0.0 < self.strength <= 1.0:
            raise ValueError(f"strength must be in (0, 1], got {self.strength}")


@dataclass(frozen=True)
class MarkedText:
    """Text with its markers taken out, and the spans they marked."""

    text: str
    spans: tuple[Span, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class MarkerHit:
    """One marker found by ``find_markers`` (for ``--check`` and the hook)."""

    line: int
    column: int
    kind: str
    text: str


def find_markers(text: str, syntax: MarkerSyntax = MarkerSyntax()) -> list[MarkerHit]:
    """Every hole marker and marker line in ``text``, in order (1-based lines and columns)."""
    hits: list[MarkerHit] = []
    holes = syntax.hole_pattern()
    opener, closer = syntax.line_pattern(syntax.region_open), syntax.line_pattern(syntax.region_close)
    for number, line in enumerate(text.split("\n"), start=1):
        body = line.rstrip("\r")
        if opener.match(body) or closer.match(body):
            kind = "region-open" if opener.match(body) else "region-close"
            hits.append(MarkerHit(number, len(body) - len(body.lstrip()) + 1, kind, body.strip()))
            continue
        for m in holes.finditer(body):
            hits.append(MarkerHit(number, m.start() + 1, HOLE, m.group(0)))
    return hits


def parse_markers(
    text: str, syntax: MarkerSyntax = MarkerSyntax(), path: str | None = None
) -> MarkedText:
    """Take the markers out of ``text`` and return the clean text with its spans.

    ``text`` uses "\\n" newlines (``Document.text``). Raises ``InputError`` with the line for
    unbalanced or nested regions and bad options; nothing is half-parsed.
    """
    opener, closer = syntax.line_pattern(syntax.region_open), syntax.line_pattern(syntax.region_close)
    holes = syntax.hole_pattern()
    lines = text.split("\n")
    out: list[str] = []  # pieces of the clean text
    size = 0  # characters in ``out`` so far
    spans: list[Span] = []
    region: tuple[int, int, float, str | None] | None = None  # (line, start, strength, instr)

    for number, raw_line in enumerate(lines, start=1):
        last = number == len(lines)
        newline = "" if last else "\n"
        open_m, close_m = opener.match(raw_line), closer.match(raw_line)
        if open_m:
            if region is not None:
                raise InputError(
                    f"nested '{syntax.region_open}' (the region opened on line {region[0]} "
                    f"is not closed yet)", path=path, line=number)
            strength, instruction = _parse_options(open_m.group("opts"), path, number)
            region = (number, size, strength, instruction)
            continue
        if close_m:
            if region is None:
                raise InputError(f"'{syntax.region_close}' without a matching "
                                 f"'{syntax.region_open}'", path=path, line=number)
            if close_m.group("opts").strip():
                raise InputError(f"'{syntax.region_close}' takes no options",
                                 path=path, line=number)
            start_line, start, strength, instruction = region
            spans.append(Span(start, size, REWRITE, None, strength, instruction, True, start_line))
            region = None
            continue
        if region is not None:
            # Holes inside a region are part of it: the whole region is rewritten.
            piece = holes.sub("", raw_line) + newline
        else:
            piece, line_spans = _take_holes(raw_line, holes, size, number, path)
            spans.extend(line_spans)
            piece += newline
        out.append(piece)
        size += len(piece)

    if region is not None:
        raise InputError(f"'{syntax.region_open}' is never closed (add a "
                         f"'{syntax.region_close}' line)", path=path, line=region[0])
    return MarkedText("".join(out), tuple(spans))


def _take_holes(line: str, holes: re.Pattern[str], offset: int, number: int,
                path: str | None = None) -> tuple[str, list[Span]]:
    pieces: list[str] = []
    spans: list[Span] = []
    cursor = 0
    length = 0
    for m in holes.finditer(line):
        pieces.append(line[cursor:m.start()])
        length += m.start() - cursor
        cap = int(m.group("n")) if m.group("n") else None
        if cap is not None and cap < 0:
            raise InputError(f"'{m.group(0)}': a line cap must be a positive number of lines",
                             path=path, line=number)
        if cap == 0:
            cap = None
        spans.append(Span(offset + length, offset + length, HOLE, max_lines=cap, line=number))
        cursor = m.end()
    pieces.append(line[cursor:])
    return "".join(pieces), spans


def _parse_options(opts: str, path: str | None, line: int) -> tuple[float, str | None]:
    opts = opts.strip()
    instruction = None
    if ":" in opts:
        opts, instruction = opts.split(":", 1)
        instruction = instruction.strip() or None
    strength = 1.0
    for word in opts.split():
        key, _, value = word.partition("=")
        if key != "strength" or not value:
            raise InputError(f"unknown region option '{word}' (known: strength=S, ': instruction')",
                             path=path, line=line)
        try:
            strength = float(value)
        except ValueError:
            strength = -1.0
        if not 0.0 < strength <= 1.0:
            raise InputError(f"strength must be a number in (0, 1], got '{value}'",
                             path=path, line=line)
    return strength, instruction


def splice(text: str, spans: tuple[Span, ...] | list[Span], fills: list[str]) -> str:
    """Replace each span of ``text`` by its fill; everything outside the spans is kept."""
    if len(spans) != len(fills):
        raise ValueError("one fill per span")
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
    pieces: list[str] = []
    cursor = 0
    for i in order:
        span = spans[i]
        if span.start < cursor:
            raise ValueError("spans overlap")
        pieces.append(text[cursor:span.start])
        pieces.append(fills[i])
        cursor = span.end
    pieces.append(text[cursor:])
    return "".join(pieces)


# Comment syntax for marker lines written back into a file, by infill language name.
_LINE_COMMENTS = {"python": ("# ", ""), "javascript": ("// ", ""), "typescript": ("// ", ""),
                  "c": ("// ", ""), "cpp": ("// ", ""), "rust": ("// ", ""), "go": ("// ", ""),
                  "markdown": ("<!-- ", " -->")}


def render_markers(text: str, spans: tuple[Span, ...] | list[Span],
                   syntax: MarkerSyntax = MarkerSyntax(), language: str | None = None) -> str:
    """The inverse of ``parse_markers``: ``text`` with each span written back as markers.

    A hole becomes the hole marker (capped as ``__FILL_N__`` when it has a line limit); a hole
    that covers text (made over a selection) becomes a region around its lines instead, so
    that saving never drops the selected text. A rewrite becomes a region around the whole lines it touches,
    its marker lines indented like its first line and in the language's comment syntax, with
    its strength and instruction as options. Lets an editor save spans it has not filled yet.
    """
    lead, trail = _LINE_COMMENTS.get(language or "", ("", ""))
    pieces: list[str] = []
    cursor = 0
    for span in sorted(spans, key=lambda s: (s.start, s.end)):
        if span.kind == HOLE and span.start == span.end:
            hole = syntax.capped_hole(span.max_lines) if span.max_lines else syntax.hole
            pieces += [text[cursor:span.start], hole]
            cursor = span.end
            continue
        start = text.rfind("\n", 0, span.start) + 1
        end = span.end if span.block or span.end == start else _line_end(text, span.end)
        if start < cursor:
            raise ValueError("spans overlap")
        first_line = text[start:]
        indent = first_line[:len(first_line) - len(first_line.lstrip(" \t"))]
        options = "" if span.strength >= 1.0 else f" strength={span.strength:g}"
        if span.instruction:
            options += f": {span.instruction}"
        body = text[start:end]
        if body and not body.endswith("\n"):
            body += "\n"
        pieces += [text[cursor:start],
                   f"{indent}{lead}{syntax.region_open}{options}{trail}\n", body,
                   f"{indent}{lead}{syntax.region_close}{trail}\n"]
        cursor = end
        if end == len(text) and not text.endswith("\n") and body:
            pieces[-1] = pieces[-1].rstrip("\n")
    pieces.append(text[cursor:])
    return "".join(pieces)


def _line_end(text: str, offset: int) -> int:
    """The offset just past the line holding ``offset - 1`` (its newline included)."""
    newline = text.find("\n", max(offset - 1, 0))
    return len(text) if newline < 0 else newline + 1


_DEFINITION = re.compile(r"""^\s*["']?(hole|region[-_]open|region[-_]close)["']?\s*=""")


def marker_definition_lines(pyproject_text: str) -> set[int]:
    """The 1-based lines of a ``pyproject.toml`` that define marker strings in
    ``[tool.infill]`` (``hole = "@@FILL@@"``): the definitions are not markers to fill."""
    lines = set()
    in_table = False
    for number, line in enumerate(pyproject_text.split("\n"), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = stripped.replace(" ", "").startswith("[tool.infill]")
        elif in_table and _DEFINITION.match(line):
            lines.add(number)
    return lines


def spans_over_markers(text: str, syntax: MarkerSyntax = MarkerSyntax()) -> tuple[Span, ...]:
    """Spans over the markers of ``text`` *as it is*, for a view that cannot take them out
    (diff mode shows the file's own lines): a hole covers its marker text, so its fill
    replaces the marker; a region covers its marker lines and the lines between, so its
    rewrite replaces them all. Empty when the markers are bad (``parse_markers`` says why)."""
    try:
        parsed = parse_markers(text, syntax)
    except InputError:
        return ()
    regions = iter([s for s in parsed.spans if s.kind == REWRITE])
    caps = iter([s.max_lines for s in parsed.spans if s.kind == HOLE])
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    spans: list[Span] = []
    opened: MarkerHit | None = None
    for hit in find_markers(text, syntax):
        begin = starts[hit.line - 1]
        if hit.kind == "region-open":
            opened = hit
        elif hit.kind == "region-close" and opened is not None:
            region = next(regions)
            end = min(starts[hit.line], len(text))
            spans.append(Span(starts[opened.line - 1], end, REWRITE, None, region.strength,
                              region.instruction, True, opened.line))
            opened = None
        elif hit.kind == HOLE and opened is None:
            start = begin + hit.column - 1
            spans.append(Span(start, start + len(hit.text), HOLE, next(caps), line=hit.line))
    return tuple(spans)
