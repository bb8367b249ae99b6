"""One loaded model shared by every connection of a server, one fill at a time.

``LoadRequest`` says which model a caller wants (the model directory resolved to a path, the
device, the backend, the remote-code permission, a device map). A server answers a client
only when the client would have loaded the same model itself: that is what makes a fill
through the server byte-identical to a fill in the client's own process.
"""

from __future__ import annotations

import os
import threading
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from infill.markers import Span


@dataclass(frozen=True)
class LoadRequest:
    model: str | None = None        # a resolved directory (see ``resolved``) or None
    device: str | None = None       # as asked: None or "auto" means "pick"
    backend: str | None = None      # as asked: None means "detect"
    trust_remote_code: bool = False
    device_map: str | None = None   # see ``infill.placement``

    @classmethod
    def from_settings(cls, settings: Any, trust_remote_code: bool = False,
                      device_map: str | None = None) -> "LoadRequest":
        return cls(settings.model, settings.device, settings.backend, trust_remote_code,
                   device_map).resolved()

    def resolved(self) -> "LoadRequest":
        """The same request with the model as an absolute directory (cheap: no torch)."""
        from infill.backends import resolve_model_path

        path = os.path.realpath(resolve_model_path(self.model))
        device = None if self.device in (None, "auto") else self.device
        return LoadRequest(path, device, self.backend, bool(self.trust_remote_code),
                           self.device_map)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mismatch(served: LoadRequest, info: Any, wanted: LoadRequest) -> str | None:
    """Why a server that loaded ``served`` (``info``: its ``Filler.info``) cannot fill for
    ``wanted``; None when it can."""
    if served.model != wanted.model:
        return f"serves model {served.model}, not {wanted.model}"
    if wanted.device is None and served.device is not None:
        return f"runs on --device {served.device}, the client asks for auto"
    if wanted.device is not None and wanted.device != info.device:
        return f"runs on {info.device}, not {wanted.device}"
    if wanted.backend is not None and wanted.backend != info.backend:
        return f"runs backend {info.backend}, not {wanted.backend}"
    if wanted.backend is None and served.backend is not None:
        return f"was told --backend {served.backend}"
    if info.backend != "hf-mlm" and served.trust_remote_code != wanted.trust_remote_code:
        return "the client does not allow remote code"
    if served.device_map != wanted.device_map:
        return f"device map {served.device_map}, not {wanted.device_map}"
    return None


def load_model(request: LoadRequest):
    """The ``Filler`` for ``request`` (with a device map through ``infill.placement``)."""
    if request.device_map:
        from infill.placement import load_placed

        return load_placed(request.model, request.device_map, device=request.device,
                           backend=request.backend, trust_remote_code=request.trust_remote_code)
    import infill

    return infill.load(request.model, request.device or "auto", request.backend,
                       request.trust_remote_code)


class ModelHost:
    """A warm ``Filler`` and the lock that gives it to one fill at a time."""

    def __init__(self, request: LoadRequest, filler: Any = None,
                 loader: Callable[[LoadRequest], Any] = load_model) -> None:
        self.request = request
        self.filler = filler if filler is not None else loader(request)
        self.lock = threading.Lock()

    @property
    def info(self) -> Any:
        return self.filler.info

    def mismatch(self, wanted: LoadRequest) -> str | None:
        return mismatch(self.request, self.info, wanted)

    def describe(self) -> dict[str, Any]:
        info = self.info
        return {"request": self.request.to_json(), "name": info.name, "path": info.path,
                "backend": info.backend, "device": info.device}

    def fill_spans(self, text: str, spans: Sequence[Span], language: str | None = None,
                   seed: int = 0, **kwargs: Any):
        with self.lock:
            return self.filler.fill_spans(text, spans, language, seed, **kwargs)
