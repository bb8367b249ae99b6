"""Patches: diffs that real ``git apply`` accepts, and a write that never loses a file."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infill import patch as patch_module
from infill.document import decode_document, read_document
from infill.errors import InputError, StaleFileError
from infill.patch import Patch, apply_patch, build_patch, build_patch_bytes, make_patch

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git_apply(directory, name: str, old: bytes, diff: bytes) -> bytes:
    """Apply ``diff`` with real git to a file holding ``old``; return the file's new bytes."""
    (directory / name).parent.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(old)
    (directory / "fill.patch").write_bytes(diff)
    result = subprocess.run(
        ["git", "apply", "--whitespace=nowarn", "fill.patch"],
        cwd=directory,
        capture_output=True,
        env={**os.environ, "GIT_CEILING_DIRECTORIES": str(directory.parent)},
    )
    assert result.returncode == 0, result.stderr.decode()
    return (directory / name).read_bytes()


def test_build_patch_format():
    diff = build_patch("a\nb\nc\n", "a\nB\nc\n", "src/m.py")
    assert diff == (
        "diff --git a/src/m.py b/src/m.py\n"
        "--- a/src/m.py\n"
        "+++ b/src/m.py\n"
        "@@ -1,3 +1,3 @@\n"
        " a\n"
        "-b\n"
        "+B\n"
        " c\n"
    )
    assert build_patch("same\n", "same\n", "x") == ""


def test_missing_final_newline_is_marked_like_git():
    diff = build_patch("a\nb", "a\nc", "f")
    assert diff.endswith("-b\n\\ No newline at end of file\n+c\n\\ No newline at end of file\n")
    diff = build_patch("a\nb", "a\nb\n", "f")
    assert diff.endswith("-b\n\\ No newline at end of file\n+b\n")


_LINES = st.lists(
    st.sampled_from(["x", "y = 1", "", "\tz", "é", "<mask>", "__FILL__"]), max_size=12
)


@needs_git
@settings(max_examples=25, deadline=None)
@given(_LINES, _LINES, st.booleans(), st.booleans())
def test_git_apply_reproduces_new_text(tmp_path_factory, old_lines, new_lines, old_nl, new_nl):
    old = "\n".join(old_lines) + ("\n" if old_nl and old_lines else "")
    new = "\n".join(new_lines) + ("\n" if new_nl and new_lines else "")
    diff = build_patch(old, new, "pkg/mod.py")
    if old == new:
        assert diff == ""
        return
    directory = tmp_path_factory.mktemp("apply")
    assert _git_apply(directory, "pkg/mod.py", old.encode(), diff.encode()) == new.encode()


@needs_git
def test_git_apply_crlf_file_via_bytes_diff(tmp_path):
    old = b"one\r\ntwo\r\nthree\nfour\r\nfive"
    new = b"one\r\nTWO\r\nthree\nfour\r\nfive\r\nsix"
    diff = build_patch_bytes(old, new, "w.txt")
    assert b"-two\r\n+TWO\r\n" in diff
    assert _git_apply(tmp_path, "w.txt", old, diff) == new
    assert build_patch_bytes(old, old, "w.txt") == b""


@needs_git
def test_git_apply_odd_path_names(tmp_path):
    for name in ["with space.py", 'quo"te.py', "ünï.py"]:
        diff = build_patch("a\n", "b\n", name)
        assert _git_apply(tmp_path, name, b"a\n", diff.encode()) == b"b\n"


@needs_git
def test_make_patch_diff_applies_to_the_real_bytes(tmp_path):
    raw = b"\xef\xbb\xbfdef f():\r\n    __FILL__\r\nx = 1\n"
    path = tmp_path / "m.py"
    path.write_bytes(raw)
    doc = read_document(str(path))
    made = make_patch(doc, doc.text.replace("__FILL__", "return 1"), display_path="m.py")
    assert made.new_bytes == b"\xef\xbb\xbfdef f():\r\n    return 1\r\nx = 1\n"
    assert made.old_sha256 == doc.sha256 and made.path == str(path)
    copy = tmp_path / "copy"
    copy.mkdir()
    assert _git_apply(copy, "m.py", raw, made.diff.encode()) == made.new_bytes


def _patch_for(path, new: bytes) -> Patch:
    doc = read_document(str(path))
    return make_patch(doc, decode_document(new).text)


def _leftovers(directory) -> list[str]:
    return sorted(name for name in os.listdir(directory) if name.startswith("."))


def test_apply_patch_writes_and_keeps_mode(tmp_path):
    path = tmp_path / "run.sh"
    path.write_bytes(b"echo __FILL__\n")
    os.chmod(path, 0o754)
    apply_patch(_patch_for(path, b"echo hi\n"))
    assert path.read_bytes() == b"echo hi\n"
    assert os.stat(path).st_mode & 0o777 == 0o754
    assert _leftovers(tmp_path) == []


def test_apply_patch_refuses_a_stale_file(tmp_path):
    path = tmp_path / "f.py"
    path.write_bytes(b"x = __FILL__\n")
    made = _patch_for(path, b"x = 1\n")
    path.write_bytes(b"x = __FILL__  # edited meanwhile\n")
    with pytest.raises(StaleFileError) as caught:
        apply_patch(made)
    assert str(caught.value) == f"{path}: changed on disk since it was read; nothing was written"
    assert path.read_bytes() == b"x = __FILL__  # edited meanwhile\n"
    assert _leftovers(tmp_path) == []

    path.unlink()
    with pytest.raises(StaleFileError):
        apply_patch(made)
    assert not path.exists()


def test_apply_patch_through_a_symlink_writes_the_target(tmp_path):
    target = tmp_path / "real" / "t.py"
    target.parent.mkdir()
    target.write_bytes(b"a\n")
    link = tmp_path / "link.py"
    link.symlink_to(target)
    apply_patch(_patch_for(link, b"b\n"))
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes() == b"b\n"
    assert _leftovers(tmp_path) == [] and _leftovers(target.parent) == []


@pytest.mark.parametrize("failing", ["replace", "fsync", "interrupt"])
def test_apply_patch_failure_leaves_the_original(tmp_path, monkeypatch, failing):
    path = tmp_path / "f.py"
    path.write_bytes(b"keep me\n")
    made = _patch_for(path, b"lost\n")

    def boom(*args, **kwargs):
        if failing == "interrupt":
            raise KeyboardInterrupt
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(patch_module.os, "replace" if failing != "fsync" else "fsync", boom)
    expected = KeyboardInterrupt if failing == "interrupt" else InputError
    with pytest.raises(expected) as caught:
        apply_patch(made)
    if expected is InputError:
        assert str(caught.value).startswith(f"{path}: cannot write: No space left on device")
    assert path.read_bytes() == b"keep me\n"
    assert _leftovers(tmp_path) == []


def test_apply_patch_unwritable_directory(tmp_path, monkeypatch):
    path = tmp_path / "f.py"
    path.write_bytes(b"a\n")
    made = _patch_for(path, b"b\n")

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(patch_module.tempfile, "mkstemp", refuse)
    with pytest.raises(InputError, match="cannot write in .*: Permission denied"):
        apply_patch(made)
    assert path.read_bytes() == b"a\n"
