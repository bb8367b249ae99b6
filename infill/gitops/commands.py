"""The CLI edge of the git commands: ``infill hook``, ``install-hook``, ``uninstall-hook``.

``infill.cli`` parses the flags and calls ``run_git_command(args)``; this module turns the
parsed flags into settings, a model loader and calls of ``run_hook``, ``install_hook`` and
``uninstall_hook``, and returns the exit code. Errors are raised, never printed here: the
CLI maps them (``InfillError``: exit 2).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

def run_git_command(args: argparse.Namespace) -> int:
    if args.command == "hook":
        return _hook(args)
    if args.command == "install-hook":
        return _install(args)
    if args.command == "uninstall-hook":
        return _uninstall(args)
    raise AssertionError(args.command)


def _hook(args: argparse.Namespace) -> int:
    from infill.fill_cmd import load_filler
    from infill.gitops.hook import run_hook
    from infill.gitops.repo import repo_root
    from infill.settings import load_settings

    root = repo_root(Path.cwd())
    overrides = {k: v for k, v in vars(args).items() if k not in ("files", "command", "check")}
    settings = load_settings(root, overrides)
    options: dict[str, Any] = {"options": settings.fill, "language": settings.language,
                               "seed": settings.seed}

    return run_hook(
        args.files,
        filler_factory=lambda: load_filler(settings, getattr(args, "trust_remote_code", False)),
        settings=settings,
        check=args.check,
        timeout=getattr(args, "timeout", None) or settings.hook_timeout,
        out=_out(args),
        all_files=getattr(args, "all_files", False),
        fill_options=options,
    )


def _install(args: argparse.Namespace) -> int:
    from infill.gitops.install import install_hook

    path = install_hook(Path.cwd(), force=args.force)
    _out(args)(f"installed the infill pre-commit hook in {path}")
    return 0


def _uninstall(args: argparse.Namespace) -> int:
    from infill.gitops.install import BACKUP_SUFFIX, hook_path, uninstall_hook

    path = hook_path(Path.cwd())
    had_backup = path.with_name(path.name + BACKUP_SUFFIX).exists()
    if not uninstall_hook(Path.cwd()):
        _out(args)(f"no infill hook in {path}; nothing to remove")
        return 0
    restored = " and put back the hook it had replaced" if had_backup else ""
    _out(args)(f"removed the infill pre-commit hook from {path}{restored}")
    return 0


def _out(args: argparse.Namespace):
    if getattr(args, "quiet", False):
        return lambda message: None
    return lambda message: print(message, file=sys.stdout, flush=True)
