#!/usr/bin/env python
"""Write docs/editor.svg: the editor mid-animation on a sample (not a test; run by hand).

Opens the file, generates, and holds the fill when about half of the slots are committed,
then saves Textual's SVG screenshot. With ``--scripted`` a scripted filler stands in for the
model (for the docs before a trained checkpoint exists); otherwise the model runs for real.

    python tests/e2e_screenshot.py [--model DIR] [--file samples/fizzbuzz.py] [--out docs/editor.svg]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


class HeldFiller:
    """Wraps a filler: pauses its worker at the first frame with half the slots committed."""

    def __init__(self, filler, fraction: float = 0.5) -> None:
        self.filler = filler
        self.info = filler.info
        self.fraction = fraction
        self.reached = threading.Event()
        self.release = threading.Event()

    def fill_spans(self, *args, on_frame=None, **kwargs):
        def held(frame) -> None:
            on_frame(frame)
            total = len(frame.slots)
            if not self.reached.is_set() and total and frame.masked <= total * (1 - self.fraction):
                self.reached.set()
                self.release.wait(30)

        return self.filler.fill_spans(*args, on_frame=held, **kwargs)


def scripted_filler():
    sys.path.insert(0, HERE)
    from test_app_support import FakeFiller

    import dataclasses

    filler = FakeFiller(['"Fizz"', "sum(values) / len(values)",
                         "def main():\n    for i in range(1, 101):\n        print(fizzbuzz(i))\n"],
                        steps=12, nulls=3)
    filler.info = dataclasses.replace(filler.info, name="scripted")
    return filler


async def shoot(path: str, filler, out: str, size: tuple[int, int]) -> None:
    from infill.app import make_app

    held = HeldFiller(filler)
    app = make_app(path, filler=held)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        app.editor.cursor_blink = app.preview.cursor_blink = False
        await pilot.press("ctrl+g")
        await asyncio.get_running_loop().run_in_executor(None, held.reached.wait, 120)
        await pilot.pause(0.2)
        app.save_screenshot(os.path.basename(out), os.path.dirname(os.path.abspath(out)))
        held.release.set()
        await pilot.press("escape")
        await pilot.pause()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="checkpoint directory (default: the house model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--scripted", action="store_true", help="a scripted filler, no model")
    parser.add_argument("--file", default=os.path.join(ROOT, "samples", "fizzbuzz.py"))
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "editor.svg"))
    parser.add_argument("--size", default="100x32", help="terminal COLUMNSxROWS")
    args = parser.parse_args()
    if args.scripted:
        filler = scripted_filler()
    else:
        import infill

        filler = infill.load(args.model, device=args.device)
    columns, rows = (int(n) for n in args.size.split("x"))
    asyncio.run(shoot(args.file, filler, args.out, (columns, rows)))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
