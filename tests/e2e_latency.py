#!/usr/bin/env python
"""Measure the editor's first-frame latency as a person sees it (not a test; run by hand).

Runs the real ``infill edit`` in tmux on a file with one single-line hole, presses ctrl+g,
and reads the terminal output (pipe-pane) until the status bar's first denoising step is
written, i.e. the first frame with committed tokens is on screen. Repeats, rejecting each result with
escape, and prints the latencies. Also reports the editor's own measure (generate key handled
-> first frame painted) from a Pilot run of the same file, which excludes the terminal.

    python tests/e2e_latency.py [--model DIR] [--runs 20] [--device cpu]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

SAMPLE = '''def mean(values: list[float]) -> float:
    if not values:
        raise ValueError("mean of an empty list")
    return __FILL__


def main():
    print(mean([1.0, 2.0, 3.0]))
'''


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=False).stdout


def wait_for(session: str, text: str, timeout: float = 60.0, poll: float = 0.05) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if text in tmux("capture-pane", "-p", "-t", session):
            return time.perf_counter()
        time.sleep(poll)
    raise SystemExit(f"timed out waiting for {text!r}:\n" + tmux("capture-pane", "-p", "-t", session))


def measure_tmux(path: str, model: str | None, device: str, runs: int) -> list[float]:
    """Time from send-keys to the first step's text in the terminal output stream.

    The pane's output is copied to a file (pipe-pane) and read as it grows, which costs far
    less CPU than polling capture-pane (a process per poll) on a busy two-core machine.
    """
    session = f"infill-latency-{os.getpid()}"
    flags = (f" --model {shlex.quote(model)}" if model else "") + f" --device {device}"
    command = (f"cd {shlex.quote(os.path.dirname(path))} && TERM=xterm-256color "
               f"{shlex.quote(sys.executable)} -m infill edit{flags} {os.path.basename(path)}; sleep 30")
    stream = path + ".out"
    tmux("new-session", "-d", "-s", session, "-x", "100", "-y", "30", command)
    tmux("pipe-pane", "-t", session, "-o", f"cat >> {shlex.quote(stream)}")
    try:
        wait_for(session, "│ ready", timeout=180)
        latencies = []
        with open(stream, "rb") as output:
            for _ in range(runs):
                output.seek(0, os.SEEK_END)
                start = time.perf_counter()
                tmux("send-keys", "-t", session, "C-g")
                seen = b""
                while b"step " not in seen:
                    seen = seen[-8:] + output.read()
                    if time.perf_counter() - start > 60:
                        raise SystemExit("no frame within 60 s")
                    time.sleep(0.001)
                latencies.append(time.perf_counter() - start)
                wait_for(session, "│ review")
                tmux("send-keys", "-t", session, "Escape")
                wait_for(session, "│ rejected")
        return latencies
    finally:
        tmux("kill-session", "-t", session)


def measure_pilot(path: str, model: str | None, device: str, runs: int) -> list[float]:
    import infill
    from infill.app import make_app

    filler = infill.load(model, device=device)

    async def main() -> list[float]:
        app = make_app(path, filler=filler)
        shown = []
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            for _ in range(runs):
                await pilot.press("ctrl+g")
                while app.state != "review":
                    await asyncio.sleep(0.01)
                shown.append(app.fill_run.first_shown)
                await pilot.press("escape")
                await pilot.pause()
        return shown

    return asyncio.run(main())


def report(name: str, values: list[float]) -> None:
    ms = sorted(v * 1000 for v in values)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{name}: n={len(ms)} median {statistics.median(ms):.0f} ms, p95 {p95:.0f} ms, "
          f"max {ms[-1]:.0f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="checkpoint directory (default: the house model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        path = os.path.join(work, "mean.py")
        with open(path, "w") as handle:
            handle.write(SAMPLE)
        report("tmux: ctrl+g -> first step on screen", measure_tmux(path, args.model, args.device, args.runs))
        report("pilot: key handled -> first frame painted", measure_pilot(path, args.model, args.device, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
