"""The terminal editor (``infill edit FILE``), a Textual app over the public engine API.

``run_edit`` is what the CLI calls; ``make_app`` builds the app for tests (with a filler) and
for ``run_edit`` (with a factory that loads the model in a worker after the UI is up).
"""

from __future__ import annotations

import os
from typing import Any

from .editor_app import EditorApp, make_app

__all__ = ["EditorApp", "make_app", "run_edit"]


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
    model = model or getattr(settings, "model", None)
    device = device if device and device != "auto" else getattr(settings, "device", "auto")
    backend = backend or getattr(settings, "backend", None)

    def load_filler() -> Any:
        import infill

        return infill.load(model=model, device=device or "auto", backend=backend,
                           trust_remote_code=trust_remote_code)

    app = make_app(path, filler_factory=load_filler, settings=settings)
    result = app.run()
    if app.return_code:
        return app.return_code
    return result if isinstance(result, int) else 0
