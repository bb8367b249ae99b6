"""scripts/device_pack.py: the tree packed to fit a device call, rebuilt there, restored here."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "device_pack.py"


def load():
    spec = importlib.util.spec_from_file_location("device_pack", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def digests(root: Path, rel: str) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((root / rel).rglob("*")) if p.is_file()}


@pytest.fixture
def repo(tmp_path):
    """A committed repository shaped like the project: weights, evaluation sets, code."""
    r = tmp_path / "repo"
    (r / "models" / "house").mkdir(parents=True)
    (r / "evalsets" / "dev").mkdir(parents=True)
    (r / "infill").mkdir()
    (r / "models" / "house" / "model.safetensors").write_bytes(os.urandom(300_000))
    (r / "models" / "house" / "config.json").write_text('{"hidden_size": 8}\n')
    rows = "".join(json.dumps({"id": i, "prefix": "def f():\n    return " * 20}) + "\n" for i in range(400))
    (r / "evalsets" / "python.jsonl").write_text(rows)
    (r / "evalsets" / "dev" / "python.jsonl").write_text(rows[:5000])
    (r / "infill" / "__init__.py").write_text("VERSION = 1\n")
    shutil.copy(ROOT / ".gitignore", r / ".gitignore")
    git(r, "init", "-q")
    git(r, "add", "-A")
    git(r, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    return r


def run(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args, "--root", str(repo)],
                          capture_output=True, text=True)


def test_project_ignores_the_pack_folder():
    assert git(ROOT, "check-ignore", ".device-pack/models.tar.xz").strip() == ".device-pack/models.tar.xz"


def test_pack_unpack_restore_round_trip(repo, tmp_path):
    dp = load()
    before = {**digests(repo, "models"), **digests(repo, "evalsets")}
    full = sum(dp.travelling(repo).values())

    done = run(repo, "pack")
    assert done.returncode == 0, done.stderr
    assert "restore" in done.stdout
    assert not (repo / "models").exists() and not (repo / "evalsets").exists()
    assert (repo / ".git" / "device-aside" / "tree" / "models" / "house" / "model.safetensors").is_file()
    sent = dp.travelling(repo)
    assert not any(rel.startswith(("models/", "evalsets/")) for rel in sent)
    assert ".device-pack/models.tar.xz" in sent and "infill/__init__.py" in sent
    assert sum(sent.values()) < full                      # the JSON lines compress
    assert " D models/house/config.json" in git(repo, "status", "--porcelain")

    # The device machine: only what travels, no .git; unpack rebuilds and verifies.
    device = tmp_path / "device"
    for rel in sent:
        (device / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(repo / rel, device / rel)
    done = run(device, "unpack")
    assert done.returncode == 0, done.stderr
    assert {**digests(device, "models"), **digests(device, "evalsets")} == before

    done = run(repo, "restore")
    assert done.returncode == 0, done.stderr
    assert {**digests(repo, "models"), **digests(repo, "evalsets")} == before
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".device-pack").exists() and not (repo / ".git" / "device-aside").exists()


def test_pack_twice_and_restore_without_pack_are_refused(repo):
    assert run(repo, "restore").returncode == 2
    assert run(repo, "pack", "evalsets").returncode == 0
    again = run(repo, "pack", "evalsets")
    assert again.returncode == 2 and "already packed" in again.stderr
    assert run(repo, "restore").returncode == 0
    assert git(repo, "status", "--porcelain") == ""


def test_pack_refuses_paths_outside_the_repository(repo):
    done = run(repo, "pack", "../elsewhere")
    assert done.returncode == 2 and "not a path inside the repository" in done.stderr
    assert git(repo, "status", "--porcelain") == ""


def test_a_tree_too_large_even_packed_is_left_as_it_was(repo, monkeypatch):
    dp = load()
    monkeypatch.setattr(dp, "LIMIT", 100_000)             # below the incompressible weights
    with pytest.raises(dp.PackError, match="still too large"):
        dp.pack(repo, ("models", "evalsets"), preset=0)
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".git" / "device-aside").exists()


def test_unpack_names_a_missing_carry_and_a_damaged_file(repo, tmp_path):
    device = tmp_path / "device"
    device.mkdir()
    done = run(device, "unpack")
    assert done.returncode == 2 and "carry" in done.stderr

    assert run(repo, "pack", "evalsets").returncode == 0
    shutil.copytree(repo / ".device-pack", device / ".device-pack")
    manifest = json.loads((device / ".device-pack" / "manifest.json").read_text())
    manifest["files"]["evalsets/python.jsonl"] = "0" * 64
    (device / ".device-pack" / "manifest.json").write_text(json.dumps(manifest))
    done = run(device, "unpack")
    assert done.returncode == 2 and "evalsets/python.jsonl" in done.stderr
    assert run(repo, "restore").returncode == 0


def test_restore_after_the_paths_were_checked_out_again(repo):
    """The fallback branch (docs/TRAINING.md): switching back to the main branch checks the
    packed paths out again; restore then finds them unchanged and drops its copy."""
    assert run(repo, "pack").returncode == 0
    git(repo, "checkout", "--", "models", "evalsets")
    assert run(repo, "restore").returncode == 0
    assert git(repo, "status", "--porcelain") == ""
    assert not (repo / ".git" / "device-aside").exists()

    assert run(repo, "pack", "evalsets").returncode == 0
    git(repo, "checkout", "--", "evalsets")
    (repo / "evalsets" / "python.jsonl").write_text("changed\n")
    done = run(repo, "restore")
    assert done.returncode == 2 and "differs" in done.stderr
    assert (repo / ".git" / "device-aside" / "tree" / "evalsets" / "python.jsonl").is_file()  # kept
