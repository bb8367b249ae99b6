"""``infill fill`` end to end, in a subprocess-free way (``cli.main``) and through the script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from infill.cli import main

HOLE_FILE = "def add(a, b):\n    return __FILL__\n"


def run(argv, capsysbinary):
    code = main(argv)
    out, err = capsysbinary.readouterr()
    return code, out, err.decode()


def test_stdin_fill_changes_only_the_hole(tiny_model_dir):
    """The issue's acceptance command, through the installed script."""
    proc = subprocess.run(
        [sys.executable, "-m", "infill", "fill", "-", "--model", str(tiny_model_dir)],
        input=b"def add(a, b):\r\n    return __FILL__\r\nprint('<mask>')\r\n",
        capture_output=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith(b"def add(a, b):\r\n    return ")
    assert out.endswith(b"\r\nprint('<mask>')\r\n")
    assert b"__FILL__" not in out


def test_single_file_prints_filled_text_and_leaves_the_file(tmp_path, tiny_model_dir, capsysbinary):
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    code, out, _ = run(["fill", str(f), "--model", str(tiny_model_dir)], capsysbinary)
    assert code == 0
    assert out.startswith(b"def add(a, b):\n    return ") and b"__FILL__" not in out
    assert f.read_text() == HOLE_FILE


def test_write_applies_in_place_and_keeps_mode(tmp_path, tiny_model_dir, capsysbinary):
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    f.chmod(0o751)
    code, _, _ = run(["fill", "--write", str(f), "--model", str(tiny_model_dir)], capsysbinary)
    assert code == 0
    assert "__FILL__" not in f.read_text()
    assert f.read_text().startswith("def add(a, b):\n    return ")
    assert f.stat().st_mode & 0o777 == 0o751


def test_several_files_give_a_diff_that_git_apply_accepts(tmp_path, tiny_model_dir, capsysbinary):
    (tmp_path / "a.py").write_text(HOLE_FILE)
    (tmp_path / "b.py").write_text("x = 1\ny = __FILL_1__\n")
    (tmp_path / "c.py").write_text("no markers\n")
    os.chdir(tmp_path)
    code, out, _ = run(["fill", "a.py", "b.py", "c.py", "--model", str(tiny_model_dir)], capsysbinary)
    assert code == 0
    assert out.count(b"diff --git") == 2
    (tmp_path / "p.diff").write_bytes(out)
    subprocess.run(["git", "apply", "p.diff"], cwd=tmp_path, check=True)
    assert "__FILL" not in (tmp_path / "a.py").read_text() + (tmp_path / "b.py").read_text()


def test_directory_paths_fill_files_with_markers(tmp_path, tiny_model_dir, capsysbinary):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text(HOLE_FILE)
    (tmp_path / "pkg" / "data.bin").write_bytes(b"\x00\x01__FILL__")
    code, _, _ = run(["fill", "--write", str(tmp_path / "pkg"), "--model", str(tiny_model_dir)],
                     capsysbinary)
    assert code == 0
    assert "__FILL__" not in (tmp_path / "pkg" / "a.py").read_text()
    assert (tmp_path / "pkg" / "data.bin").read_bytes() == b"\x00\x01__FILL__"


def test_check_lists_markers_and_exits_1(tmp_path, capsysbinary):
    f = tmp_path / "a.py"
    f.write_text("x = 1\n" + HOLE_FILE)
    code, out, _ = run(["fill", "--check", str(f)], capsysbinary)
    assert code == 1
    assert f"{f}:3:12: hole marker '__FILL__'".encode() in out
    f.write_text("x = 1\n")
    assert run(["fill", "--check", str(f)], capsysbinary)[0] == 0


def test_json_and_trajectory(tmp_path, tiny_model_dir, capsysbinary):
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    traj = tmp_path / "t.jsonl"
    code, out, _ = run(["fill", "--json", str(f), "--model", str(tiny_model_dir), "--steps", "3",
                        "--trajectory", str(traj)], capsysbinary)
    assert code == 0
    report = json.loads(out)
    (entry,) = report["files"]
    assert entry["language"] == "python" and len(entry["spans"]) == 1
    assert entry["spans"][0]["line"] == 2
    frames = [json.loads(line) for line in traj.read_text().splitlines()]
    assert 1 <= len(frames) <= 3 and frames[-1]["slots"]


@pytest.mark.parametrize("content,needle", [
    (b"\x00\x01\x02binary", "binary file"),
    (b"ok = 1\nbad = '\xff'\n", ":2: not valid UTF-8"),
    (b"x\n# >>> infill\ny\n", ":2: '>>> infill' is never closed"),
    (b"# >>> infill\n# >>> infill\n# <<< infill\n", ":2: nested"),
])
def test_bad_input_exits_2_with_file_and_line_and_writes_nothing(tmp_path, tiny_model_dir,
                                                                 capsysbinary, content, needle):
    f = tmp_path / "bad.py"
    f.write_bytes(content)
    code, _, err = run(["fill", "--write", str(f), "--model", str(tiny_model_dir)], capsysbinary)
    assert code == 2
    assert str(f) in err and needle in err
    assert len(err.strip().splitlines()) == 1
    assert f.read_bytes() == content


def test_unknown_model_path_exits_2(tmp_path, capsysbinary):
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    code, _, err = run(["fill", str(f), "--model", str(tmp_path / "nope")], capsysbinary)
    assert code == 2 and "no such model directory" in err


def test_file_changed_between_read_and_write_is_not_overwritten(tmp_path, tiny_model_dir,
                                                                capsysbinary, monkeypatch):
    import infill.fill_cmd as fill_cmd

    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    real = fill_cmd.make_patch

    def edit_then_patch(doc, text, display_path=None):
        f.write_text("someone else's edit\n")
        return real(doc, text, display_path)

    monkeypatch.setattr(fill_cmd, "make_patch", edit_then_patch)
    code, _, err = run(["fill", "--write", str(f), "--model", str(tiny_model_dir)], capsysbinary)
    assert code == 2 and "changed on disk" in err
    assert f.read_text() == "someone else's edit\n"


def test_usage_error_exits_2(capsysbinary):
    with pytest.raises(SystemExit) as info:
        main(["fill"])
    assert info.value.code == 2


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert capsys.readouterr().out.startswith("infill ")


def test_models_lists_runnable_checkpoints_in_the_local_cache(tmp_path, monkeypatch, capsys):
    import json as _json

    def snapshot(repo, config):
        d = tmp_path / "hub" / f"models--{repo.replace('/', '--')}" / "snapshots" / "abc"
        d.mkdir(parents=True)
        (d / "config.json").write_text(_json.dumps(config))

    snapshot("GSAI-ML/LLaDA-8B-Instruct", {"model_type": "llada", "architectures": ["LLaDAModelLM"]})
    snapshot("Dream-org/Dream-v0-Base-7B", {"model_type": "Dream", "architectures": ["DreamModel"]})
    snapshot("answerdotai/ModernBERT-base", {"model_type": "modernbert",
                                             "architectures": ["ModernBertForMaskedLM"]})
    snapshot("openai-community/gpt2", {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]})
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    main(["models"])
    out = capsys.readouterr().out
    assert "GSAI-ML/LLaDA-8B-Instruct: backend llada  " in out  # own forward: no remote code
    assert "Dream-org/Dream-v0-Base-7B: backend dream  " in out
    assert "backend llada (needs" not in out and "backend dream (needs" not in out
    assert "answerdotai/ModernBERT-base: backend hf-mlm" in out
    assert "gpt2" not in out
    from infill.backends import BACKENDS

    assert all(f"  {name}: {b.summary}" in out for name, b in BACKENDS.items())


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_temperature_that_is_not_finite_is_exit_2(tmp_path, value, capsysbinary, monkeypatch):
    monkeypatch.setenv("INFILL_MODEL", str(tmp_path / "no-such-model"))
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    code, out, err = run(["fill", str(f), f"--temperature={value}"], capsysbinary)
    assert code == 2 and out == b""
    assert "option temperature must be" in err and "model" not in err


@pytest.mark.parametrize("line", ["strategy = 'greedy'", "temperature = nan"])
def test_bad_sampler_settings_in_pyproject_fail_before_the_model_loads(tmp_path, line,
                                                                        capsysbinary, monkeypatch):
    monkeypatch.setenv("INFILL_MODEL", str(tmp_path / "no-such-model"))
    (tmp_path / "pyproject.toml").write_text(f"[tool.infill]\n{line}\n")
    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    code, _, err = run(["fill", str(f)], capsysbinary)
    assert code == 2
    assert err.startswith(f"infill: {tmp_path / 'pyproject.toml'}:2: setting ")
    assert "no-such-model" not in err


def test_every_registered_strategy_runs_from_the_cli(tmp_path, tiny_model_dir, capsysbinary):
    from infill.strategies import STRATEGIES

    f = tmp_path / "a.py"
    f.write_text(HOLE_FILE)
    for name in STRATEGIES:
        code, out, err = run(["fill", str(f), "--model", str(tiny_model_dir), "--strategy", name,
                              "--steps", "3"], capsysbinary)
        assert code == 0, err
        assert b"__FILL__" not in out


def test_train_help_has_no_raw_markup(capsys):
    assert main(["train", "--help"]) == 0
    assert "``" not in capsys.readouterr().out
