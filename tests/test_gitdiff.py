"""Diff mode's data (``infill.gitops.diff``): real git in temporary repositories."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from infill.errors import InfillError, InputError, StaleFileError
from infill.gitops.diff import (ADDED, DELETED, INDEX, MODIFIED, RENAMED, WORKTREE, change_spans,
                                hunk_at, hunk_span, lines_span, load_diff, write_fill)
from infill.markers import REWRITE, splice


@pytest.fixture
def repo(git_env):
    path = git_env / "repo"
    path.mkdir()
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "core.autocrlf", "false")
    # A user's diff settings must not change what infill parses.
    git(path, "config", "diff.noprefix", "true")
    git(path, "config", "color.diff", "always")
    git(path, "config", "diff.mnemonicPrefix", "true")
    return path


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode()


def write(repo: Path, name: str, data: str | bytes) -> None:
    path = repo / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def commit(repo: Path, **files: str | bytes) -> None:
    for name, data in files.items():
        write(repo, name.replace("__", "/"), data)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "c")


BASE = "".join(f"line {i}\n" for i in range(1, 21))


def fill(text: str, spans, fills) -> str:
    return splice(text, spans, fills)


# ----------------------------------------------------------------------- the diff itself


def test_modified_file_hunks_and_new_text(repo):
    commit(repo, a_py=BASE)
    new = BASE.replace("line 5\n", "line 5\nadded A\nadded B\n").replace("line 15\n", "changed 15\n")
    write(repo, "a_py", new)

    (fd,) = load_diff(repo)

    assert (fd.old_path, fd.new_path, fd.status, fd.source) == ("a_py", "a_py", MODIFIED, WORKTREE)
    assert fd.new_text == new and not fd.binary and fd.note is None
    assert [h.added_lines for h in fd.hunks] == [[6, 7], [17]]
    first = fd.hunks[0]
    assert first.header == "@@ -3,6 +3,8 @@ line 2"
    assert [(l.kind, l.old_line, l.new_line) for l in first.lines[:5]] == [
        (" ", 3, 3), (" ", 4, 4), (" ", 5, 5), ("+", None, 6), ("+", None, 7)]
    assert hunk_at(fd, 17) is fd.hunks[1] and hunk_at(fd, 11) is None


def test_hunk_span_covers_the_added_lines_and_write_fill_applies_it(repo):
    commit(repo, a_py=BASE)
    new = BASE.replace("line 5\n", "line 5\nadded A\nadded B\n")
    write(repo, "a_py", new)
    (fd,) = load_diff(repo)

    span = hunk_span(fd, fd.hunks[0], strength=0.5)
    assert (span.kind, span.block, span.line, span.strength) == (REWRITE, True, 6, 0.5)
    assert new[span.start:span.end] == "added A\nadded B\n"

    diff = write_fill(fd, fill(fd.new_text, [span], ["rewritten\n"]))
    assert (repo / "a_py").read_text() == BASE.replace("line 5\n", "line 5\nrewritten\n")
    assert diff.startswith("diff --git a/a_py b/a_py\n") and "+rewritten" in diff
    # the second write of the same diff is refused: the file is no longer what was loaded
    with pytest.raises(StaleFileError, match="changed on disk"):
        write_fill(fd, fd.new_text)


def test_change_spans_split_a_hunk_into_runs_of_added_lines(repo):
    commit(repo, a_py=BASE)
    new = BASE.replace("line 5\n", "x\n").replace("line 7\n", "y\nz\n")
    write(repo, "a_py", new)
    (fd,) = load_diff(repo)
    assert len(fd.hunks) == 1
    spans = change_spans(fd, fd.hunks[0])
    assert [new[s.start:s.end] for s in spans] == ["x\n", "y\nz\n"]
    whole = hunk_span(fd, fd.hunks[0])
    assert new[whole.start:whole.end] == "x\nline 6\ny\nz\n"


def test_a_removal_only_hunk_gives_an_empty_span_where_the_lines_were(repo):
    commit(repo, a_py=BASE)
    new = BASE.replace("line 8\nline 9\n", "")
    write(repo, "a_py", new)
    (fd,) = load_diff(repo)
    span = hunk_span(fd, fd.hunks[0])
    assert span.start == span.end == new.index("line 10\n") and span.line == 8
    assert fill(new, [span], ["new 8\n"]) == BASE.replace("line 8\nline 9\n", "new 8\n")


def test_lines_span_bounds_and_files_without_a_final_newline(repo):
    commit(repo, a_py="a\nb\n")
    write(repo, "a_py", "a\nb\nc")
    (fd,) = load_diff(repo)
    assert fd.hunks[0].lines[-1].no_newline and fd.hunks[0].lines[-1].text == "c"
    span = hunk_span(fd, fd.hunks[0])
    assert fd.new_text[span.start:span.end] == "c"
    assert fd.new_text[lines_span(fd, 1, 3).start:] == "a\nb\nc"
    with pytest.raises(InputError, match="outside the file"):
        lines_span(fd, 2, 4)


# ------------------------------------------------------------------------- file kinds


def test_added_deleted_renamed_and_binary_files(repo):
    commit(repo, keep_py=BASE, old_name_py=BASE, gone_py="bye\n", img_bin=b"\0\1\2")
    git(repo, "mv", "old_name_py", "new_name_py")
    write(repo, "new_name_py", BASE.replace("line 3\n", "line three\n"))
    (repo / "gone_py").unlink()
    write(repo, "img_bin", b"\0\1\3")
    write(repo, "fresh_py", "brand new\n")
    git(repo, "add", "-A")

    files = {fd.path: fd for fd in load_diff(repo, staged=True)}

    assert files["fresh_py"].status == ADDED and files["fresh_py"].old_path is None
    assert files["fresh_py"].hunks[0].added_lines == [1]
    assert files["gone_py"].status == DELETED and files["gone_py"].new_text is None
    assert files["gone_py"].note == "deleted" and files["gone_py"].hunks[0].lines[0].kind == "-"
    renamed = files["new_name_py"]
    assert (renamed.status, renamed.old_path, renamed.label) == (
        RENAMED, "old_name_py", "renamed from old_name_py")
    assert renamed.similarity and renamed.hunks[0].added_lines == [3]
    assert files["img_bin"].binary and files["img_bin"].new_text is None
    assert files["img_bin"].note == "binary file" and files["img_bin"].label == "modified, binary"
    assert "keep_py" not in files
    with pytest.raises(InputError, match="no text to fill"):
        hunk_span(files["gone_py"], files["gone_py"].hunks[0])


def test_symlink_and_mode_change(repo):
    commit(repo, a_sh="echo\n")
    os.symlink("a_sh", repo / "link")
    (repo / "a_sh").chmod(0o755)
    git(repo, "add", "-A")
    files = {fd.path: fd for fd in load_diff(repo, staged=True)}
    assert files["link"].note == "symbolic link" and files["link"].new_text is None
    assert (files["a_sh"].old_mode, files["a_sh"].new_mode) == ("100644", "100755")
    assert files["a_sh"].hunks == ()


def test_odd_file_names(repo):
    names = ["with space.py", "ünï.py", 'quo"te.py', "tab\tname.py"]
    commit(repo, **{f"f{i}": "x\n" for i in range(len(names))})
    for i, name in enumerate(names):
        git(repo, "mv", f"f{i}", name)
        write(repo, name, "x\ny\n")
    files = load_diff(repo)
    assert sorted(fd.path for fd in files) == sorted(names)
    assert all(fd.new_text == "x\ny\n" and fd.hunks[0].added_lines == [2] for fd in files)


def test_crlf_file_keeps_its_line_endings_when_written(repo):
    commit(repo, w_txt=b"a\r\nb\r\n")
    write(repo, "w_txt", b"a\r\nb\r\nc\r\n")
    (fd,) = load_diff(repo)
    assert fd.new_text == "a\nb\nc\n"
    span = hunk_span(fd, fd.hunks[0])
    write_fill(fd, fill(fd.new_text, [span], ["C\n"]))
    assert (repo / "w_txt").read_bytes() == b"a\r\nb\r\nC\r\n"


# -------------------------------------------------------------- staged, revs, no commits


def test_repository_with_no_commits(repo):
    write(repo, "a.py", "one\n")
    git(repo, "add", "a.py")
    write(repo, "a.py", "one\ntwo\n")
    (staged,) = load_diff(repo, staged=True)
    assert (staged.status, staged.source, staged.new_text) == (ADDED, INDEX, "one\n")
    (unstaged,) = load_diff(repo)
    assert (unstaged.status, unstaged.new_text) == (MODIFIED, "one\ntwo\n")
    assert load_diff(repo, paths=["nothing-here"]) == []


def test_staged_fill_is_refused_over_unstaged_changes(repo):
    commit(repo, a_py=BASE)
    write(repo, "a_py", BASE + "staged\n")
    git(repo, "add", "a_py")
    (fd,) = load_diff(repo, staged=True)
    assert fd.new_text == BASE + "staged\n"
    write(repo, "a_py", BASE + "staged\nunstaged\n")
    with pytest.raises(StaleFileError, match="unstaged changes"):
        write_fill(fd, BASE + "filled\n")
    assert (repo / "a_py").read_text() == BASE + "staged\nunstaged\n"
    write(repo, "a_py", BASE + "staged\n")
    write_fill(fd, BASE + "filled\n")
    assert (repo / "a_py").read_text() == BASE + "filled\n"
    assert git(repo, "show", ":a_py") == BASE + "staged\n"  # the index is never touched


def test_against_a_revision_and_paths(repo):
    commit(repo, a_py="1\n", b_py="1\n")
    commit(repo, a_py="2\n")
    write(repo, "b_py", "3\n")
    assert [fd.path for fd in load_diff(repo)] == ["b_py"]
    assert [fd.path for fd in load_diff(repo, rev="HEAD~1")] == ["a_py", "b_py"]
    assert [fd.path for fd in load_diff(repo, rev="HEAD~1", paths=["a_py"])] == ["a_py"]
    (sub := repo / "sub").mkdir()
    assert [fd.path for fd in load_diff(sub, rev="HEAD~1", paths=["../b_py"])] == ["b_py"]


def test_bad_revisions(repo):
    commit(repo, a_py="1\n")
    with pytest.raises(InfillError, match="unknown revision 'nope'"):
        load_diff(repo, rev="nope")
    with pytest.raises(InputError, match="range"):
        load_diff(repo, rev="HEAD~1..HEAD")


# ------------------------------------------------------------- with the real engine


@pytest.mark.slow
def test_real_engine_fills_a_hunk(repo, tmp_path):
    pytest.importorskip("torch")
    import infill
    from infill.testing import make_tiny_model

    filler = infill.load(str(make_tiny_model(tmp_path / "tiny")), device="cpu")
    commit(repo, a_py="def add(a, b):\n    return a + b\n\n\nX = 1\n")
    write(repo, "a_py", "def add(a, b):\n    return a - b\n\n\nX = 1\n")
    (fd,) = load_diff(repo)
    span = hunk_span(fd, fd.hunks[0])
    result = filler.fill_spans(fd.new_text, [span], path=fd.path)
    assert result.text.startswith("def add(a, b):\n") and result.text.endswith("\n\n\nX = 1\n")
    write_fill(fd, result.text)
    assert (repo / "a_py").read_text() == result.text
