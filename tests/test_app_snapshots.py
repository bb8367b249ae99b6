"""Snapshots of the editor at 80x24: the main screen with spans, the animation mid-way, the
diff preview and the help screen. Fixtures hold no clock- or path-dependent text (the fake
filler's frames carry fixed times; the status bar shows the file's base name only).

Update with ``pytest tests/test_app_snapshots.py --snapshot-update`` after a deliberate change.
"""

from __future__ import annotations

import asyncio

import pytest

from infill.app import make_app
from test_app_support import FakeFiller

MARKED = '''def add(a, b):
    """Return the sum of a and b."""
    return __FILL__


def greet(name):
    # >>> infill strength=0.5
    message = "hello " + name
    print(message)
    # <<< infill
    return message
'''

FILLS = ["a + b", "    message = f'hello {name}'\n    print(message)\n"]


@pytest.fixture
def marked(tmp_path):
    path = tmp_path / "sample.py"
    path.write_text(MARKED)
    return str(path)


async def settle(pilot) -> None:
    app = pilot.app
    app.editor.cursor_blink = False
    app.preview.cursor_blink = False
    await pilot.pause()


async def wait_for(pilot, predicate, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out waiting for the app"
        await pilot.pause(0.02)


def test_main_screen(snap_compare, marked):
    assert snap_compare(make_app(marked, filler=FakeFiller(FILLS)), run_before=settle)


def test_animation_mid_way(snap_compare, marked):
    filler = FakeFiller(FILLS, steps=6)
    filler.hold_at = 4

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: "step 3 " in pilot.app.status.detail)
        await pilot.pause()

    assert snap_compare(make_app(marked, filler=filler), run_before=run_before)


def test_diff_preview(snap_compare, marked):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("ctrl+g")
        await wait_for(pilot, lambda: pilot.app.state == "review")
        await pilot.pause()

    assert snap_compare(make_app(marked, filler=FakeFiller(FILLS)), run_before=run_before)


def test_help_screen(snap_compare, marked):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(make_app(marked, filler=FakeFiller(FILLS)), run_before=run_before)
