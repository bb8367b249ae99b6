"""An execution-based Python evaluation set: holes in functions whose doctests test them.

    infill train exec-evalset --corpus data --out evalsets/python-exec.jsonl

Sources are the **held-out** Python files of a corpus (or ``data/``): no training run sees
them. A file qualifies when its package is importable here (the test imports the rest of the
package) and it has no ``__main__`` block. Relative imports are rewritten to absolute ones so
that the file runs as a script. For every function or method with doctest examples in its
docstring, holes are single-line simple statements of its body, laid out two ways:

- ``line``: the statement after its indentation, newline excluded (suffix starts with ``\\n``);
- ``whole-line``: the whole line from column 0, its newline included.

A record's ``test`` first binds the program's functions and classes wherever the installed
module's are bound (so examples that import them from the package test the filled code),
then runs that function's doctests against the program (``before + prefix +
fill + suffix + after``) and exits non-zero on any failure. A hole is kept only if the
original line passes **and** replacing it by ``raise`` fails: the doctests must execute the
hole's line, so a fill cannot pass by accident of never being run. Records name their source
file, package and licence (from the corpus manifest). HumanEval, MBPP and their derivatives
are never used.
"""

from __future__ import annotations

import argparse
import ast
import doctest
import importlib.util
import json
import lzma
import random
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from infill.training.corpus import split_for
from infill.training.corpus_sources import read_manifest
from infill.training.evalsets import EvalConfig, make_record

# Packages whose import alone takes seconds: every record would pay it on every run.
SKIP_PACKAGES = frozenset({"torch", "transformers"})
SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Expr, ast.Raise, ast.Assert, ast.Delete)
_RELATIVE = re.compile(r"^(\s*)from\s+(\.+)([\w.]*)\s+import\b", re.M)
TEST_TEMPLATE = """
import doctest as _dt, importlib as _il, inspect as _ins, sys as _sys
# The program stands in for the installed module: wherever the installed module's functions
# and classes are bound (the package namespace included), bind the program's instead, so
# that examples which import them from the package test the filled code.
_installed = _il.import_module({module!r})
for _k, _v in list(globals().items()):
    _old = getattr(_installed, _k, None)
    if _old is None or _old is _v or not (_ins.isfunction(_v) or _ins.isclass(_v)):
        continue
    for _m in list(_sys.modules.values()):
        if getattr(_m, _k, None) is _old:
            setattr(_m, _k, _v)
_obj = globals()[{head!r}]
for _name in {tail!r}:
    _obj = getattr(_obj, _name)
_runner = _dt.DocTestRunner(verbose=False, optionflags=_dt.ELLIPSIS | _dt.NORMALIZE_WHITESPACE)
for _t in _dt.DocTestFinder(recurse=False).find(_obj, {qualname!r}, globs=dict(globals())):
    _runner.run(_t, out=lambda _s: None)
_sys.exit(0 if _runner.tries and not _runner.failures else 1)
"""


def module_name(path: str) -> str | None:
    """``site-packages/a/b/c.py`` -> ``a.b.c``; ``stdlib/stdlib/x/y.py`` -> ``x.y``."""
    parts = path.split("/")
    if parts[0] == "site-packages":
        parts = parts[1:]
    elif parts[:2] == ["stdlib", "stdlib"]:
        parts = parts[2:]
    else:
        return None
    if not parts or not parts[-1].endswith(".py"):
        return None
    parts[-1] = parts[-1][:-3]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) if parts and all(p.isidentifier() for p in parts) else None


def absolute_imports(text: str, module: str, is_package: bool) -> str:
    """Rewrite ``from .x import y`` to ``from pkg.x import y`` for ``module``."""
    package = module.split(".") if is_package else module.split(".")[:-1]

    def repl(m: re.Match) -> str:
        level = len(m.group(2))
        base = package[: len(package) - (level - 1)] if level > 1 else package
        target = ".".join(base + ([m.group(3)] if m.group(3) else []))
        return f"{m.group(1)}from {target} import"

    return _RELATIVE.sub(repl, text)


def doctest_functions(tree: ast.Module):
    """``(qualname, node)`` of top-level functions and methods of top-level classes with doctests."""
    parser = doctest.DocTestParser()

    def has_examples(node) -> bool:
        doc = ast.get_docstring(node, clean=True)
        try:
            return bool(doc and parser.get_examples(doc))
        except ValueError:
            return False

    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and has_examples(node):
            yield node.name, node
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)) and has_examples(item):
                    yield f"{node.name}.{item.name}", item


def all_functions(tree: ast.Module):
    """``(qualname, node)`` of every top-level function and method of a top-level class."""
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node.name, node
        if isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    yield f"{node.name}.{item.name}", item


def hole_lines(func) -> list[int]:
    """1-based line numbers of single-line simple statements in ``func``'s body (not the docstring)."""
    body = func.body[1:] if ast.get_docstring(func) is not None else func.body
    lines = []
    for stmt in body:
        for node in ast.walk(stmt):
            if (isinstance(node, SIMPLE) and node.lineno == node.end_lineno
                    and not (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant))):
                lines.append(node.lineno)
    return sorted(set(lines))


def candidates_for_file(text: str, module: str | None, is_package: bool, rng: random.Random,
                        per_function: int = 3) -> list[dict]:
    """Hole candidates of one file: ``{program, start, end, kind, qualname, mutant}``.
    ``module`` None: holes in every function, with no test (``--without-tests``)."""
    if module is not None:
        text = absolute_imports(text, module, is_package)
        if "__main__" in text:
            return []
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line))
    out = []
    funcs = list(doctest_functions(tree) if module is not None else all_functions(tree))
    rng.shuffle(funcs)
    for qualname, func in funcs:
        lines = hole_lines(func)
        rng.shuffle(lines)
        for lineno in lines[:per_function]:
            begin, end = starts[lineno - 1], starts[lineno]
            line = text[begin:end]
            if not line.endswith("\n") or line.rstrip().endswith("\\") or ";" in line or "#" in line:
                continue
            indent = len(line) - len(line.lstrip())
            if rng.random() < 0.5:
                hole, kind = (begin + indent, end - 1), "line"
                mutant = "raise RuntimeError('hole')"
            else:
                hole, kind = (begin, end), "whole-line"
                mutant = line[:indent] + "raise RuntimeError('hole')\n"
            head, *tail = qualname.split(".")
            test = (TEST_TEMPLATE.format(module=module, head=head, tail=tail, qualname=qualname)
                    if module is not None else None)
            out.append({"text": text, "hole": hole, "kind": kind, "qualname": qualname, "mutant": mutant,
                        "test": test})
    return out


CHECKER = r"""
import contextlib, io, json, signal, sys
def _alarm(*_):
    raise TimeoutError
signal.signal(signal.SIGALRM, _alarm)
results = []
for job in json.load(sys.stdin):
    outcome = []
    for program in (job["original"], job["mutant"]):
        ok = False
        try:
            signal.alarm(job["timeout"])
            with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                exec(compile(program + "\n\n" + job["test"], "<candidate>", "exec"), {"__name__": "__main__"})
        except SystemExit as exc:
            ok = exc.code in (0, None)
        except BaseException:
            ok = False
        finally:
            signal.alarm(0)
        outcome.append(ok)
    results.append(outcome)
print(json.dumps(results))
"""


def check_batch(cands: list[dict], timeout: int = 10) -> list[tuple[bool, bool]]:
    """(original passes, mutant passes) for each candidate, in one subprocess (trusted sources)."""
    jobs = []
    for c in cands:
        s, e = c["hole"]
        jobs.append({"original": c["text"], "mutant": c["text"][:s] + c["mutant"] + c["text"][e:],
                     "test": c["test"], "timeout": timeout})
    with tempfile.TemporaryDirectory(prefix="infill-exec-build-") as tmp:
        try:
            proc = subprocess.run([sys.executable, "-c", CHECKER], input=json.dumps(jobs), text=True, cwd=tmp,
                                  capture_output=True, timeout=timeout * 2 * len(jobs) + 60)
            return [tuple(r) for r in json.loads(proc.stdout.strip().splitlines()[-1])]
        except (subprocess.TimeoutExpired, ValueError, IndexError):
            return [(False, True)] * len(cands)


def read_heldout_python(corpus: Path) -> list[tuple[dict, dict]]:
    """``(row, manifest entry)`` of held-out Python files, sorted by id."""
    rows_of_manifest = read_manifest(corpus)
    if rows_of_manifest is None:
        raise FileNotFoundError(f"{corpus} has no manifest.jsonl(.xz)")
    manifest = {row["id"]: row for row in rows_of_manifest}
    rows = []
    for shard in sorted(corpus.glob("shards/heldout-*.jsonl.xz")):
        with lzma.open(shard, "rt", encoding="utf-8") as fh:
            for row in map(json.loads, fh):
                if row["language"] == "python" and split_for(row["id"]) == "heldout" and row["id"] in manifest:
                    rows.append((row, manifest[row["id"]]))
    return sorted(rows, key=lambda r: r[0]["id"])


def build(corpus: Path, records: int, per_file: int, seed: int, log=print) -> list[dict]:
    rng = random.Random(f"{seed}:python-exec")
    files = read_heldout_python(corpus)
    rng.shuffle(files)
    config = EvalConfig()
    out: list[dict] = []
    for row, entry in files:
        module = module_name(entry["path"])
        if module is None or importlib.util.find_spec(module.split(".")[0]) is None:
            continue
        if module.split(".")[0] in SKIP_PACKAGES:
            continue
        cands = candidates_for_file(row["text"], module, entry["path"].endswith("__init__.py"), rng)
        if not cands:
            continue
        kept = [c for c, (ok, mutant_ok) in zip(cands, check_batch(cands)) if ok and not mutant_ok][:per_file]
        log(f"{entry['path']}: {len(cands)} candidates, {len(kept)} kept")
        for c in kept:
            text, (s, e) = c["text"], c["hole"]
            prefix, middle, suffix = make_record(text, (s, e), config)
            out.append({"id": f"python-exec:{row['id']}:{s}", "prefix": prefix, "suffix": suffix, "middle": middle,
                        "language": "python", "kind": c["kind"], "before": text[: s - len(prefix)],
                        "after": text[e + len(suffix):], "test": c["test"], "function": c["qualname"],
                        "source": entry["path"], "package": entry["package"], "licence": entry["licence"]})
        if len(out) >= records:
            break
    return verify(out[:records], log)


def build_untested(corpus: Path, records: int, per_file: int, seed: int,
                   exclude: frozenset[str] = frozenset()) -> list[dict]:
    """Records laid out like the execution set's (the whole file as ``before``/``after``),
    in any function of any held-out Python file not in ``exclude``, without a test: a
    development set for exact match and parse checks with whole-file context."""
    rng = random.Random(f"{seed}:python-statements")
    files = [(row, entry) for row, entry in read_heldout_python(corpus) if row["id"] not in exclude]
    rng.shuffle(files)
    config = EvalConfig()
    out: list[dict] = []
    for row, entry in files:
        for c in candidates_for_file(row["text"], None, False, rng)[:per_file]:
            text, (s, e) = c["text"], c["hole"]
            prefix, middle, suffix = make_record(text, (s, e), config)
            out.append({"id": f"python-statements:{row['id']}:{s}", "prefix": prefix,
                        "suffix": suffix, "middle": middle, "language": "python",
                        "kind": c["kind"], "before": text[: s - len(prefix)],
                        "after": text[e + len(suffix):], "function": c["qualname"],
                        "source": entry["path"], "package": entry["package"],
                        "licence": entry["licence"]})
        if len(out) >= records:
            break
    return out[:records]


def verify(records: list[dict], log=print) -> list[dict]:
    """Keep the records whose true middle passes under ``infill eval --execute``'s own runner."""
    from infill.evaluate import program_of, run_test

    kept = [r for r in records if run_test(program_of(r, r["middle"]), r["test"])]
    log(f"verified: {len(kept)} of {len(records)} pass with the true middle in a fresh subprocess")
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infill train exec-evalset", description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", required=True, type=Path, help="corpus directory (or data/)")
    parser.add_argument("--out", required=True, type=Path, help="the .jsonl file to write")
    parser.add_argument("--records", type=int, default=300)
    parser.add_argument("--per-file", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--without-tests", action="store_true",
                        help="holes in every function, no test: a development set with "
                             "whole-file context (exact match and parse checks only)")
    parser.add_argument("--exclude", type=Path, action="append", default=[], metavar="CORPUS",
                        help="with --without-tests: leave out the held-out files of this "
                             "corpus (or data/)")
    args = parser.parse_args(argv)
    if args.without_tests:
        from infill.training.evalsets import heldout_ids

        exclude = frozenset().union(*(heldout_ids(path) for path in args.exclude))
        records = build_untested(args.corpus, args.records, args.per_file, args.seed, exclude)
    else:
        records = build(args.corpus, args.records, args.per_file, args.seed)
    with open(args.out, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(records)} records")
    return 0


if __name__ == "__main__":
    sys.exit(main())
