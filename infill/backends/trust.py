"""The remote-code guard: a model directory's own code never runs without consent.

transformers runs Python shipped with a checkpoint when its ``config.json`` or
``tokenizer_config.json`` has an ``auto_map``, and when ``trust_remote_code`` is left unset it
*asks on stdin* (with a time limit). infill runs in git hooks and CI, where a question on
stdin is a hazard: an answer piped in (``yes |``) would run the code. So before a backend
hands a directory to transformers' ``Auto*`` loaders, ``refuse_remote_code`` reads the
configuration files itself (plain JSON, no transformers call) and refuses, with a reason,
any directory that would need code, unless the user passed ``--trust-remote-code``. The
loaders are then called with ``trust_remote_code`` set explicitly, never ``None``, so
transformers never prompts.

Backends that do not go through transformers' ``Auto*`` classes (the project's own forward
passes over safetensors) run no shipped code and need not call this.
"""

from __future__ import annotations

import json
from pathlib import Path

from infill.errors import ModelError

_CONFIG_FILES = ("config.json", "tokenizer_config.json")


def remote_code_reasons(path: Path, backend: str) -> list[str]:
    """Why loading ``path`` with transformers would run code shipped in it (empty: it would not)."""
    reasons = []
    if backend in ("llada", "dream"):
        reasons.append(f"the {backend} backend loads the model's own code")
    for name in _CONFIG_FILES:
        try:
            config = json.loads((path / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # missing or unreadable: the loader reports it
        if not isinstance(config, dict):
            continue
        if config.get("auto_map"):
            reasons.append(f"{name} has an auto_map (code shipped with the weights)")
        if name == "config.json" and "model_type" in config:
            kind = config["model_type"]
            if not isinstance(kind, str) or not _known_model_type(kind):
                reasons.append(f"config.json has a model_type transformers does not know ({kind!r})")
    return reasons


def refuse_remote_code(path: Path, backend: str, trust_remote_code: bool) -> None:
    """``ModelError`` (exit 2) when ``path`` would run its own code and the user did not agree."""
    if trust_remote_code:
        return
    reasons = remote_code_reasons(path, backend)
    if reasons:
        raise ModelError(
            f"refusing to run code shipped with this model: {'; '.join(reasons)}. "
            "Pass --trust-remote-code (trust_remote_code=True) only if you trust it",
            path=str(path),
        )


def _known_model_type(kind: str) -> bool:
    """Whether transformers has built-in code for ``kind`` (a static table; nothing is loaded)."""
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    return kind in CONFIG_MAPPING_NAMES
