"""infill: fill and rewrite marked spans of code and prose with a masked-diffusion model.

    import infill
    filler = infill.load()                      # the bundled house model, on the GPU if any
    result = filler.fill_text("def add(a, b):\\n    return __FILL__\\n")
    print(result.text)

Importing this package is cheap: torch, transformers, textual, tree-sitter and git are
imported only when something needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__version__ = "0.1.0"
__all__ = ["load", "Filler", "FillOptions", "FillResult", "SpanFill", "Candidate", "__version__"]

if TYPE_CHECKING:
    from infill.engine import Candidate, FillResult, Filler, SpanFill
    from infill.options import FillOptions


def load(model: str | None = None, device: str = "auto", backend: str | None = None,
         trust_remote_code: bool = False) -> "Filler":
    """Load a model from disk (never the network) and return a ``Filler``.

    ``model`` is a checkpoint directory, a model id already in the local Hugging Face cache,
    or None for the bundled house model. ``device``: "auto", "cpu", "cuda" or "mps".
    """
    from infill.backends import load_backend
    from infill.engine import Filler

    return Filler(load_backend(model, device, backend, trust_remote_code))


def __getattr__(name: str):
    if name in ("Filler", "FillResult", "SpanFill", "Candidate"):
        from infill import engine
        return getattr(engine, name)
    if name == "FillOptions":
        from infill.options import FillOptions
        return FillOptions
    raise AttributeError(f"module 'infill' has no attribute {name!r}")
