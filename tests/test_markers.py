"""Markers: holes, capped holes, rewrite regions, and the bytes around them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from infill.errors import InputError
from infill.markers import HOLE, REWRITE, MarkerSyntax, Span, find_markers, parse_markers, splice


def test_hole_in_a_line_becomes_an_empty_span():
    marked = parse_markers("def add(a, b):\n    return __FILL__\n")
    assert marked.text == "def add(a, b):\n    return \n"
    (span,) = marked.spans
    assert (span.start, span.end, span.kind, span.line) == (26, 26, HOLE, 2)
    assert span.max_lines is None


def test_capped_hole_records_its_line_limit():
    marked = parse_markers("x = __FILL_1__\ny = __FILL_3__\n")
    assert [s.max_lines for s in marked.spans] == [1, 3]
    assert marked.text == "x = \ny = \n"


def test_region_lines_are_removed_and_content_is_the_span():
    text = "a = 1\n# >>> infill strength=0.4: make it faster\nb = 2\nc = 3\n# <<< infill\nd = 4\n"
    marked = parse_markers(text)
    assert marked.text == "a = 1\nb = 2\nc = 3\nd = 4\n"
    (span,) = marked.spans
    assert marked.text[span.start:span.end] == "b = 2\nc = 3\n"
    assert span.kind == REWRITE and span.block
    assert span.strength == pytest.approx(0.4)
    assert span.instruction == "make it faster"
    assert span.line == 2


@pytest.mark.parametrize("opener,closer", [
    ("// >>> infill", "// <<< infill"),
    ("<!-- >>> infill -->", "<!-- <<< infill -->"),
    ("/* >>> infill */", "/* <<< infill */"),
    ("    >>> infill", "    <<< infill"),
])
def test_region_markers_in_any_comment_syntax(opener, closer):
    marked = parse_markers(f"x\n{opener}\ny\n{closer}\nz\n")
    assert marked.text == "x\ny\nz\n"
    assert len(marked.spans) == 1


def test_holes_inside_a_region_are_part_of_it():
    marked = parse_markers("# >>> infill\nx = __FILL__\n# <<< infill\n")
    assert marked.text == "x = \n"
    assert [s.kind for s in marked.spans] == [REWRITE]


def test_empty_region_is_filled_like_a_hole():
    marked = parse_markers("a\n# >>> infill\n# <<< infill\nb\n")
    assert marked.text == "a\nb\n"
    (span,) = marked.spans
    assert span.start == span.end == 2


@pytest.mark.parametrize("line", [
    ">>> infill.load()", ">>> infill = 3", ">>>>>>> infill-branch", "<<<<<<< infill",
    "print('>>> infill')",
])
def test_doctest_and_conflict_lines_are_not_markers(line):
    text = f"x\n{line}\ny\n"
    assert parse_markers(text).text == text
    assert find_markers(text) == []


@pytest.mark.parametrize("text,line,reason", [
    ("a\n# >>> infill\nb\n", 2, "never closed"),
    ("a\n# <<< infill\n", 2, "without a matching"),
    ("# >>> infill\n# >>> infill\n# <<< infill\n", 2, "nested"),
    ("# >>> infill strength=2\n# <<< infill\n", 1, "strength"),
    ("# >>> infill speed=fast\n# <<< infill\n", 1, "unknown region option"),
])
def test_bad_markers_name_the_file_and_line(text, line, reason):
    with pytest.raises(InputError) as info:
        parse_markers(text, path="f.py")
    assert str(info.value).startswith(f"f.py:{line}: ")
    assert reason in str(info.value)


def test_configurable_marker_strings_let_a_file_hold_the_default_text():
    syntax = MarkerSyntax(hole="@@HOLE@@", region_open="BEGIN-REWRITE", region_close="END-REWRITE")
    marked = parse_markers("keep __FILL__ and >>> infill\nx = @@HOLE@@\n", syntax)
    assert marked.text == "keep __FILL__ and >>> infill\nx = \n"
    assert len(marked.spans) == 1


def test_special_token_text_is_ordinary_text():
    text = "s = '<mask>' + '<|mdm_mask|>' + __FILL__\n"
    marked = parse_markers(text)
    assert marked.text == "s = '<mask>' + '<|mdm_mask|>' + \n"


def test_find_markers_reports_lines_and_columns():
    hits = find_markers("a\n  b = __FILL__\n# >>> infill\n# <<< infill\n")
    assert [(h.line, h.column, h.kind) for h in hits] == [
        (2, 7, HOLE), (3, 1, "region-open"), (4, 1, "region-close")]


_pieces = st.lists(st.one_of(
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
    st.sampled_from(["\t", "\r", "é", "\u00a0", "<mask>", "<null>", "\ufeff", "🙂", "\n"]),
), max_size=12)


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(_pieces.map("".join), min_size=1, max_size=5),
       fills=st.lists(st.text(max_size=8), min_size=5, max_size=5))
def test_splicing_fills_keeps_everything_outside_the_holes(chunks, fills):
    chunks = [c.replace("__FILL", "_FILL") for c in chunks]
    source = "__FILL__".join(chunks)
    marked = parse_markers(source)
    assert len(marked.spans) == len(chunks) - 1
    filled = splice(marked.text, marked.spans, fills[:len(marked.spans)])
    # Putting the marker back where each fill went gives the source again.
    assert splice(marked.text, marked.spans, ["__FILL__"] * len(marked.spans)) == source
    pieces = filled
    for fill, chunk in zip(fills, chunks[:-1]):
        assert pieces.startswith(chunk)
        pieces = pieces[len(chunk):]
        assert pieces.startswith(fill)
        pieces = pieces[len(fill):]
    assert pieces == chunks[-1]


def test_splice_refuses_overlapping_spans():
    with pytest.raises(ValueError):
        splice("abcdef", [Span(0, 3), Span(2, 4)], ["x", "y"])


_line = st.text(alphabet=st.sampled_from("ab =()_\t<>é"), max_size=10).map(
    lambda s: s.replace(">>>", ">").replace("<<<", "<"))


@settings(max_examples=200, deadline=None)
@given(lines=st.lists(_line, min_size=1, max_size=8), data=st.data())
def test_rendering_spans_as_markers_is_the_inverse_of_parsing(lines, data):
    """What the editor saves for spans it has not filled reads back as the same spans."""
    from infill.markers import render_markers

    out = []
    i = 0
    while i < len(lines):
        choice = data.draw(st.sampled_from(["plain", "hole", "capped", "region"]))
        if choice == "region":
            n = data.draw(st.integers(0, min(3, len(lines) - i)))
            strength = data.draw(st.sampled_from(["", " strength=0.5"]))
            out.append(f"# >>> infill{strength}")
            out.extend(lines[i:i + n])
            out.append("# <<< infill")
            i += n
            continue
        cut = data.draw(st.integers(0, len(lines[i])))
        hole = {"plain": "", "hole": "__FILL__", "capped": "__FILL_2__"}[choice]
        out.append(lines[i][:cut] + hole + lines[i][cut:])
        i += 1
    source = "\n".join(out) + "\n"
    marked = parse_markers(source)
    rendered = render_markers(marked.text, marked.spans, MarkerSyntax(), "python")
    again = parse_markers(rendered)
    assert again.text == marked.text
    assert [(s.start, s.end, s.kind, s.max_lines, s.strength) for s in again.spans] == \
        [(s.start, s.end, s.kind, s.max_lines, s.strength) for s in marked.spans]


def test_a_rewrite_inside_a_line_is_written_as_a_region_around_its_line():
    from infill.markers import render_markers

    text = "a = 1\n    b = 2\nc = 3\n"
    out = render_markers(text, [Span(12, 13, REWRITE, strength=0.4, instruction="tidy")],
                         language="rust")
    assert out == "a = 1\n    // >>> infill strength=0.4: tidy\n    b = 2\n    // <<< infill\nc = 3\n"


def test_spans_over_markers_cover_the_marker_text_in_place():
    from infill.markers import REWRITE, spans_over_markers

    text = "x = __FILL__\n# >>> infill strength=0.5\ny = __FILL__\n# <<< infill\nz = __FILL_2__\n"
    hole, region, capped = spans_over_markers(text)
    assert text[hole.start:hole.end] == "__FILL__"
    assert region.kind == REWRITE and region.strength == 0.5
    assert text[region.start:region.end] == "# >>> infill strength=0.5\ny = __FILL__\n# <<< infill\n"
    assert text[capped.start:capped.end] == "__FILL_2__" and capped.max_lines == 2
    assert spans_over_markers("# <<< infill\n") == ()  # bad markers: no spans
