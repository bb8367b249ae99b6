"""The editor's pure helpers: span anchoring, selection growth, frame painting, options,
languages; and what the app must not import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from infill.app.options import EditorOptions
from infill.app.painting import (HOLE_MARK, MASKED_MARK, REWRITE_MARK, confidence_mark,
                                 paint_frame, paint_result, span_marks, tokens_per_second)
from infill.app.selection import grow_lines, grow_node
from infill.app.spans import add_span, changed_region, describe_span, make_span, remap_spans, span_at
from infill.markers import HOLE, REWRITE, Span
from infill.options import FillOptions
from infill.settings import Settings
from infill.trajectory import KEPT, MASK_GLYPH, MASKED, NEW, REMASKED, Frame, Slot

TEXT = "def f(x):\n    return x + 1\n"


@pytest.mark.parametrize("old, new, expected", [
    ("abc", "abXc", (2, 2, 3)),
    ("abc", "ac", (1, 2, 1)),
    ("abc", "abc!", (3, 3, 4)),
    ("aaaa", "aaaaa", (4, 4, 5)),
    ("", "x", (0, 0, 1)),
])
def test_changed_region(old, new, expected):
    assert changed_region(old, new) == expected
    start, old_end, new_end = changed_region(old, new)
    assert old[:start] + new[start:new_end] + old[old_end:] == new


def test_spans_move_with_typing_before_inside_and_after():
    rewrite = Span(14, 26, REWRITE)          # "return x + 1"
    hole = Span(9, 9, HOLE)                  # after the colon
    spans = (hole, rewrite)
    before = remap_spans(spans, TEXT, "# c\n" + TEXT)
    assert [(s.start, s.end) for s in before] == [(13, 13), (18, 30)]
    inside = remap_spans(spans, TEXT, TEXT.replace("x + 1", "x +- 1"))
    assert [(s.start, s.end) for s in inside] == [(9, 9), (14, 27)]
    at_end = remap_spans(spans, TEXT, TEXT.replace("x + 1", "x + 1  # one"))
    assert at_end == spans  # text typed right after a span is not part of it
    after = remap_spans(spans, TEXT, TEXT + "pass\n")
    assert after == spans


def test_typing_at_a_hole_or_a_span_start_pushes_it_along():
    hole, rewrite = Span(9, 9, HOLE), Span(14, 26, REWRITE)
    typed = TEXT[:9] + "  " + TEXT[9:]
    assert remap_spans((hole,), TEXT, typed)[0].start == 11
    typed = TEXT[:14] + "  " + TEXT[14:]
    assert (remap_spans((rewrite,), TEXT, typed)[0].start, remap_spans((rewrite,), TEXT, typed)[0].end) == (16, 28)


def test_deleting_a_span_text_drops_it_and_a_partial_edit_trims_it():
    rewrite = Span(14, 26, REWRITE)
    assert remap_spans((rewrite,), TEXT, TEXT[:10] + TEXT[27:]) == ()
    trimmed = remap_spans((rewrite,), TEXT, TEXT[:20] + "\n")   # cut from "x + 1" on
    assert (trimmed[0].start, trimmed[0].end) == (14, 20)


def test_add_span_replaces_what_it_overlaps_and_keeps_order():
    a, b = Span(0, 3, REWRITE), Span(10, 12, REWRITE)
    spans = add_span((a, b), Span(2, 5, HOLE))
    assert [(s.start, s.end) for s in spans] == [(2, 5), (10, 12)]
    spans = add_span(spans, Span(7, 7, HOLE))
    assert [(s.start, s.end) for s in spans] == [(2, 5), (7, 7), (10, 12)]
    assert span_at(spans, 7) == 1 and span_at(spans, 11) == 2 and span_at(spans, 6) is None


def test_make_span_marks_whole_lines_as_a_block():
    line = make_span(TEXT, 10, len(TEXT), REWRITE, 0.4)
    assert line.block and line.strength == 0.4 and line.line == 2
    part = make_span(TEXT, 14, 26, REWRITE, 0.4)
    assert not part.block
    hole = make_span(TEXT, 14, 26, HOLE, 0.4)
    assert hole.kind == HOLE and hole.strength == 1.0
    assert describe_span(TEXT, line) == "L2 rewrite 0.4"
    assert describe_span(TEXT, Span(9, 9, HOLE, max_lines=1)) == "L1 hole ≤1 line"


def test_grow_lines_goes_line_paragraph_block_header():
    lines = ["class A:", "    def f(self):", "        a = 1", "        b = 2", "",
             "        c = 3", "    def g(self):", "        pass"]
    assert grow_lines(lines, 2, 2, whole=False) == (2, 2)
    assert grow_lines(lines, 2, 2, whole=True) == (2, 3)     # the paragraph
    assert grow_lines(lines, 2, 3, whole=True) == (2, 5)     # the block, blank line included
    assert grow_lines(lines, 2, 5, whole=True) == (1, 5)     # with its header
    assert grow_lines(lines, 1, 5, whole=True) == (1, 7)     # the enclosing block
    assert grow_lines(lines, 1, 7, whole=True) == (0, 7)
    assert grow_lines(lines, 0, 7, whole=True) == (0, 7)


def test_grow_node_walks_up_the_tree():
    import tree_sitter_python
    from tree_sitter import Language, Parser

    tree = Parser(Language(tree_sitter_python.language())).parse(TEXT.encode())
    at_x = TEXT.index("x + 1")
    node = grow_node(tree.root_node, at_x, at_x)
    assert (node.start_byte, node.end_byte) == (at_x, at_x + 1)
    node = grow_node(tree.root_node, node.start_byte, node.end_byte)
    assert TEXT[node.start_byte:node.end_byte] == "x + 1"
    node = grow_node(tree.root_node, node.start_byte, node.end_byte)
    assert TEXT[node.start_byte:node.end_byte] == "return x + 1"


def test_paint_frame_draws_masks_confidence_and_revisions():
    spans = (Span(4, 4, HOLE), Span(8, 9, REWRITE))
    text = "abc ef g h"
    frame = Frame(2, (
        Slot(0, "", MASKED, 0.0), Slot(0, "xy", NEW, 0.9), Slot(0, "", KEPT, 0.99, null=True),
        Slot(1, "", REMASKED, 0.0), Slot(1, "Z", KEPT, 0.3),
    ), 0, 0.5)
    painted = paint_frame(text, spans, frame, revised=frozenset({4}))
    assert painted.text == "abc " + MASK_GLYPH + "xy" + "ef g" + MASK_GLYPH + "Zh"
    names = [name for _, _, name in painted.marks]
    assert names == [MASKED_MARK, "infill.new.high", "infill.remasked", "infill.revised",
                     "infill.kept.low"]
    start, end, _ = painted.marks[1]
    assert painted.text[start:end] == "xy"
    assert tokens_per_second(frame) == pytest.approx(3 / 0.5)


def test_paint_result_colours_each_token_when_the_frame_spells_the_fill():
    class Fill:
        start, end, confidence = 4, 8, 0.6

    final = Frame(3, (Slot(0, "ab", KEPT, 0.9), Slot(0, "cd", KEPT, 0.4)), 0, 1.0)
    painted = paint_result("xyz abcd", [Fill()], final)
    assert painted.marks == ((4, 6, "infill.kept.high"), (6, 8, "infill.kept.low"))
    assert paint_result("xyz abcd", [Fill()]).marks == ((4, 8, "infill.kept.mid"),)


def test_span_marks_and_confidence_bands():
    assert span_marks((Span(3, 3, HOLE), Span(5, 9, REWRITE))) == ((3, 4, HOLE_MARK), (5, 9, REWRITE_MARK))
    assert confidence_mark(0.85, True) == "infill.new.high"
    assert confidence_mark(0.5, False) == "infill.kept.mid"


def test_editor_options_leave_unset_values_to_the_engine():
    assert EditorOptions().fill_options() == FillOptions()
    options = EditorOptions(strategy="threshold", steps=8, temperature=0.3, candidates=2)
    assert options.fill_options() == FillOptions(strategy="threshold", steps=8, temperature=0.3,
                                                 candidates=2)
    with pytest.raises(ValueError):
        EditorOptions(strategy="nope")
    with pytest.raises(ValueError):
        EditorOptions(temperature=float("nan"))

    settings = Settings(fill=FillOptions(steps=16, threshold=0.8, candidates=3))
    assert EditorOptions.from_settings(settings) == EditorOptions(steps=16, threshold=0.8, candidates=3)


def test_the_editor_offers_every_registered_strategy():
    from infill.app.options import EDITOR_FIELDS, STRATEGIES
    from infill.strategies import STRATEGIES as REGISTRY

    assert STRATEGIES == tuple(REGISTRY)
    choices = dict((name, values) for name, _, values in EDITOR_FIELDS)
    assert choices["strategy"] == (None, *REGISTRY)


@pytest.mark.parametrize("name", ["python", "javascript", "typescript", "tsx", "c", "cpp",
                                  "rust", "go"])
def test_every_code_language_highlights_offline(name):
    from infill.app import languages

    resolved = languages.resolve(name)
    assert resolved is not None
    assert languages.resolve(name) is resolved  # compiled once per process


def test_languages_come_from_file_names():
    from infill.app.languages import language_for_path

    assert language_for_path("x/y.tsx") == "tsx" and language_for_path("a.hpp") == "cpp"
    assert language_for_path("notes.txt") is None and language_for_path(None) is None


def test_reloading_a_javascript_view_does_not_crash():
    # tree-sitter 0.26.1 crashes when a query compiled from Textual's javascript.scm is freed
    # and compiled again; the views compile each query once (languages.resolve).
    code = ("import asyncio\n"
            "from textual.app import App\n"
            "from infill.app.fill_preview import FillPreview\n"
            "class A(App):\n"
            "    def compose(self):\n"
            "        yield FillPreview(id='p')\n"
            "async def main():\n"
            "    app = A()\n"
            "    async with app.run_test() as pilot:\n"
            "        view = app.query_one(FillPreview)\n"
            "        for i in range(6):\n"
            "            view.language = ('javascript', 'typescript', 'tsx')[i % 3]\n"
            "            view.load_text(f'const x = {i};')\n"
            "            await pilot.pause()\n"
            "asyncio.run(main())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_importing_the_app_loads_no_model_code():
    code = ("import sys, infill.app\n"
            "bad = [m for m in ('torch', 'transformers', 'git') if m in sys.modules]\n"
            "assert not bad, bad\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()[-2000:]


def test_the_editor_docs_list_every_key():
    from pathlib import Path

    from infill.app.keys import KEYS, display

    doc = (Path(__file__).parent.parent / "docs" / "EDITOR.md").read_text()
    for key in KEYS:
        assert f"| `{display(key.keys)}` |" in doc and key.title in doc, key


def test_one_extension_table_for_the_engine_the_views_and_training():
    from infill import languages as engine
    from infill.app import languages as views
    from infill.training import corpus_sources, tokenizer

    for ext, lang in engine.EXTENSIONS.items():
        assert views.ENGINE_NAMES.get(views.EXTENSIONS[ext], views.EXTENSIONS[ext]) == lang
    for table in (tokenizer.EXTENSIONS, corpus_sources.EXTENSIONS):
        assert all(engine.EXTENSIONS[ext] == lang for ext, lang in table.items())
    assert tokenizer.LANGUAGES == engine.HEADER_LANGUAGES
