"""Diff mode under Pilot, with real git in temporary repositories: open a repository with
changes, mark a hunk or its added lines, generate (scripted filler, and the real engine with
a tiny model), accept, and check the work tree and the patch shown; a repository with no
commits; deleted, binary and renamed files; a file changed on disk before the write."""

from __future__ import annotations

import asyncio
import io
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from infill.app import make_diff_app
from infill.app.choice_screen import ChoiceScreen
from infill.app.diff_view import DiffView
from infill.app.help_screen import HelpScreen
from infill.errors import InputError
from infill.markers import REWRITE
from test_app_support import SOURCE, FakeFiller, accept_anyway

pytestmark = pytest.mark.anyio


BASE = SOURCE + '''

def mean(values):
    total = sum(values)
    return total / len(values)
'''

SECOND_HUNK = "    count = len(values)\n    return sum(values) / count\n"
# Two hunks: one added line in ``add`` and two changed lines in ``mean``.
NEW = (BASE.replace("    return a + b\n", "    # the sum\n    return a + b\n")
       .replace("    total = sum(values)\n    return total / len(values)\n",
                "    count = len(values)\n    return sum(values) / count\n"))


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def make_repo(root: Path, files: dict[str, str | bytes], commit: bool = True) -> Path:
    repo = root / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "core.autocrlf", "false")
    for name, data in files.items():
        path = repo / name
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    if commit:
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
    return repo


@pytest.fixture
def repo(git_env):
    """A repository whose ``calc.py`` has two unstaged hunks."""
    repo = make_repo(git_env, {"calc.py": BASE})
    (repo / "calc.py").write_text(NEW)
    return repo


async def wait_for(pilot, predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.02)


def pane(app) -> str:
    return str(app.query_one("#diff-text").render())


def list_labels(app) -> list[str]:
    return [row.label for row in app.file_list.rows]


async def generate_and_accept(app, pilot) -> None:
    await pilot.press("ctrl+g")
    await wait_for(pilot, lambda: app.state == "review")
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.state == "edit")
    await pilot.pause()


async def test_mark_a_hunk_generate_accept_writes_the_work_tree_and_shows_the_patch(repo):
    filler = FakeFiller(["    n = len(values)\n    return sum(values) / n\n"])
    app = make_diff_app(repo, filler=filler)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.editor.text == NEW and not app.editor.read_only
        assert list_labels(app)[0] == "M calc.py" and len(app.file_list.rows) == 3
        assert app.status.file == "calc.py" and not app.status.modified
        # the added lines have a "+" in the gutter; the pane shows the file's diff
        assert sorted(app.editor._gutter_signs) == [1, 13, 14]
        assert "+    count = len(values)" in pane(app) and "-    total = sum(values)" in pane(app)

        await pilot.press("f8", "f8")  # the second hunk
        assert app.editor.cursor_location == (13, 0)
        assert app.file_list.highlighted == 2
        await pilot.press("ctrl+o")
        (span,) = app.editor.spans
        assert span.kind == REWRITE and span.block and span.strength == 0.5
        assert NEW[span.start:span.end] == SECOND_HUNK

        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        assert "+    n = len(values)" in pane(app)  # review: the fill's own diff
        assert (repo / "calc.py").read_text() == NEW  # nothing written before accept
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.state == "edit")
        await pilot.pause()

        expected = NEW.replace("    count = len(values)\n    return sum(values) / count\n",
                               "    n = len(values)\n    return sum(values) / n\n")
        assert (repo / "calc.py").read_text() == expected  # only the hunk changed
        assert app.editor.text == expected and app.editor.spans == ()
        assert not app.status.modified
        shown = pane(app)
        assert shown == git(repo, "diff", "HEAD", "--", "calc.py").split("+++ b/calc.py\n")[1]
        assert "+    n = len(values)" in shown and "+    # the sum" in shown
        assert "-    total = sum(values)" in shown
        assert "against HEAD" in app.query_one("#diff", DiffView).border_title
        assert sorted(app.editor._gutter_signs) == [1, 13, 14]  # the new diff's added lines
        assert git(repo, "diff", "--cached") == ""  # the index is never touched

        await pilot.press("ctrl+z")  # the fill is one undo step, in the file too (issue 12)
        await pilot.pause()
        assert app.editor.text == NEW and len(app.editor.spans) == 1
        assert (repo / "calc.py").read_text() == NEW and not app.status.modified


async def test_added_lines_key_marks_each_run_or_the_selected_lines(repo):
    app = make_diff_app(repo, filler=FakeFiller())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        editor = app.editor
        editor.move_cursor((0, 0))  # in the first hunk, on a context line
        await pilot.press("f5")
        (span,) = editor.spans
        assert NEW[span.start:span.end] == "    # the sum\n"
        await pilot.press("ctrl+t")  # remove it again (the cursor is after it: move back)
        editor.move_cursor((1, 2))
        await pilot.press("ctrl+t")
        assert editor.spans == ()

        editor.move_cursor((14, 3))  # on the second added line of the second hunk
        editor.move_cursor((14, 10), select=True)
        await pilot.press("f5")  # a selection inside the added lines: its line only
        (span,) = editor.spans
        assert NEW[span.start:span.end] == "    return sum(values) / count\n"

        editor.move_cursor((8, 0))  # between the hunks
        await pilot.press("ctrl+o")
        assert len(editor.spans) == 1  # nothing added
        # typing above the hunks moves them: the keys still find them
        editor.move_cursor((0, 0))
        await pilot.press("#", "enter")
        await pilot.pause()
        editor.move_cursor((14, 0))
        await pilot.press("ctrl+o")
        assert [editor.text[s.start:s.end] for s in editor.spans] == [
            "    count = len(values)\n    return sum(values) / count\n"]
        assert app.status.modified


async def test_a_hunk_that_only_removed_lines_gives_an_empty_rewrite_there(git_env):
    repo = make_repo(git_env, {"a.py": "one\ntwo\nthree\nfour\n"})
    (repo / "a.py").write_text("one\nfour\n")
    app = make_diff_app(repo, filler=FakeFiller(["2\n3\n"]))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.editor._gutter_signs == {}  # nothing added
        await pilot.press("f8", "ctrl+o")
        (span,) = app.editor.spans
        assert span.start == span.end == len("one\n") and span.kind == REWRITE
        await generate_and_accept(app, pilot)
        assert (repo / "a.py").read_text() == "one\n2\n3\nfour\n"
        assert "-two" in pane(app) and "+2" in pane(app)


async def test_an_empty_diff_opens_with_nothing_to_edit(git_env):
    repo = make_repo(git_env, {"a.py": "a = 1\n"})
    app = make_diff_app(repo, filler=FakeFiller())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.status.file == "no changes" and app.editor.read_only
        await pilot.press("ctrl+g", "ctrl+o")
        assert app.state == "edit" and app.editor.spans == () and not app.status.modified
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


async def test_real_engine_rewrites_only_inside_the_hunk(repo, tiny_filler):
    app = make_diff_app(repo, filler=tiny_filler)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.options = app.options.with_(steps=4, strength=1.0)
        app.editor.move_cursor((13, 4))
        await pilot.press("ctrl+o")
        (span,) = app.editor.spans
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: app.state == "review", timeout=60)
        assert app.fill_run.frames
        await accept_anyway(app, pilot)
        await wait_for(pilot, lambda: app.state == "edit")
        await pilot.pause()
        written = (repo / "calc.py").read_text()
        assert written == app.editor.text
        assert written.startswith(NEW[:span.start]) and written.endswith(NEW[span.end:])
        if written != NEW:
            assert "against HEAD" in app.query_one("#diff", DiffView).border_title


async def test_a_repository_with_no_commits(git_env):
    repo = make_repo(git_env, {"hello.py": "def hello():\n    return 1\n"}, commit=False)
    git(repo, "add", "-A")
    app = make_diff_app(repo, staged=True, filler=FakeFiller(["    return 'hi'\n"]))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert list_labels(app)[0] == "A hello.py"
        assert app.current_file.status == "added"
        assert sorted(app.editor._gutter_signs) == [0, 1]  # every line is added
        app.editor.move_cursor((1, 0))
        await pilot.press("f5")  # the run under the cursor: the whole file
        (span,) = app.editor.spans
        assert (span.start, span.end) == (0, len(app.editor.text))
        app.editor.set_spans(())  # a rewrite of the second line instead
        app.editor.move_cursor((1, 0))
        await pilot.press("ctrl+r")
        await generate_and_accept(app, pilot)
        assert (repo / "hello.py").read_text() == "def hello():\n    return 'hi'\n"
        shown = pane(app)
        assert "+def hello():" in shown and "+    return 'hi'" in shown
        assert "new file mode" in shown and not any(l.startswith("-") for l in shown.splitlines())
        # plain ``git diff`` shows what is not staged yet: now the fill
        assert "+    return 'hi'" in git(repo, "diff")


async def test_no_commits_plain_diff_lists_intent_to_add_files(git_env):
    repo = make_repo(git_env, {"a.txt": "one\n"}, commit=False)
    git(repo, "add", "-N", "a.txt")
    app = make_diff_app(repo, filler=FakeFiller())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert list_labels(app)[0] == "A a.txt" and app.editor.text == "one\n"


async def test_deleted_binary_and_renamed_files_are_listed_but_only_text_is_editable(git_env):
    body = "".join(f"line {i}\n" for i in range(30))
    repo = make_repo(git_env, {"gone.py": "x = 1\n", "logo.png": b"\x89PNG\0\0\1\2",
                                "old.py": body})
    git(repo, "rm", "-q", "gone.py")
    (repo / "logo.png").write_bytes(b"\x89PNG\0\0\3\4")
    git(repo, "mv", "old.py", "new.py")
    (repo / "new.py").write_text(body.replace("line 5\n", "line five\n"))
    git(repo, "add", "-A")
    app = make_diff_app(repo, staged=True, filler=FakeFiller())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        labels = list_labels(app)
        assert "D gone.py" in labels and "M logo.png (binary)" in labels
        assert "R old.py → new.py" in labels
        # the first editable file is opened: the renamed one
        assert app.current_file.new_path == "new.py" and "line five" in app.editor.text
        assert app.status.detail.startswith("renamed from old.py")
        assert "rename from old.py" in pane(app)

        for label, reason in (("D gone.py", "deleted"), ("M logo.png (binary)", "binary file")):
            index = labels.index(label)
            app.file_list.focus()
            app.file_list.highlighted = index
            await pilot.press("enter")
            await pilot.pause()
            assert app.editor.read_only and app.editor.text == ""
            assert app.status.detail.startswith(f"not editable: {reason}")
            await pilot.press("ctrl+g")  # refused, with the reason
            await pilot.press("ctrl+o")
            assert app.state == "edit" and app.editor.spans == ()
        assert "Binary files a/logo.png and b/logo.png differ" in pane(app)


async def test_a_file_changed_on_disk_before_the_write_is_refused(repo):
    app = make_diff_app(repo, filler=FakeFiller(["    return 0\n"]))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.editor.move_cursor((13, 0))
        await pilot.press("ctrl+o", "ctrl+g")
        await wait_for(pilot, lambda: app.state == "review")
        theirs = NEW.replace("def add", "def plus")
        (repo / "calc.py").write_text(theirs)  # someone else writes the file meanwhile
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        assert "changed on disk" in app.screen.question
        assert (repo / "calc.py").read_text() == theirs  # never overwritten
        assert app.status.modified  # the fill is in the buffer, not written

        await pilot.click("#choice-reload")
        await pilot.pause()
        assert app.editor.text == theirs and not app.status.modified
        assert (repo / "calc.py").read_text() == theirs
        await pilot.press("ctrl+z")  # the user's version is one undo away
        await pilot.pause()
        assert "    return 0\n" in app.editor.text and app.status.modified


async def test_staged_mode_refuses_a_file_with_unstaged_changes(repo):
    git(repo, "add", "calc.py")
    (repo / "calc.py").write_text(NEW + "# unstaged\n")
    app = make_diff_app(repo, staged=True, filler=FakeFiller(["    return 0\n"]))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.editor.text == NEW  # the staged version
        app.editor.move_cursor((13, 0))
        await pilot.press("ctrl+o")
        await generate_and_accept(app, pilot)
        assert isinstance(app.screen, ChoiceScreen)
        assert "unstaged changes" in app.screen.question
        assert (repo / "calc.py").read_text() == NEW + "# unstaged\n"


async def test_switching_files_asks_before_dropping_unwritten_changes(git_env):
    repo = make_repo(git_env, {"a.py": "a = 1\n", "b.py": "b = 1\n"})
    (repo / "a.py").write_text("a = 2\n")
    (repo / "b.py").write_text("b = 2\n")
    app = make_diff_app(repo, filler=FakeFiller())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert app.current_file.path == "a.py"
        await pilot.press("ctrl+o")  # a span, kept while another file is shown
        await pilot.press("f9")
        assert app.file_list.has_focus
        app.file_list.highlighted = list_labels(app).index("M b.py")
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_file.path == "b.py" and app.editor.text == "b = 2\n"
        assert app.editor.has_focus
        await pilot.press("x")  # an unwritten edit
        app.file_list.focus()
        app.file_list.highlighted = 0
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ChoiceScreen))
        await pilot.click("#choice-write")
        await pilot.pause()
        assert (repo / "b.py").read_text() == "xb = 2\n"
        assert app.current_file.path == "a.py" and len(app.editor.spans) == 1


async def test_help_and_palette_list_the_diff_keys(repo):
    app = make_diff_app(repo, filler=FakeFiller())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("f1")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen) and app.screen.mode == "diff"
        console = Console(width=100, record=True, file=io.StringIO())
        console.print(app.screen.query_one("#help-keys").content)
        help_text = console.export_text()
        assert "Mark the hunk at the cursor" in help_text and "shift+f8" in help_text
        titles = [command.title for command in app.get_system_commands(app.screen)]
        assert "Go to the next hunk" in titles and "Save as…" not in titles


def test_outside_a_git_repository_is_an_input_error(git_env):
    outside = git_env / "plain"
    outside.mkdir()
    with pytest.raises(InputError, match="not inside a git work tree"):
        make_diff_app(outside)
    with pytest.raises(InputError, match="unknown revision"):
        make_diff_app(make_repo(git_env, {"a.py": "a\n"}), rev="no-such-rev")


async def test_undo_after_an_accepted_fill_restores_the_file_too(repo):
    app = make_diff_app(repo, filler=FakeFiller(["    return 0\n"]))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        app.editor.move_cursor((13, 0))
        await pilot.press("ctrl+o")
        await generate_and_accept(app, pilot)
        filled = app.editor.text
        assert (repo / "calc.py").read_text() == filled != NEW
        await pilot.press("ctrl+z")
        await wait_for(pilot, lambda: (repo / "calc.py").read_text() == NEW)
        assert app.editor.text == NEW and not app.status.modified
        await pilot.press("ctrl+y")
        await wait_for(pilot, lambda: (repo / "calc.py").read_text() == filled)


async def test_markers_already_in_the_file_are_spans_in_diff_mode(git_env):
    repo = make_repo(git_env, {"m.py": "def f(a):\n    return a\n"})
    (repo / "m.py").write_text("def f(a):\n    return __FILL__\n")
    app = make_diff_app(repo, filler=FakeFiller(["a * 2"]))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        (hole,) = app.editor.spans
        assert app.editor.text[hole.start:hole.end] == "__FILL__"
        await generate_and_accept(app, pilot)
        assert (repo / "m.py").read_text() == "def f(a):\n    return a * 2\n"
