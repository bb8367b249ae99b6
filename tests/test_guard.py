"""The quality guard (issue 12): a fill that parses worse than the marker, or is blank where
code is needed, is not applied by ``fill`` or the hook; the marker stays and the reason is
printed. Crafted fills through a fake filler, and real fills from the tiny test model."""

from __future__ import annotations

import json
import subprocess
from types import SimpleNamespace

import pytest

import infill.fill_cmd as fill_cmd
from infill.cli import main
from infill.guard import guard_fills, keep_refused_markers
from infill.gitops.hook import run_hook
from infill.markers import MarkerSyntax, parse_markers, splice


class CraftedFiller:
    """Fills the i-th span with ``fills[i]`` (cycling), like the engine reports it."""

    def __init__(self, *fills):
        self.fills = fills

    def fill_spans(self, text, spans, language=None, seed=0, *, path=None, **options):
        fills = [self.fills[i % len(self.fills)] for i in range(len(spans))]
        lang = "python" if (path or "").endswith(".py") else "rust"
        return SimpleNamespace(
            text=splice(text, spans, fills), trajectory=[], language=lang, forward_passes=1,
            elapsed=0.0, score=0.0, parse_errors=None, candidates=(),
            spans=tuple(SimpleNamespace(text=f, line=s.line, kind=s.kind, tokens=1, confidence=1.0)
                        for f, s in zip(fills, spans)))

    def fill_text(self, text, language=None, seed=0, *, path=None, syntax=None, **options):
        marked = parse_markers(text, syntax or MarkerSyntax(), path)
        return self.fill_spans(marked.text, marked.spans, path=path)


def use(monkeypatch, filler):
    monkeypatch.setattr(fill_cmd, "load_filler", lambda settings, trust=False: filler)


@pytest.mark.parametrize("language, source, fill, reason", [
    ("python", "def add(a, b):\n    return __FILL__\n", "", "empty"),
    ("python", "def add(a, b):\n    return __FILL__\n", "a +", "does not parse"),
    ("rust", "fn main() {\n    assert_eq!(max(1, 2), __FILL__);\n}\n", "", "empty"),
    ("rust", "fn main() {\n    let x = __FILL__;\n}\n", "1 +", "does not parse"),
    # A body left blank parses in tree-sitter-python, but not in Python.
    ("python", "def add(a, b):\n    __FILL__\n", "", "does not parse"),
    ("python", "def add(a, b):\n    __FILL__\nx = 1\n", "# later", "does not parse"),
    # Indented deeper than its block: tree-sitter-python accepts it, Python does not.
    ("python", "def add(a, b):\n    __FILL__\n    return c\n", "    c = a + b", "does not parse"),
])
def test_bad_fills_are_refused(language, source, fill, reason):
    marked = parse_markers(source)
    refusals = guard_fills(marked.text, marked.spans, [fill], language)
    assert len(refusals) == 1 and reason in refusals[0].reason
    assert refusals[0].line == 2


@pytest.mark.parametrize("language, source, fill", [
    ("python", "def add(a, b):\n    return __FILL__\n", "a + b"),
    ("python", "x = 1\n__FILL__\ny = 2\n", ""),             # a statement of its own: may be empty
    ("python", "def add(a, b):\n    __FILL__\n", "return a + b"),
    ("python", "def f():\n    # body\n    __FILL__\n", "pass"),
    ("python", "s = 'a__FILL__b'\n", ""),                  # inside a string
    ("python", "x = (1 +\n__FILL__\n", "2"),               # no worse than the already-broken file
    ("rust", "fn main() {\n    assert_eq!(max(1, 2), __FILL__);\n}\n", "2"),
    ("markdown", "# Title\n\n__FILL__\n", ""),             # no grammar: never refused
])
def test_good_fills_pass(language, source, fill):
    marked = parse_markers(source)
    assert guard_fills(marked.text, marked.spans, [fill], language) == []


def test_only_the_bad_span_keeps_its_marker():
    source = "a = __FILL__\nb = __FILL_1__\n# >>> infill strength=0.5\nc = 3\n# <<< infill\n"
    marked = parse_markers(source)
    fills = ["1", "(", "c = 4\n"]
    refusals = guard_fills(marked.text, marked.spans, fills, "python")
    assert [r.index for r in refusals] == [1]
    text = keep_refused_markers(marked.text, marked.spans, fills, refusals, MarkerSyntax(), "python")
    assert text == "a = 1\nb = __FILL_1__\nc = 4\n"


def test_fill_write_keeps_the_marker_and_exits_1(tmp_path, monkeypatch, capsys):
    use(monkeypatch, CraftedFiller(""))
    f = tmp_path / "a.py"
    f.write_text("def add(a, b):\n    return __FILL__\n")
    code = main(["fill", "--write", str(f)])
    err = capsys.readouterr().err
    assert code == 1
    assert f"{f}:2: the fill is empty" in err
    assert f.read_text() == "def add(a, b):\n    return __FILL__\n"


def test_no_guard_flag_and_setting_turn_it_off(tmp_path, monkeypatch, capsys):
    use(monkeypatch, CraftedFiller(""))
    f = tmp_path / "a.py"
    f.write_text("def add(a, b):\n    return __FILL__\n")
    assert main(["fill", "--write", "--no-guard", str(f)]) == 0
    assert f.read_text() == "def add(a, b):\n    return \n"
    f.write_text("def add(a, b):\n    return __FILL__\n")
    (tmp_path / "pyproject.toml").write_text("[tool.infill]\nguard = false\n")
    assert main(["fill", "--write", str(f)]) == 0
    assert "__FILL__" not in f.read_text()


def test_json_reports_the_refusal(tmp_path, monkeypatch, capsys):
    use(monkeypatch, CraftedFiller("a +"))
    f = tmp_path / "a.py"
    f.write_text("def add(a, b):\n    return __FILL__\n")
    code = main(["fill", "--json", str(f)])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    entry = report["files"][0]
    assert entry["refused"][0]["line"] == 2 and "does not parse" in entry["refused"][0]["reason"]
    assert "__FILL__" in entry["text"]


def test_real_fills_from_the_tiny_model_never_write_a_worse_parse(tmp_path, tiny_model_dir, capsys):
    """The tiny model writes noise: whatever it writes, the file never parses worse."""
    from infill.syntax import count_errors

    sources = {f"f{i}.py": f"def f{i}(a, b):\n    return __FILL__\n" for i in range(3)}
    for name, text in sources.items():
        (tmp_path / name).write_text(text)
    code = main(["fill", "--write", *(str(tmp_path / n) for n in sources),
                 "--model", str(tiny_model_dir)])
    err = capsys.readouterr().err
    assert code in (0, 1), err
    for name in sources:
        text = (tmp_path / name).read_text()
        if "__FILL__" in text:
            assert f"{name}:2:" in err  # kept back, and said why
        else:
            assert count_errors(text, "python") == 0
    assert (code == 1) == ("marker kept" in err)


def staged_repo(git_env, files: dict[str, str]):
    """A new repository under ``git_env`` with ``files`` written and staged."""
    repo = git_env / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    for name, text in files.items():
        (repo / name).write_text(text)
    subprocess.run(["git", "add", *files], cwd=repo, check=True)
    return repo


def test_hook_keeps_the_marker_of_a_refused_fill(git_env):
    repo = staged_repo(git_env, {"a.py": "def add(a, b):\n    return __FILL__\nx = __FILL__\n"})

    class Hook(CraftedFiller):
        pass

    lines: list[str] = []
    code = run_hook(filler_factory=lambda: Hook("", "1"), repo_dir=repo, out=lines.append,
                    environ={})
    assert code == 1
    assert (repo / "a.py").read_text() == "def add(a, b):\n    return __FILL__\nx = 1\n"
    assert any(line.startswith("a.py:2: the fill is empty") for line in lines), lines


# ------------------------------- fills written with a caution (names not in view, lint)


def parsed(source: str):
    marked = parse_markers(source)
    return marked.text, marked.spans


def test_caution_fills_names_what_a_python_fill_reads_that_nothing_binds():
    from infill.guard import caution_fills

    text, spans = parsed("def add(a, b):\n    return __FILL__\n\nz = __FILL__\n")
    cautions = caution_fills(text, spans, ["a + total + total", "add(1, 2)"], "python")
    assert [(c.index, c.line) for c in cautions] == [(0, 2)]
    assert "`total`, which nothing in view binds" in cautions[0].reason
    assert caution_fills(text, spans, ["a + b", "add(1, 2)"], "python") == []
    # A local of another function is not in view here; other languages get no caution.
    text, spans = parsed("def f():\n    n = 1\n\ndef g():\n    return __FILL__\n")
    assert [c.line for c in caution_fills(text, spans, ["n"], "python")] == [5]
    text, spans = parsed("fn main() {\n    let x = __FILL__;\n}\n")
    assert caution_fills(text, spans, ["total"], "rust") == []


def test_caution_fills_says_when_a_fill_cuts_code_off_stutters_or_repeats_a_line():
    from infill.guard import caution_fills

    text, spans = parsed("def f(x):\n    y = x\n    __FILL__\n    return y\n")
    (cut,) = caution_fills(text, spans, ["return x"], "python")
    assert (cut.index, cut.line) == (0, 3)
    assert cut.reason == ("the fill's `return` leaves the code after it (line 4) unreachable; "
                          "check it")
    assert caution_fills(text, spans, ["y += 1"], "python") == []
    text, spans = parsed("const a = __FILL__;\n")
    (stutter,) = caution_fills(text, spans, ["f(u, u, u)"], "javascript")
    assert stutter.reason == "the fill repeats `u` three or more times in a row; check it"
    assert caution_fills(text, spans, ["f(u, v, u)"], "javascript") == []
    (run,) = caution_fills(text, spans, ["sesesesese"], "javascript")
    assert run.reason == "the fill repeats `se` five or more times inside a word; check it"
    text, spans = parsed("let a = f(u);\n__FILL__\nlet b = 2;\n")
    (echo,) = caution_fills(text, spans, ["let a = f(u);"], "javascript")
    assert (echo.line, echo.reason) == (2, "the fill makes line 2 repeat the line before it "
                                           "(`let a = f(u);`); check it")


def test_fill_writes_a_fill_with_a_caution_and_says_so(tmp_path, monkeypatch, capsys):
    use(monkeypatch, CraftedFiller("a + total"))
    f = tmp_path / "a.py"
    f.write_text("def add(a, b):\n    return __FILL__\n")
    assert main(["fill", "--write", str(f)]) == 0  # written: a caution is not a refusal
    assert f.read_text() == "def add(a, b):\n    return a + total\n"
    err = capsys.readouterr().err
    assert f"{f}:2: note: the fill reads `total`, which nothing in view binds" in err
    f.write_text("def add(a, b):\n    return __FILL__\n")
    assert main(["fill", "--json", str(f)]) == 0
    entry = json.loads(capsys.readouterr().out)["files"][0]
    assert entry["refused"] == [] and entry["cautions"][0]["line"] == 2
    assert "`total`" in entry["cautions"][0]["reason"]


def test_hook_writes_a_fill_with_a_caution_and_says_so(git_env):
    repo = staged_repo(git_env, {"a.py": "def add(a, b):\n    return __FILL__\n"})
    lines: list[str] = []
    code = run_hook(filler_factory=lambda: CraftedFiller("a + total"), repo_dir=repo,
                    out=lines.append, environ={})
    assert code == 1  # filled: the user re-stages, as for any fill
    assert (repo / "a.py").read_text() == "def add(a, b):\n    return a + total\n"
    assert any(line.startswith("a.py:2: note: the fill reads `total`") for line in lines), lines


# ----------------------------------------------------- other fills the user should not get


def test_hook_does_not_fill_the_marker_definitions_in_pyproject(git_env):
    pyproject = '[tool.infill]\nhole = "@@FILL@@"\nregion-open = "BEGIN-INFILL"\n'
    repo = staged_repo(git_env, {"pyproject.toml": pyproject, "a.py": "x = @@FILL@@\n"})
    lines: list[str] = []
    code = run_hook(filler_factory=lambda: CraftedFiller("1"), repo_dir=repo,
                    out=lines.append, environ={})
    assert code == 1
    assert (repo / "pyproject.toml").read_text() == pyproject
    assert (repo / "a.py").read_text() == "x = 1\n"
    assert not any("pyproject" in line for line in lines), lines


def test_unstaged_edit_next_to_a_hole_gets_the_same_fill(git_env):
    repo = git_env / "repo"
    repo.mkdir()
    run = lambda *a: subprocess.run(["git", *a], cwd=repo, check=True, capture_output=True)  # noqa: E731
    run("init", "-q", "-b", "main")
    (repo / "a.py").write_text("def f():\n    pass\n")
    run("add", "a.py")
    run("commit", "-q", "-m", "one")
    staged = "def f():\n    y = 2\n    return __FILL__\n"
    (repo / "a.py").write_text(staged)
    run("add", "a.py")
    (repo / "a.py").write_text(staged.replace("y = 2", "y = 3  # my unstaged edit"))
    lines: list[str] = []
    code = run_hook(filler_factory=lambda: CraftedFiller("y"), repo_dir=repo,
                    out=lines.append, environ={})
    assert code == 1
    assert (repo / "a.py").read_text() == "def f():\n    y = 3  # my unstaged edit\n    return y\n"
    assert any("same fills" in line for line in lines), lines
    assert list((repo / ".git" / "infill" / "patches").glob("*")) == []


def test_a_repair_rewrite_shows_null_in_its_spare_slots(tiny_filler):
    """strength < 1: the slots past the old tokens hold null (judged, kept unless unlikely),
    not masks that the model would fill with junk after the correct lines."""
    from infill.markers import REWRITE, Span

    text = "def f(a):\n    return a\n"
    span = Span(10, len(text), REWRITE, strength=0.5, block=True, line=2)
    engine = tiny_filler
    budget = engine._budget(text, span, None)
    rows = engine._rows(text, [span], [budget], "python", [0])
    group = rows[0].canvas.groups[0]
    old = engine.denoiser.codec.encode(text[10:])
    assert len(group.prefill) == group.length == budget > len(old)
    assert list(group.prefill[:len(old)]) == old
    assert set(group.prefill[len(old):]) == {engine.denoiser.null_id}
    result = engine.fill_spans(text, [span], seed=0)
    assert result.text.count("\n") >= 1


def test_a_repair_rewrite_keeps_its_line_layout(tiny_filler):
    """strength < 1: newlines and indentation are shown and never re-masked."""
    from infill.markers import REWRITE, Span

    text = "def f(a):\n    x = a\n    return x\n"
    start = text.index("    x")
    span = Span(start, len(text), REWRITE, strength=0.5, block=True, line=2)
    engine = tiny_filler
    rows = engine._rows(text, [span], [engine._budget(text, span, None)], "python", [0])
    group = rows[0].canvas.groups[0]
    pieces = [engine.denoiser.codec.piece(t) for t in group.prefill]
    kept = {p - group.offset for _, p in engine._layout_positions(rows)}
    assert kept, pieces
    for j in kept:
        assert not pieces[j].strip()
    assert any("\n" in pieces[j] for j in kept)
    old_text = "".join(pieces[:len(engine.denoiser.codec.encode(text[start:]))])
    assert old_text == text[start:]
    result = engine.fill_spans(text, [span], seed=0)
    filled = result.text[start:]
    assert filled.startswith("    ") or filled.startswith(" ")  # the first line's indentation stays
