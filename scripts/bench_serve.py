"""Wall time of a warm single-line fill through ``infill serve`` (docs/BENCHMARKS.md).

Two doors, each timed as a user would feel it:

- **LSP**: a pygls client runs the "infill: fill 1 hole" action on an open document (the
  ``workspace/executeCommand`` request until its answer, ``workspace/applyEdit`` included),
  after one warm-up fill; the document is reset between runs.
- **CLI**: ``infill fill FILE`` as a fresh process, with ``infill serve --fill-only`` on the
  per-user socket, against the same command with ``INFILL_SERVER=off`` (loads the model
  itself), alternating A/B.

    python scripts/bench_serve.py [--model DIR] [--runs 9] [--cli-runs 5]

Prints medians in seconds. The model is the house model unless ``--model`` says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

SOURCE = "def add(a, b):\n    return __FILL__\n"


async def lsp_times(model: list[str], runs: int, work: Path) -> list[float]:
    client = LanguageClient("bench", "0")

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(ls, params):
        return types.ApplyWorkspaceEditResult(applied=True)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def guard_question(ls, params):  # the quality guard asks: answer as a user who accepts
        return params.actions[0]

    await client.start_io(sys.executable, "-m", "infill", "serve", *model, "--no-fill-socket",
                          cwd=str(work))
    await client.initialize_async(types.InitializeParams(capabilities=types.ClientCapabilities(
        workspace=types.WorkspaceClientCapabilities(apply_edit=True))))
    client.initialized(types.InitializedParams())
    uri = (work / "add.py").as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1,
                                             text=SOURCE)))
    argument = {"uri": uri, "mode": "markers", "version": 1}
    params = types.ExecuteCommandParams(command="infill.fill", arguments=[argument])
    times = []
    for run in range(runs + 1):  # the first fill waits for the model to load: not counted
        started = time.perf_counter()
        answer = await client.workspace_execute_command_async(params)
        elapsed = time.perf_counter() - started
        assert answer["applied"], answer
        if run:
            times.append(elapsed)
    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    return times


def cli_times(model: list[str], runs: int, work: Path) -> tuple[list[float], list[float]]:
    sock = Path(tempfile.mkdtemp(prefix="infill-b-", dir="/tmp")) / "run" / "serve.sock"
    env = dict(os.environ, INFILL_SOCKET=str(sock), INFILL_SERVER="on")
    server = subprocess.Popen([sys.executable, "-m", "infill", "serve", "--fill-only", *model],
                              env=env, stderr=subprocess.DEVNULL)
    try:
        while not sock.exists():
            if server.poll() is not None:
                raise SystemExit("infill serve --fill-only exited")
            time.sleep(0.1)
        (work / "add.py").write_text(SOURCE)
        served, alone = [], []
        command = [sys.executable, "-m", "infill", "fill", "add.py", *model]
        for _ in range(runs):
            for mode, out in (("on", served), ("off", alone)):
                started = time.perf_counter()
                subprocess.run(command, cwd=work, env=dict(env, INFILL_SERVER=mode), check=True,
                               capture_output=True)
                out.append(time.perf_counter() - started)
        return served, alone
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint directory (default: the house model)")
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--cli-runs", type=int, default=5)
    args = parser.parse_args()
    model = ["--model", args.model] if args.model else []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        lsp = asyncio.run(lsp_times(model, args.runs, work))
        print(f"LSP executeCommand, warm, single-line hole: median {statistics.median(lsp):.3f} s "
              f"(min {min(lsp):.3f}, max {max(lsp):.3f}, n={len(lsp)})")
        if args.cli_runs:
            served, alone = cli_times(model, args.cli_runs, work)
            print(f"infill fill via the server: median {statistics.median(served):.3f} s; "
                  f"loading the model itself: median {statistics.median(alone):.3f} s "
                  f"(n={len(served)} each, alternating)")


if __name__ == "__main__":
    main()
