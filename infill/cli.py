"""The ``infill`` command line: argument parsing, dispatch, and the exit codes.

Exit codes (DESIGN section 4), decided here and nowhere else:
  0 success; 1 markers left (``--check``, fills the quality guard held back) or the hook
  changed or refused files; 2 usage, input or environment error, one line
  ``FILE:LINE: reason`` (also: a file ``--write`` could not write, output cut off by a
  closed pipe); 2 wins over 1; 130 Ctrl-C; 143 SIGTERM; 3 anything unexpected, with the
  traceback in a log file whose path is printed.

Subcommands import their heavy modules (torch, textual, git) only when they run.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import traceback
from typing import Sequence

from infill import __version__
from infill.backends import BACKENDS
from infill.errors import InfillError, Interrupted
from infill.options import add_option_flags

EXIT_OK, EXIT_MARKERS, EXIT_ERROR, EXIT_BUG, EXIT_INTERRUPT = 0, 1, 2, 3, 130
EXIT_TERMINATED = 143  # SIGTERM, as a shell reports a process it ended


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # usage errors are exit 2, like every input error
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"{self.prog}: error: {message}\n")


def _model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="checkpoint directory or cached model id (default: the house model)")
    p.add_argument("--backend", choices=tuple(BACKENDS), help="override backend detection")
    p.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), help="where the model runs")
    p.add_argument("--trust-remote-code", action="store_true", help="allow LLaDA/Dream model code")


def _sampler_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", dest="language", help="language of the text (default: guessed)")
    p.add_argument("--seed", type=int, help="random seed (default 0; runs are reproducible)")
    add_option_flags(p)  # --strategy, --steps, --temperature, … (infill.options)


def _guard_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-guard", dest="guard", action="store_false", default=None,
                   help="apply fills even when they parse worse than the marker (guard = false)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="infill", description="Fill and rewrite marked spans with a text diffusion model.")
    parser.add_argument("--version", action="version", version=f"infill {__version__}")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    fill = sub.add_parser("fill", help="fill markers in files (or - for stdin)")
    fill.add_argument("paths", nargs="+", metavar="PATH")
    out = fill.add_mutually_exclusive_group()
    out.add_argument("--write", action="store_true", help="apply the fills in place")
    out.add_argument("--diff", action="store_true", help="print a unified diff")
    out.add_argument("--check", action="store_true", help="list markers left; exit 1 if any")
    out.add_argument("--json", action="store_true", help="print results as JSON")
    fill.add_argument("--trajectory", metavar="FILE.jsonl", help="write every denoising step")
    _guard_flag(fill)
    for name in ("hole", "region-open", "region-close"):
        fill.add_argument(f"--{name}", help=f"the {name.replace('-', ' ')} marker string")
    fill.add_argument("--ray", metavar="ADDRESS", help="shard the files over Ray: local, auto or ray://HOST:PORT")
    fill.add_argument("--ray-workers", type=int, metavar="N", help="model replicas (default: one per GPU)")
    fill.add_argument("--device-map", metavar="MAP", help="split the model over devices (accelerate)")
    _model_flags(fill)
    _sampler_flags(fill)

    edit = sub.add_parser("edit", help="the terminal editor")
    edit.add_argument("file")
    _model_flags(edit)

    diff = sub.add_parser("diff", help="the editor on a git diff")
    diff.add_argument("--staged", "--cached", action="store_true", help="the staged changes")
    diff.add_argument("rev", nargs="?", help="compare the working tree with REV")
    diff.add_argument("paths", nargs="*", metavar="PATH", help="after --: limit to these paths")
    _model_flags(diff)

    hook = sub.add_parser("hook", help="pre-commit entry: fill markers in staged files")
    hook.add_argument("files", nargs="*", metavar="FILE")
    hook.add_argument("--check", action="store_true", help="fail on markers without filling")
    hook.add_argument("--all-files", action="store_true", help="every tracked file, not just staged ones")
    hook.add_argument("--timeout", type=float, metavar="SECONDS", help="give up after this long (default: hook-timeout)")
    _guard_flag(hook)
    _model_flags(hook)

    install = sub.add_parser("install-hook", help="write .git/hooks/pre-commit")
    install.add_argument("--force", action="store_true", help="replace a hook infill did not write")
    sub.add_parser("uninstall-hook", help="remove the hook infill wrote")

    ev = sub.add_parser("eval", help="quality on held-out records")
    ev.add_argument("data", nargs="+", metavar="DATA.jsonl")
    ev.add_argument("--limit", type=int, help="first N records of each file")
    ev.add_argument("--execute", action="store_true", help="run records' tests in a subprocess")
    ev.add_argument("--out", metavar="FILE.json", help="write the report as JSON")
    ev.add_argument("--records", metavar="FILE.jsonl", help="write every record's fill and verdicts "
                    "(one JSON line per record and system), to compare two runs record by record")
    ev.add_argument("--jobs", type=int, default=1, metavar="N",
                    help="fill and judge the records in N worker processes, each with its own "
                         "copy of the model and its share of the cores (default 1: this process)")
    _model_flags(ev)
    _sampler_flags(ev)

    bench = sub.add_parser("bench", help="latency and throughput against the reference sampler")
    bench.add_argument("--data", metavar="DATA.jsonl", help="time these records (one hole each) "
                       "instead of the generated files")
    bench.add_argument("--limit", type=int, default=20, help="with --data: first N records")
    bench.add_argument("--sizes", metavar="N,N", help="file sizes in tokens (default 200,1000,4000,16000)")
    bench.add_argument("--holes", metavar="N,N", help="holes per file (default 1,4,16)")
    bench.add_argument("--fills", type=int, default=5, help="files per workload (default 5)")
    bench.add_argument("--out", metavar="FILE.json")
    _model_flags(bench)
    _sampler_flags(bench)

    serve = sub.add_parser("serve", help="language server that keeps the model warm (docs/SERVER.md)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--stdio", action="store_true", help="LSP over stdin/stdout (the default)")
    where.add_argument("--tcp", type=int, metavar="PORT", help="LSP over TCP on --host (127.0.0.1)")
    where.add_argument("--socket", metavar="PATH", help="LSP over a Unix socket")
    where.add_argument("--fill-only", action="store_true",
                       help="no LSP: only the per-user fill socket for infill fill and the hook")
    serve.add_argument("--host", default="127.0.0.1", help="address for --tcp")
    serve.add_argument("--fill-socket", metavar="PATH", help="the fill socket (default: per user)")
    serve.add_argument("--no-fill-socket", action="store_true", help="do not serve infill fill and the hook")
    serve.add_argument("--device-map", metavar="MAP", help="split the model over devices (accelerate)")
    _model_flags(serve)
    _sampler_flags(serve)

    sub.add_parser("models", help="backends and checkpoints found")

    sub.add_parser("train", help="build the corpus, tokenizer and house model (infill train --help)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["train"]:
        # The training steps parse their own flags (``infill train train --help`` included).
        args = argparse.Namespace(command="train", rest=argv[1:], quiet=False, verbose=False)
    else:
        args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return EXIT_ERROR
    from infill.signals import Terminated

    args.argv = argv
    try:
        code = _dispatch(args)
        sys.stdout.flush()  # a closed pipe shows up here, not at interpreter exit
        return code
    except InfillError as exc:
        print(f"infill: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        message = str(exc) if isinstance(exc, Interrupted) and str(exc) else (
            "interrupted; nothing was written")
        print(f"infill: {message}", file=sys.stderr)
        return EXIT_TERMINATED if isinstance(exc, Terminated) else EXIT_INTERRUPT
    except BrokenPipeError:
        # The reader went away (``| head``): the output is incomplete, so this is not a
        # success a CI gate may take for one. No traceback, and nothing more on stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        _say("infill: output closed early (broken pipe)")
        return EXIT_ERROR
    except Exception:  # noqa: BLE001 - the one place that turns a bug into exit 3
        fd, log = tempfile.mkstemp(prefix="infill-crash-", suffix=".log")
        with os.fdopen(fd, "w") as fh:
            traceback.print_exc(file=fh)
        print(f"infill: unexpected error; traceback written to {log}", file=sys.stderr)
        return EXIT_BUG


def entry() -> None:
    """The ``infill`` script and ``python -m infill``: ``main``, then a quiet exit.

    Ctrl-C while the interpreter shuts down (flushing, joining threads, atexit) would print
    a traceback and keep the exit code; from here on it ends the process with 130 at once.
    """
    from infill.signals import terminate_as_interrupt

    terminate_as_interrupt()  # SIGTERM runs the same clean-up as Ctrl-C (exit 143)
    code = main()
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = code or EXIT_ERROR
    signal.signal(signal.SIGINT, lambda signum, frame: os._exit(EXIT_INTERRUPT))
    sys.exit(code)


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr)
    except OSError:
        pass


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command == "fill":
        from infill.fill_cmd import run_fill
        return run_fill(args)
    if command == "edit":
        from infill.app import run_edit
        return run_edit(args.file, model=args.model, device=args.device or "auto",
                        backend=args.backend, trust_remote_code=args.trust_remote_code)
    if command == "diff":
        from infill.app import run_diff
        return run_diff(rev=args.rev, staged=args.staged, paths=args.paths, model=args.model,
                        device=args.device or "auto", backend=args.backend,
                        trust_remote_code=args.trust_remote_code)
    if command in ("hook", "install-hook", "uninstall-hook"):
        from infill.gitops.commands import run_git_command
        return run_git_command(args)
    if command == "eval":
        from infill.evaluate import run_eval
        return run_eval(args)
    if command == "bench":
        from infill.bench import run_bench
        return run_bench(args)
    if command == "serve":
        from infill.server import run_serve
        return run_serve(args)
    if command == "models":
        from infill.fill_cmd import run_models
        return run_models(args)
    if command == "train":
        from infill.training.cli import main as train_main
        return train_main(args.rest)
    raise AssertionError(command)


if __name__ == "__main__":
    entry()
