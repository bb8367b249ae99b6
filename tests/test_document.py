"""Documents: decoding, the byte-exact way back, refusing binary, and expanding paths."""

from __future__ import annotations

import codecs
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infill.walk import iter_files
from infill.document import (
    decode_document,
    dominant_newline,
    encode_text,
    is_binary,
    read_document,
)
from infill.errors import InputError

# Text a real file might hold, including line ends that str.splitlines would split on.
_ALPHABET = st.sampled_from(
    ["a", "b", " ", "\t", "\n", "\r\n", "\r", "é", "中", "😀", "<mask>", "<|mdm_mask|>",
     "\f", "\v", "\x85", "\u2028", "\ufeff", "__FILL__", "def f():", "    "]
)
_TEXTS = st.lists(_ALPHABET, max_size=60).map("".join)


def _encode(text: str, encoding: str) -> bytes:
    boms = {"utf-8-sig": codecs.BOM_UTF8, "utf-16-le": codecs.BOM_UTF16_LE,
            "utf-16-be": codecs.BOM_UTF16_BE}
    if encoding == "utf-8":
        return text.encode("utf-8")
    return boms[encoding] + text.encode(encoding.replace("-sig", ""))


@settings(max_examples=300, deadline=None)
@given(_TEXTS, st.sampled_from(["utf-8", "utf-8-sig", "utf-16-le", "utf-16-be"]))
def test_round_trip_is_byte_exact(text, encoding):
    raw = _encode(text, encoding)
    doc = decode_document(raw, path="f.txt")
    assert encode_text(doc, doc.text) == raw
    assert "\r" not in doc.text
    assert doc.bom == (encoding != "utf-8" or text.startswith("\ufeff"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_any_decodable_bytes_round_trip(raw):
    try:
        doc = decode_document(raw)
    except InputError:
        return
    assert encode_text(doc, doc.text) == raw


@settings(max_examples=200, deadline=None)
@given(_TEXTS, _TEXTS, st.data())
def test_untouched_lines_keep_their_bytes(before, after, data):
    raw = f"{before}\nEDIT ME\n{after}".encode()
    doc = decode_document(raw)
    index = doc.text.index("EDIT ME")
    new_text = doc.text[:index] + data.draw(_TEXTS).replace("\r", "") + doc.text[index + 7 :]
    new_raw = encode_text(doc, new_text)
    # Everything before the edited line and after it is the original bytes.
    head = raw[: raw.index(b"EDIT ME")]
    assert new_raw.startswith(head)
    assert new_raw.endswith(raw[raw.index(b"EDIT ME") + 8 :])


def test_edit_in_one_line_keeps_mixed_line_endings():
    raw = b"one\r\ntwo\nthree\r\nfour\r\nfive"
    doc = decode_document(raw)
    assert doc.text == "one\ntwo\nthree\nfour\nfive"
    assert doc.newline == "\r\n"
    new = encode_text(doc, "one\ntwo\nTHREE\nfour\nfive")
    assert new == b"one\r\ntwo\nTHREE\r\nfour\r\nfive"
    # Inserted lines take the dominant style; the missing final newline stays missing.
    new = encode_text(doc, "one\ntwo\nadded\nmore\nthree\nfour\nfive")
    assert new == b"one\r\ntwo\nadded\r\nmore\r\nthree\r\nfour\r\nfive"


def test_final_newline_only_when_the_new_text_adds_it():
    doc = decode_document(b"a\r\nb")
    assert encode_text(doc, "a\nB") == b"a\r\nB"
    assert encode_text(doc, "a\nb\n") == b"a\r\nb\r\n"
    assert encode_text(doc, "") == b""


def test_bom_and_utf16_are_kept():
    raw = codecs.BOM_UTF8 + "x = 'é'\r\n".encode()
    doc = decode_document(raw)
    assert doc.bom and doc.encoding == "utf-8" and doc.text == "x = 'é'\n"
    assert encode_text(doc, "y = 1\n") == codecs.BOM_UTF8 + b"y = 1\r\n"

    raw = codecs.BOM_UTF16_LE + "a\nb\n".encode("utf-16-le")
    doc = decode_document(raw)
    assert doc.encoding == "utf-16-le" and doc.text == "a\nb\n"
    assert encode_text(doc, "a\nc\n") == codecs.BOM_UTF16_LE + "a\nc\n".encode("utf-16-le")


def test_literal_special_tokens_are_ordinary_text():
    doc = decode_document(b"x = '<mask>'  # <|mdm_mask|>\n")
    assert doc.text == "x = '<mask>'  # <|mdm_mask|>\n"


def test_dominant_newline():
    assert dominant_newline("no newline") == "\n"
    assert dominant_newline("a\r\nb\r\nc\n") == "\r\n"
    assert dominant_newline("a\rb\rc\r\n") == "\r"
    assert dominant_newline("a\nb\r\n") == "\n"  # a tie goes to the first seen


def test_line_of():
    doc = decode_document(b"a\r\nbc\nd")
    assert [doc.line_of(i) for i in range(len(doc.text) + 1)] == [1, 1, 2, 2, 2, 3, 3]


def test_binary_is_refused_with_the_path():
    with pytest.raises(InputError) as caught:
        decode_document(b"PK\x03\x04\x00\x00abc", path="archive.zip")
    assert str(caught.value) == "archive.zip: binary file; infill works on text files"
    with pytest.raises(InputError, match="binary file"):
        decode_document(bytes(range(1, 32)) * 10, path="f")
    assert not is_binary(b"plain text\twith tabs\r\n")
    assert not is_binary(codecs.BOM_UTF16_LE + "text".encode("utf-16-le"))


def test_invalid_utf8_names_line_and_column():
    raw = "ok\r\nalso ok\nbad é ".encode() + b"\xff rest\n"
    with pytest.raises(InputError) as caught:
        decode_document(raw, path="src/x.py")
    error = caught.value
    assert (error.path, error.line) == ("src/x.py", 3)
    assert str(error) == (
        "src/x.py:3: not valid UTF-8 (byte 0xff at column 7); re-encode the file as UTF-8"
    )
    assert "\n" not in str(error)


def test_invalid_utf16_is_an_input_error():
    with pytest.raises(InputError, match="UTF-16"):
        decode_document(codecs.BOM_UTF16_LE + b"a\x00b", path="f")  # odd length


def test_read_document(tmp_path):
    path = tmp_path / "f.py"
    path.write_bytes(b"x = 1\r\n")
    os.chmod(path, 0o751)
    doc = read_document(str(path))
    assert doc.path == str(path) and doc.text == "x = 1\n" and doc.newline == "\r\n"
    assert doc.mode is not None and doc.mode & 0o777 == 0o751
    assert len(doc.sha256) == 64

    link = tmp_path / "link.py"
    link.symlink_to(path)
    assert read_document(str(link)).raw == b"x = 1\r\n"

    with pytest.raises(InputError, match="no such file") as caught:
        read_document(str(tmp_path / "missing.py"))
    assert caught.value.path == str(tmp_path / "missing.py")
    with pytest.raises(InputError, match="directory"):
        read_document(str(tmp_path))


# ---------------------------------------------------------------------------- iter_files

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def _git(cwd, *args):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def _tree(root, files):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@needs_git
def test_iter_files_skips_ignored_binary_and_excluded(tmp_path, monkeypatch):
    _git(tmp_path, "init", "-q")
    _tree(tmp_path, {
        ".gitignore": b"build/\n*.log\n!keep.log\n",
        "a.py": b"x\n",
        "b/c.py": b"y\n",
        "b/data.bin": b"\x00\x01\x02",
        "b/utf16.txt": codecs.BOM_UTF16_LE + "t".encode("utf-16-le"),
        "build/gen.py": b"z\n",
        "debug.log": b"log\n",
        "keep.log": b"kept\n",
        "vendor/lib.py": b"v\n",
        "notes.md": b"n\n",
    })
    _git(tmp_path, "add", "a.py")  # tracked or not makes no difference
    monkeypatch.chdir(tmp_path)
    assert list(iter_files(["."])) == [
        ".gitignore", "a.py", "b/c.py", "b/utf16.txt", "keep.log", "notes.md", "vendor/lib.py",
    ]
    assert list(iter_files(["."], exclude=["vendor/*", "*.md"])) == [
        ".gitignore", "a.py", "b/c.py", "b/utf16.txt", "keep.log",
    ]
    # Patterns match the path as given too, and directories are pruned.
    assert list(iter_files(["b"], exclude=["b/c.py"])) == ["b/utf16.txt"]
    assert list(iter_files(["."], exclude=["b", "vendor", ".*"])) == [
        "a.py", "keep.log", "notes.md",
    ]
    # Explicit files are taken as given, even when ignored; each file comes once.
    assert list(iter_files(["debug.log", "a.py", "."]))[:3] == ["debug.log", "a.py", ".gitignore"]
    assert list(iter_files(["a.py", "./a.py"])) == ["a.py"]


@needs_git
def test_iter_files_nested_repository_uses_its_own_rules(tmp_path):
    _git(tmp_path, "init", "-q")
    _tree(tmp_path, {".gitignore": b"*.tmp\n", "sub/x.tmp": b"1\n", "sub/y.py": b"2\n"})
    _git(tmp_path / "sub", "init", "-q")
    _tree(tmp_path, {"sub/.gitignore": b"*.py\n", "z.tmp": b"3\n"})
    found = [os.path.relpath(p, tmp_path) for p in iter_files([str(tmp_path)])]
    # The outer *.tmp rule does not reach into the nested repository.
    assert found == [".gitignore", "sub/.gitignore", "sub/x.tmp"]


@pytest.mark.parametrize("git", ["not a repository", "not installed"])
def test_iter_files_without_git_filters_nothing_but_binary(tmp_path, monkeypatch, git):
    _tree(tmp_path, {".gitignore": b"*.py\n", "a.py": b"x\n", "b.bin": b"\0"})
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    if git == "not installed":
        monkeypatch.setenv("PATH", "/nonexistent")
    found = [os.path.basename(p) for p in iter_files([str(tmp_path)])]
    assert found == [".gitignore", "a.py"]


def test_iter_files_missing_argument(tmp_path):
    with pytest.raises(InputError, match="no such file") as caught:
        list(iter_files([str(tmp_path / "nope.py")]))
    assert caught.value.path == str(tmp_path / "nope.py")


def test_core_modules_import_no_heavy_dependencies():
    code = (
        "import sys, infill.document, infill.patch, infill.settings\n"
        "bad = {'torch', 'textual', 'tree_sitter', 'git'} & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


@needs_git
def test_iter_files_inside_a_git_hook_environment(tmp_path, monkeypatch):
    # Hooks run with GIT_DIR set relative to the work tree root.
    _git(tmp_path, "init", "-q")
    _tree(tmp_path, {".gitignore": b"/src/gen.py\n", "src/gen.py": b"1\n", "src/m.py": b"2\n"})
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_DIR", ".git")
    monkeypatch.setenv("GIT_INDEX_FILE", ".git/index")
    assert list(iter_files(["src"])) == ["src/m.py"]
