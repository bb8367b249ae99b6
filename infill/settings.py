"""Settings: defaults, then ``[tool.infill]`` in the nearest ``pyproject.toml``, then flags.

One frozen ``Settings`` value is built at the edge (``load_settings``) and passed down; no
module reads configuration on its own. Keys in TOML may be spelled with dashes or
underscores (``hook-timeout`` or ``hook_timeout``). A key infill does not know, or a value of
the wrong type, is an error rather than a silent default: a misspelt ``exlcude`` would
otherwise let infill rewrite files the user meant to protect.

Sampler settings left at ``None`` mean "the model's recommended value"
(``infill_config.json``); the engine resolves them, not this module.

Markers. ``hole`` is the plain hole (``__FILL__``). The capped form inserts ``_N`` before
the hole's trailing punctuation: ``__FILL__`` gives ``__FILL_3__``, ``<<FILL>>`` gives
``<<FILL_3>>``, ``TODO`` gives ``TODO_3``. ``Settings.hole_n_pattern()`` matches both forms.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Any, get_args, get_type_hints

from infill.errors import InputError
from infill.markers import MarkerSyntax
from infill.options import EXPOSED, FillOptions, check_option


@dataclass(frozen=True)
class Settings:
    """Everything a run of infill can be configured with.

    The sampler options live in ``fill`` (``infill.options.FillOptions``, ``None`` meaning
    "model default"); their ``[tool.infill]`` keys and flags are generated from that table.
    """

    hole: str = "__FILL__"
    region_open: str = ">>> infill"
    region_close: str = "<<< infill"
    model: str | None = None
    backend: str | None = None
    device: str = "auto"
    seed: int = 0
    exclude: tuple[str, ...] = ()
    hook_timeout: float = 300.0
    language: str | None = None
    fill: FillOptions = FillOptions()
    guard: bool = True  # the quality guard (infill/guard.py): keep fills that break the parse out

    def hole_n(self, n: int) -> str:
        """The hole capped at ``n`` lines: ``__FILL_3__`` for the default hole."""
        return self.marker_syntax().capped_hole(n)

    def hole_n_pattern(self) -> re.Pattern[str]:
        """Matches the plain hole and the capped one; group ``n`` is the cap or ``None``."""
        return self.marker_syntax().hole_pattern()

    def marker_syntax(self) -> MarkerSyntax:
        return MarkerSyntax.from_settings(self)


def find_pyproject(start: str | Path) -> Path | None:
    """The nearest ``pyproject.toml`` in ``start`` (a file's directory) or above it."""
    here = Path(start).resolve()
    if not here.is_dir():
        here = here.parent
    for directory in (here, *here.parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    start: str | Path = ".", overrides: Mapping[str, object] | object | None = None
) -> Settings:
    """Defaults, then ``[tool.infill]`` of the nearest ``pyproject.toml``, then ``overrides``.

    ``overrides`` is a mapping or an ``argparse.Namespace``; keys that are not settings, and
    values that are ``None``, are ignored, so parsed flags can be passed straight in.
    """
    settings = Settings()
    pyproject = find_pyproject(start)
    if pyproject is not None:
        settings = _apply(settings, _read_table(pyproject))
    if overrides is not None:
        if not isinstance(overrides, Mapping):
            overrides = vars(overrides)
        chosen = {}
        for key, value in overrides.items():
            name = str(key).replace("-", "_")
            if name in _KEYS and value is not None:
                chosen[name] = _coerce(name, value, where=f"option {name.replace('_', '-')}")
        settings = _apply(settings, chosen)
    return settings


def _apply(settings: Settings, values: dict[str, object]) -> Settings:
    """``settings`` with ``values`` (flat keys; sampler keys go into ``settings.fill``)."""
    fill = {k: v for k, v in values.items() if k in EXPOSED}
    plain = {k: v for k, v in values.items() if k not in EXPOSED}
    if fill:
        plain["fill"] = dataclasses.replace(settings.fill, **fill)
    return dataclasses.replace(settings, **plain)


_FIELDS: dict[str, Any] = {k: v for k, v in get_type_hints(Settings).items() if k != "fill"}
_KEYS: tuple[str, ...] = (*_FIELDS, *EXPOSED)  # the [tool.infill] keys, in the order shown
_KIND_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def _read_table(pyproject: Path) -> dict[str, object]:
    try:
        text = pyproject.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        raise InputError(f"cannot read it: {error.strerror or error}", path=str(pyproject)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        found = re.search(r"\(at line (\d+), column \d+\)", str(error))
        reason = str(error).split(" (at line")[0]
        line = int(found.group(1)) if found else None
        raise InputError(f"invalid TOML: {reason}", path=str(pyproject), line=line) from None
    tool = data.get("tool", {})
    table = tool.get("infill", {}) if isinstance(tool, dict) else None
    if not isinstance(table, dict):
        raise InputError("[tool.infill] must be a table, like [tool.infill] followed by "
                         "key = value lines", path=str(pyproject), line=_line_of_table(text))
    values = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        line = _line_of_key(text, key)
        if name not in _KEYS:
            known = [field.replace("_", "-") for field in _KEYS]
            close = difflib.get_close_matches(key.replace("_", "-"), known, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise InputError(
                f"unknown setting {key!r} in [tool.infill]; {hint}known: {', '.join(known)}",
                path=str(pyproject),
                line=line,
            )
        try:
            values[name] = _coerce(name, value, where=f"setting {key!r} in [tool.infill]")
        except InputError as error:
            raise InputError(error.reason, path=str(pyproject), line=line) from None
    return values


def _coerce(name: str, value: object, where: str) -> object:
    """``value`` as the type of field ``name``, or an ``InputError`` that says what to give."""
    if name in EXPOSED:
        try:
            return check_option(name, value)
        except InputError as error:
            raise InputError(f"{where} {error.reason}") from None
    hint = _FIELDS[name]
    kinds = set(get_args(hint)) if isinstance(hint, UnionType) else {hint}
    kinds.discard(type(None))
    if tuple[str, ...] in kinds:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
            return tuple(value)
        raise InputError(f"{where} must be a list of strings")
    if isinstance(value, bool):
        if bool in kinds:
            return value
        # otherwise an error: True is an int to Python, not to a user
    elif int in kinds and isinstance(value, int):
        return _checked(name, value, where)
    elif float in kinds and isinstance(value, int | float):
        return _checked(name, float(value), where)
    elif str in kinds and isinstance(value, str):
        if name in ("hole", "region_open", "region_close") and not value.strip():
            raise InputError(f"{where} must not be empty")
        return value
    kind = " or ".join(sorted(_KIND_NAMES[k] for k in kinds))
    raise InputError(f"{where} must be {kind}, not {value!r}")


def _checked(name: str, value: float, where: str) -> float:
    if name == "seed" and value < 0:
        raise InputError(f"{where} must be at least 0, not {value}")
    if name == "hook_timeout" and not (value > 0 and value != float("inf")):
        raise InputError(f"{where} must be positive, not {value}")
    return value


def _line_of_table(text: str) -> int | None:
    """The line that makes ``tool.infill`` something other than a table."""
    for number, line in enumerate(text.splitlines(), start=1):
        if re.match(r"""\s*(tool\s*\.\s*)?["']?infill["']?\s*=|\s*tool\s*=""", line):
            return number
    return None


def _line_of_key(text: str, key: str) -> int | None:
    """The line where ``key`` is set inside ``[tool.infill]``, for the error message."""
    in_table = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            in_table = stripped.replace(" ", "") in ("[tool.infill]",)
        elif in_table and re.match(rf"""["']?{re.escape(key)}["']?\s*=""", stripped):
            return number
    return None
