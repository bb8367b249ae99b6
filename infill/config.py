"""``infill_config.json``: the checkpoint metadata that identifies an infill model.

One frozen ``InfillConfig`` is the only reader and writer of the file (docs/CONTRACTS.md has
its layout): training writes it (``save``), the backends, the test helpers and ``infill
models`` read it (``load_config``). Every field is checked on construction, so a checkpoint
with a wrong id, an unknown sampler setting or a newer ``format`` fails at load time with
``FILE: reason`` instead of running with silent defaults; keys this version does not know
(notes) are kept in ``extra`` and written back. Pure: json only.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping

from infill.errors import InputError, ModelError
from infill.options import OPTIONS, check_option

CONFIG_FILE = "infill_config.json"
FORMAT = 1
BUDGET_KEYS = ("hole_budget", "line_budget")  # slot budgets, docs/CONTRACTS.md


@dataclass(frozen=True)
class InfillConfig:
    """The special ids, language headers and recommended sampler settings of a checkpoint."""

    mask_id: int
    null_id: int | None = None
    bos_id: int | None = None
    eos_id: int | None = None
    pad_id: int | None = None
    language_ids: dict[str, int] = field(default_factory=dict)
    extensions: dict[str, str] = field(default_factory=dict)
    max_context: int | None = None
    replaced_token_detection: bool = False
    sampler: dict[str, Any] = field(default_factory=dict)  # option name -> value, budgets
    training: dict[str, Any] = field(default_factory=dict)  # provenance, free-form
    format: int = FORMAT
    extra: dict[str, Any] = field(default_factory=dict)  # other keys (notes), kept as they are

    def __post_init__(self) -> None:
        problem = _problem(self)
        if problem:
            raise ValueError(problem)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "InfillConfig":
        """From the parsed JSON; ``ValueError`` with the reason when it is not valid."""
        if not isinstance(data, Mapping):
            raise ValueError("must hold a JSON object")
        known = set(cls.__dataclass_fields__) - {"extra"}
        if "mask_id" not in data:
            raise ValueError("mask_id is missing")
        return cls(**{k: v for k, v in data.items() if k in known},
                   extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {"format": data.pop("format"), **data, **extra}

    def save(self, directory: str | Path) -> Path:
        """Write ``directory/infill_config.json`` (atomically: a reader never sees half)."""
        path = Path(directory) / CONFIG_FILE
        fd, tmp = tempfile.mkstemp(prefix=".infill_config.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(json.dumps(self.to_dict(), indent=2) + "\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def defaults(self) -> dict[str, Any]:
        """The recommended sampler settings (what ``FillOptions`` leaves at ``None``)."""
        return dict(self.sampler)


def has_config(directory: str | Path) -> bool:
    return (Path(directory) / CONFIG_FILE).is_file()


def load_config(directory: str | Path) -> InfillConfig | None:
    """The checkpoint's config, ``None`` when it has none; ``ModelError`` (``FILE[:LINE]:
    reason``) when the file is unreadable or invalid."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ModelError(f"invalid JSON: {error.msg}", path=str(path), line=error.lineno) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ModelError(f"cannot read it: {error}", path=str(path)) from None
    try:
        return InfillConfig.from_dict(data)
    except (ValueError, TypeError) as error:
        raise ModelError(str(error), path=str(path)) from None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problem(c: InfillConfig) -> str | None:
    if c.format != FORMAT:
        return (f"format {c.format!r} is not {FORMAT}: this checkpoint needs "
                "another version of infill")
    for name in ("mask_id", "null_id", "bos_id", "eos_id", "pad_id"):
        value = getattr(c, name)
        if value is None and name != "mask_id":
            continue
        if not _is_int(value) or value < 0:
            return f"{name} must be a token id (an integer >= 0), not {value!r}"
    if not isinstance(c.language_ids, dict) or not all(
            isinstance(k, str) and _is_int(v) and v >= 0 for k, v in c.language_ids.items()):
        return "language_ids must map language names to token ids"
    if not isinstance(c.extensions, dict):
        return "extensions must map file extensions to languages"
    for ext, lang in c.extensions.items():
        if not (isinstance(ext, str) and ext.startswith(".") and isinstance(lang, str)):
            return f"extensions: {ext!r} -> {lang!r} is not '.ext' -> language"
        if c.language_ids and lang not in c.language_ids:
            return f"extensions: {ext} maps to {lang!r}, which has no language id"
    if c.max_context is not None and (not _is_int(c.max_context) or c.max_context < 8):
        return f"max_context must be an integer >= 8, not {c.max_context!r}"
    if not isinstance(c.replaced_token_detection, bool):
        return "replaced_token_detection must be true or false"
    if not isinstance(c.sampler, dict) or not isinstance(c.training, dict):
        return "sampler and training must be JSON objects"
    for key, value in c.sampler.items():
        if key in BUDGET_KEYS:
            if not _is_int(value) or value < 1:
                return f"sampler.{key} must be an integer >= 1, not {value!r}"
        elif key in OPTIONS:
            try:
                check_option(key, value)
            except InputError as error:
                return f"sampler.{key} {error.reason}"
        else:
            return f"sampler.{key} is not a sampler setting"
    return None
