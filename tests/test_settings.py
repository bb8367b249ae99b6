"""Settings: defaults < [tool.infill] < flags, and errors that point at the line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from infill.errors import InputError
from infill.settings import Settings, find_pyproject, load_settings


def _project(tmp_path, body: str):
    (tmp_path / "pyproject.toml").write_text(f"[project]\nname = 'x'\n\n[tool.infill]\n{body}")
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    return tmp_path / "pyproject.toml"


def test_defaults_when_the_nearest_pyproject_has_no_table(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    assert load_settings(tmp_path) == Settings()
    assert Settings().hole == "__FILL__" and Settings().exclude == ()


def test_precedence_defaults_pyproject_overrides(tmp_path):
    pyproject = _project(
        tmp_path,
        'hook-timeout = 30\nregion_open = "BEGIN fill"\nexclude = ["gen/*"]\n'
        'steps = 8\ntemperature = 1\n',
    )
    assert find_pyproject(tmp_path / "src" / "pkg") == pyproject
    assert find_pyproject(tmp_path / "src" / "pkg" / "mod.py") == pyproject

    settings = load_settings(tmp_path / "src" / "pkg")
    assert settings.hook_timeout == 30.0 and isinstance(settings.hook_timeout, float)
    assert settings.region_open == "BEGIN fill"
    assert settings.exclude == ("gen/*",)
    assert settings.fill.steps == 8 and settings.fill.temperature == 1.0
    assert settings.seed == 0 and settings.region_close == "<<< infill"

    flags = argparse.Namespace(steps=3, seed=None, paths=["a.py"], write=True, exclude=["x"])
    settings = load_settings(tmp_path, flags)
    assert settings.fill.steps == 3  # the flag wins
    assert settings.fill.temperature == 1.0  # still from pyproject
    assert settings.seed == 0  # None means "not given"
    assert settings.exclude == ("x",)
    assert settings.region_open == "BEGIN fill"  # still from pyproject

    assert load_settings(tmp_path, {"hook-timeout": 1}).hook_timeout == 1.0


def test_unknown_key_is_an_error_with_path_and_line(tmp_path):
    pyproject = _project(tmp_path, 'seed = 1\nexlcude = ["a"]\n')
    with pytest.raises(InputError) as caught:
        load_settings(tmp_path)
    error = caught.value
    assert error.path == str(pyproject) and error.line == 6
    assert "unknown setting 'exlcude' in [tool.infill]; did you mean 'exclude'?" in str(error)
    assert "known: hole, region-open" in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    "body, message",
    [
        ("steps = '8'", "'steps' in [tool.infill] must be an integer"),
        ("steps = true", "must be an integer"),
        ("exclude = [1]", "must be a list of strings"),
        ("candidates = 0", "must be at least 1"),
        ("threshold = 1.5", "must be in (0, 1]"),
        ("hole = ''", "must not be empty"),
        ("steps =", "invalid TOML"),
        ("temperature = nan", "must be a finite number, not nan"),
        ("temperature = inf", "must be a finite number, not inf"),
        ("strategy = 'greedy'", "must be one of confidence, threshold, margin"),
        ("top-p = 0", "must be in (0, 1]"),
    ],
)
def test_bad_values(tmp_path, body, message):
    pyproject = _project(tmp_path, body + "\n")
    with pytest.raises(InputError) as caught:
        load_settings(tmp_path)
    assert message in str(caught.value)
    assert caught.value.path == str(pyproject) and caught.value.line == 5


def test_bad_override_is_an_error(tmp_path):
    with pytest.raises(InputError, match="option steps must be an integer"):
        load_settings(tmp_path, {"steps": "many"})
    with pytest.raises(InputError, match="option temperature must be a finite number"):
        load_settings(tmp_path, {"temperature": float("nan")})


@pytest.mark.parametrize("body, line", [
    ('[tool]\ninfill = "fast"\n', 2),
    ('tool.infill = "fast"\n', 1),
    ('name = "x"\ntool = 3\n', 2),
])
def test_tool_infill_that_is_not_a_table_is_an_error_at_its_line(tmp_path, body, line):
    (tmp_path / "pyproject.toml").write_text(body)
    with pytest.raises(InputError) as caught:
        load_settings(tmp_path)
    assert caught.value.line == line and "[tool.infill] must be a table" in str(caught.value)
    assert str(caught.value).startswith(f"{tmp_path / 'pyproject.toml'}:{line}: ")


def test_unreadable_pyproject_is_an_input_error(tmp_path, monkeypatch):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.infill]\nseed = 1\n")
    real = Path.read_text

    def denied(self, *args, **kwargs):  # chmod 0 does not stop root, who runs CI here
        if self == pyproject:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(InputError) as caught:
        load_settings(tmp_path)
    assert str(caught.value) == f"{pyproject}: cannot read it: Permission denied"


def test_hole_patterns():
    pattern = Settings().hole_n_pattern()
    found = [(m.group(), m.group("n")) for m in pattern.finditer("__FILL__ __FILL_12__ __FILL_x__")]
    assert found == [("__FILL__", None), ("__FILL_12__", "12")]
    assert Settings().hole_n(1) == "__FILL_1__"

    custom = Settings(hole="<<FILL>>")
    assert custom.hole_n(3) == "<<FILL_3>>"
    assert custom.hole_n_pattern().fullmatch("<<FILL_3>>").group("n") == "3"
    assert Settings(hole="TODO").hole_n_pattern().fullmatch("TODO_2").group("n") == "2"
