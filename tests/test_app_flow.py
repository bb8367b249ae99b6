"""The editor's whole flow under Pilot: open, mark, generate, watch, review, accept, undo,
redo, save; cancel; a file changed on disk; a model that loads late or not at all."""

from __future__ import annotations

import asyncio
import threading

import pytest
from textual.widgets.text_area import Selection

from infill.app import make_app
from infill.app.choice_screen import ChoiceScreen
from infill.app.diff_view import DiffView
from infill.app.help_screen import HelpScreen
from infill.app.path_screen import PathScreen
from infill.errors import ModelError
from infill.markers import HOLE, REWRITE
from infill.trajectory import MASK_GLYPH
from test_app_support import SOURCE, FakeFiller, accept_anyway

pytestmark = pytest.mark.anyio



MARKED = '''def add(a, b):
    return __FILL__


def greet(name):
    # >>> infill strength=0.5
    message = "hello " + name
    # <<< infill
    return message
'''


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text(SOURCE)
    return path


async def wait_for(pilot, predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


async def mark_selection_and_node(app, pilot) -> None:
    """A hole over the selection ``a + b``, and a rewrite of the node ``v * factor``."""
    editor = app.editor
    editor.move_cursor((1, 11))
    await pilot.press("shift+end", "ctrl+f")
    editor.move_cursor((7, 22))  # on the ``v`` of ``v * factor``
    await pilot.press("ctrl+n")
    assert editor.selected_text == "v"
    await pilot.press("ctrl+n")
    assert editor.selected_text == "v * factor"
    await pilot.press("ctrl+r")


async def test_open_shows_markers_as_spans_over_clean_text(tmp_path):
    path = tmp_path / "marked.py"
    path.write_text(MARKED)
    app = make_app(str(path), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = app.editor
        assert "__FILL__" not in editor.text and ">>> infill" not in editor.text
        hole, rewrite = editor.spans
        assert (hole.kind, hole.start == hole.end) == (HOLE, True)
        assert rewrite.kind == REWRITE and rewrite.strength == 0.5
        assert editor.text[rewrite.start:rewrite.end] == '    message = "hello " + name\n'
        assert not app.status.modified and app.status.file == "marked.py"  # saving would write the same bytes
        assert app.status.state == "ready" and app.status.model == "fake-model"
        assert {name for _, _, name in editor.marks} == {"infill.hole", "infill.rewrite"}


async def test_mark_generate_accept_undo_redo_save_with_fake(sample):
    filler = FakeFiller(["a - b", "v + factor"], steps=5)
    app = make_app(str(sample), filler=filler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await mark_selection_and_node(app, pilot)
        hole, rewrite = app.editor.spans
        assert hole.kind == HOLE and SOURCE[hole.start:hole.end] == "a + b"
        assert rewrite.kind == REWRITE and SOURCE[rewrite.start:rewrite.end] == "v * factor"

        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        run = app.fill_run
        assert len(run.frames) == 5 and run.first_shown is not None
        assert app.editor.text == SOURCE  # nothing applied before accept
        assert "return a - b" in app.preview.text
        diff = str(app.query_one("#diff-text").render())
        assert "-    return a + b" in diff and "+    return a - b" in diff

        await pilot.press("enter")
        await pilot.pause()
        filled = SOURCE.replace("a + b", "a - b").replace("v * factor", "v + factor")
        assert app.state == "edit" and app.editor.text == filled and app.editor.spans == ()
        assert sample.read_text() == SOURCE

        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.editor.text == SOURCE
        assert len(app.editor.spans) == 2  # undo brings the spans back
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert app.editor.text == filled and app.editor.spans == ()

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert sample.read_text() == filled and not app.status.modified


async def test_whole_flow_with_the_real_engine(sample, tiny_filler):
    app = make_app(str(sample), filler=tiny_filler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await mark_selection_and_node(app, pilot)
        app.options = app.options.with_(steps=6)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review", timeout=60)
        run = app.fill_run
        assert run.frames and run.first_shown is not None
        assert run.result.trajectory and max(f.step for f in run.result.trajectory) <= 6
        new_text = run.result.text
        hole_fill, rewrite_fill = run.result.spans
        assert new_text[:hole_fill.start] == SOURCE[:SOURCE.index("a + b")]
        assert new_text[rewrite_fill.end:] == SOURCE[SOURCE.index("v * factor") + 10:]

        await accept_anyway(app, pilot)
        assert app.editor.text == new_text
        await pilot.press("ctrl+z")
        await pilot.pause()
        assert app.editor.text == SOURCE
        await pilot.press("ctrl+y", "ctrl+s")
        await pilot.pause()
        assert sample.read_text() == new_text


async def test_cancel_mid_generation_leaves_the_buffer_unchanged(sample):
    filler = FakeFiller(["x"], steps=6)
    filler.hold_at = 3
    app = make_app(str(sample), filler=filler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.editor.move_cursor((1, 11))
        await pilot.press("shift+end", "ctrl+f", "ctrl+g")
        await asyncio.get_running_loop().run_in_executor(None, filler.reached.wait, 10)
        await wait_for(pilot, lambda: "step 2" in app.status.detail)
        assert app.state == "filling" and MASK_GLYPH in app.preview.text
        # The UI keeps answering keys while the model runs.
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert app.state == "filling"
        await pilot.press("escape")
        filler.release.set()
        await wait_for(pilot, lambda: app.state == "edit")
        assert app.status.state == "cancelled"
        assert app.editor.text == SOURCE and len(app.editor.spans) == 1
        assert sample.read_text() == SOURCE


async def test_file_changed_on_disk_is_detected_at_save(sample, tmp_path):
    app = make_app(str(sample), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("x")
        mine = "x" + SOURCE
        theirs = SOURCE + "# edited elsewhere\n"
        sample.write_text(theirs)

        await pilot.press("ctrl+s")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen) and "changed on disk" in app.screen.question
        await pilot.click("#choice-cancel")
        await pilot.pause()
        assert sample.read_text() == theirs  # never overwritten

        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.click("#choice-reload")
        await pilot.pause()
        assert app.editor.text == theirs and not app.status.modified
        await pilot.press("ctrl+z")  # the user's version is one undo away
        await pilot.pause()
        assert app.editor.text == mine

        sample.write_text(SOURCE)  # changed again: this time save under another name
        await pilot.press("ctrl+s")
        await pilot.pause()
        await pilot.click("#choice-save-as")
        await pilot.pause()
        assert isinstance(app.screen, PathScreen)
        target = tmp_path / "mine.py"
        app.screen.query_one("#path-input").value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert target.read_text() == mine and sample.read_text() == SOURCE
        assert app.path == str(target) and app.status.file == "mine.py"


async def test_review_cycles_candidates_regenerates_and_replays(sample):
    filler = FakeFiller(["a - b"], steps=4)
    app = make_app(str(sample), filler=filler)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.set_options(app.options.with_(candidates=3))
        app.editor.move_cursor((1, 11))
        await pilot.press("shift+end", "ctrl+f", "ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        assert "candidate 1/3" in app.status.detail
        await pilot.press("ctrl+k")
        assert "candidate 2/3" in app.status.detail and "a - b_c1" in app.preview.text

        await pilot.press("left")
        assert app.fill_run.replay == 3 and "replay step 4/4" in app.status.detail
        await pilot.press("left", "left")
        assert app.fill_run.replay == 1 and MASK_GLYPH in app.preview.text
        await pilot.press("right", "right", "right")
        assert app.fill_run.replay is None and "candidate 1/3" in app.status.detail

        await pilot.press("ctrl+e")
        await wait_for(pilot, lambda: app.state == "review" and app.fill_run.seed == 1)
        assert filler.calls[-1]["seed"] == 1 and filler.calls[-1]["options"].temperature == 0.7
        assert "a - b_s1" in app.preview.text
        await pilot.press("ctrl+k", "ctrl+k", "enter")
        await pilot.pause()
        assert "return a - b_s1_c2" in app.editor.text


async def test_reject_keeps_spans_and_buffer(sample):
    app = make_app(str(sample), filler=FakeFiller(["zzz"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.editor.move_cursor((1, 11))
        await pilot.press("ctrl+f", "ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        await pilot.press("escape")
        await pilot.pause()
        assert app.state == "edit" and app.editor.text == SOURCE and len(app.editor.spans) == 1
        assert app.focused is app.editor


async def test_model_loads_in_a_worker_and_generate_waits_for_it(sample):
    ready = threading.Event()
    filler = FakeFiller(["a - b"])

    def factory():
        ready.wait(10)
        return filler

    app = make_app(str(sample), filler_factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.status.state == "loading model…"
        await pilot.press("right", "x")  # the editor is usable while the model loads
        app.editor.move_cursor((1, 11))
        await pilot.press("ctrl+f", "ctrl+g")
        assert app.status.state == "waiting for model…"
        ready.set()
        await wait_for(pilot, lambda: app.state == "review")
        assert app.status.model == "fake-model" and app.status.device == "cpu"


async def test_a_model_that_fails_to_load_leaves_the_editor_usable(sample):
    def factory():
        raise ModelError("no default model: pass --model DIR")

    app = make_app(str(sample), filler_factory=factory)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.model_error is not None)
        assert app.status.error and app.status.state == "no model"
        assert "no default model" in app.status.detail
        await pilot.press("x")
        assert app.editor.text.startswith("x")
        await pilot.press("ctrl+f", "ctrl+g")
        await pilot.pause()
        assert app.state == "edit"
        assert any("no default model" in n.message for n in app._notifications)


async def test_spans_follow_edits_and_can_be_listed_jumped_to_and_removed(sample):
    app = make_app(str(sample), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = app.editor
        editor.move_cursor((1, 11))
        await pilot.press("ctrl+f")
        editor.move_cursor((5, 4))
        await pilot.press("ctrl+r")  # no selection: the whole line, as a block rewrite
        hole, line = editor.spans
        assert line.block and editor.text[line.start:line.end] == "    result = []\n"
        editor.move_cursor((0, 0))
        await pilot.press("#", " ")
        assert [s.start for s in editor.spans] == [hole.start + 2, line.start + 2]

        await pilot.press("f3")
        assert editor.cursor_location == (1, 11)
        await pilot.press("f3")
        assert editor.cursor_location == (5, 0)
        await pilot.press("ctrl+t")
        assert len(editor.spans) == 1

        await pilot.press("f2")
        span_list = app.query_one("#spans")
        assert span_list.display and span_list.option_count == 1 and app.focused is span_list
        await pilot.press("delete")
        await pilot.pause()
        assert editor.spans == () and span_list.option_count == 0

        await pilot.press("f2")
        editor.move_cursor((5, 4))
        await pilot.press("ctrl+r", "f2")
        await pilot.press("plus")
        assert editor.spans[0].strength == 0.75
        await pilot.press("minus", "minus", "minus")
        assert editor.spans[0].strength == 0.25
        await pilot.press("enter")
        assert app.focused is editor and editor.cursor_location == (5, 0)


async def test_line_key_grows_to_the_block(sample):
    app = make_app(str(sample), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        editor = app.editor
        editor.move_cursor((7, 8))
        await pilot.press("ctrl+l")
        assert editor.selected_text == "        result.append(v * factor)\n"
        await pilot.press("ctrl+l")
        assert editor.selected_text.startswith("    for v in values:\n")
        assert editor.selection == Selection((6, 0), (8, 0))


async def test_help_palette_settings_and_quit(sample):
    app = make_app(str(sample), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")

        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"strategy: threshold")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await pilot.pause()
        assert app.options.strategy == "threshold"

        await pilot.press("f4")
        await pilot.pause()
        app.screen.query_one("#set-candidates").value = "2"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.options.candidates == 2 and app.options.strategy == "threshold"

        await pilot.press("x", "ctrl+q")
        await pilot.pause()
        assert isinstance(app.screen, ChoiceScreen)
        await pilot.click("#choice-discard")
        await pilot.pause()
    assert app.return_value == 0
    assert sample.read_text() == SOURCE


async def test_diff_preview_is_shown_during_review(sample):
    app = make_app(str(sample), filler=FakeFiller(["a * b"]))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert not app.query_one(DiffView).display
        app.editor.move_cursor((1, 11))
        await pilot.press("shift+end", "ctrl+f", "ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        assert app.query_one(DiffView).display


async def test_no_color_keeps_spans_and_tokens_distinct(sample, monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(str(sample), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.no_color
        styles = app.editor._theme.syntax_styles
        assert styles["infill.hole"].reverse and styles["infill.rewrite"].underline
        assert styles["infill.masked"].dim and styles["infill.new.high"].bold
        assert styles["infill.kept.low"].italic and styles["infill.revised"].underline


async def test_saving_with_unfilled_spans_writes_them_back_as_markers(tmp_path):
    path = tmp_path / "marked.py"
    path.write_text(MARKED)
    app = make_app(str(path), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert "__FILL__" not in app.editor.text and app.editor.spans
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert path.read_text() == MARKED
        assert not app.status.modified


async def test_a_new_file_is_created_on_save(tmp_path):
    path = tmp_path / "new.py"
    app = make_app(str(path), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.editor.text == "" and app.status.modified
        await pilot.press(*"x = 1", "ctrl+s")
        await pilot.pause()
        assert path.read_text() == "x = 1" and not app.status.modified


async def test_guard_warns_and_accept_anyway_needs_a_second_enter(tmp_path):
    path = tmp_path / "g.py"
    path.write_text("def add(a, b):\n    return __FILL__\n")
    app = make_app(str(path), filler=FakeFiller(["a +"], steps=2))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        assert "does not parse" in app.status.detail
        await pilot.press("enter")
        await pilot.pause()
        assert app.state == "review"  # warned, not applied
        assert "return a +" not in app.editor.text
        await pilot.press("enter")
        await pilot.pause()
        assert app.state == "edit" and "return a +" in app.editor.text


async def test_a_fill_reading_a_name_nothing_binds_is_shown_with_a_caution_and_applies(tmp_path):
    path = tmp_path / "c.py"
    path.write_text("def add(a, b):\n    return __FILL__\n")
    app = make_app(str(path), filler=FakeFiller(["a + total"], steps=2))
    async with app.run_test(size=(120, 24)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        assert "⚠ line 2: the fill reads `total`" in app.status.detail
        await pilot.press("enter")  # a caution, not a refusal: one enter applies it
        await pilot.pause()
        assert app.state == "edit" and "return a + total" in app.editor.text


# ------------------------------------------------------- front-door defects (issue 12)


async def test_escape_closes_the_span_list(tmp_path):
    path = tmp_path / "marked.py"
    path.write_text(MARKED)
    app = make_app(str(path), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        await pilot.press("f2")
        await pilot.pause()
        assert app.main_screen.has_class("-spans")
        await pilot.press("escape")
        await pilot.pause()
        assert not app.main_screen.has_class("-spans")


async def test_a_hole_over_a_selection_keeps_the_selected_text_when_saved(sample):
    app = make_app(str(sample), filler=FakeFiller())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        app.editor.move_cursor((1, 11))
        await pilot.press("shift+end", "ctrl+f")
        await pilot.press("ctrl+s")
        await pilot.pause()
        saved = sample.read_text()
        assert "return a + b" in saved  # the selected text is still there...
        assert ">>> infill" in saved and "<<< infill" in saved  # ...marked for rewriting


async def test_ctrl_y_is_redo_not_accept_and_one_step_is_singular(sample):
    app = make_app(str(sample), filler=FakeFiller(["x"], steps=1))
    async with app.run_test(size=(100, 24)) as pilot:
        await pilot.pause()
        app.editor.move_cursor((1, 11))
        await pilot.press("shift+end", "ctrl+f", "ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        assert " 1 step " in app.status.detail, app.status.detail
        await pilot.press("ctrl+y")
        await pilot.pause()
        assert app.state == "review"
