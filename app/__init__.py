"""The terminal editor (``infill edit FILE``, ``infill diff``), a Textual app over the public
engine API.

``run_edit`` and ``run_diff`` are what the CLI calls; ``make_app`` and ``make_diff_app`` build
the apps for tests (with a filler) and for the CLI (with a factory that loads the model in a
worker after the UI is up).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:
    from infill.fills import FillerLike

    from .diff_app import DiffApp, make_diff_app
    from .editor_app import EditorApp, make_app

# The apps import Textual; the package's Textual-free modules (files, diff_data, spans...)
# must import without it, so the apps load on first use.
_LAZY = {"DiffApp": ".diff_app", "make_diff_app": ".diff_app",
         "EditorApp": ".editor_app", "make_app": ".editor_app"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["DiffApp", "EditorApp", "make_app", "make_diff_app", "run_diff", "run_edit"]


def _filler_factory(settings: Any, model: str | None, device: str, backend: str | None,
                    trust_remote_code: bool) -> Callable[[], "FillerLike"]:
    """Loads the model (flags over settings) when the app calls it, in a worker thread."""
    model = model or getattr(settings, "model", None)
    device = device if device and device != "auto" else getattr(settings, "device", "auto")
    backend = backend or getattr(settings, "backend", None)

    def load_filler() -> "FillerLike":
        import infill

        return infill.load(model=model, device=device or "auto", backend=backend,
                           trust_remote_code=trust_remote_code)

    return load_filler


def _need_textual() -> None:
    try:
        import textual  # noqa: F401
    except ImportError:
        from infill.errors import InfillError

        raise InfillError("the editor needs Textual: pip install 'infill[editor]'") from None


def _run(app: Any) -> int:
    result = app.run()
    if app.return_code:
        return app.return_code
    return result if isinstance(result, int) else 0


def run_edit(path: str, *, model: str | None = None, device: str = "auto",
             backend: str | None = None, settings: Any = None,
             trust_remote_code: bool = False) -> int:
    """Run the editor on ``path`` until the user quits; the exit code (0 on a normal quit).

    Flags win over ``[tool.infill]`` settings. Raises ``InfillError`` when the file cannot be
    opened as text or the settings are invalid (the CLI reports it, exit code 2). A model
    that fails to load is reported inside the editor, which stays usable.
    """
    if settings is None:
        from infill.settings import load_settings

        settings = load_settings(os.path.dirname(os.path.abspath(path)))
    factory = _filler_factory(settings, model, device, backend, trust_remote_code)
    _need_textual()
    from .editor_app import make_app

    return _run(make_app(path, filler_factory=factory, settings=settings))


def run_diff(*, rev: str | None = None, staged: bool = False, paths: Sequence[str] = (),
             model: str | None = None, device: str = "auto", backend: str | None = None,
             trust_remote_code: bool = False) -> int:
    """Run the editor on ``git diff [--staged] [REV] [-- PATHS]`` in the current directory.

    Raises ``InputError`` outside a git work tree or for an unknown revision, and
    ``InfillError`` for invalid settings (the CLI reports it, exit code 2).
    """
    from infill.settings import load_settings

    settings = load_settings(os.getcwd())
    factory = _filler_factory(settings, model, device, backend, trust_remote_code)
    _need_textual()
    from .diff_app import make_diff_app

    app = make_diff_app(os.getcwd(), rev=rev, staged=staged, paths=tuple(paths or ()),
                        filler_factory=factory, settings=settings)
    return _run(app)
