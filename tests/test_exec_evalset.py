"""The execution-based evaluation set builder (infill/training/exec_evalset.py)."""

from __future__ import annotations

import random

from infill.evaluate import program_of, run_test
from infill.training.exec_evalset import (absolute_imports, candidates_for_file, check_batch,
                                          module_name)

TOY = '''import math


def hypot2(a, b):
    """The squared length.

    >>> hypot2(3, 4)
    25
    """
    total = a * a + b * b
    return total


def untested(x):
    y = x + 1
    return y
'''


def test_module_names_and_absolute_imports():
    assert module_name("site-packages/sympy/sets/contains.py") == "sympy.sets.contains"
    assert module_name("site-packages/pkg/__init__.py") == "pkg"
    assert module_name("stdlib/stdlib/json/decoder.py") == "json.decoder"
    assert module_name("npm/x/index.js") is None
    text = "from .core import a\nfrom ..util import b\nfrom . import c\n"
    assert absolute_imports(text, "pkg.sub.mod", False) == (
        "from pkg.sub.core import a\nfrom pkg.util import b\nfrom pkg.sub import c\n")
    assert absolute_imports("from .x import y\n", "pkg", True) == "from pkg.x import y\n"


def test_holes_come_only_from_functions_with_doctests_and_must_be_exercised():
    cands = candidates_for_file(TOY, "json", False, random.Random(0), per_function=5)
    assert cands and all(c["qualname"] == "hypot2" for c in cands)
    results = check_batch(cands)
    # The original passes its doctest; replacing the hole's line by `raise` fails it.
    assert all(ok and not mutant_ok for ok, mutant_ok in results)
    for c in cands:
        s, e = c["hole"]
        record = {"prefix": c["text"][:s], "suffix": c["text"][e:], "middle": c["text"][s:e],
                  "test": c["test"]}
        assert run_test(program_of(record, record["middle"]), record["test"])
        assert not run_test(program_of(record, ""), record["test"])  # both lines are needed


def test_without_tests_holes_come_from_every_function_and_carry_the_whole_file(tmp_path):
    import json
    import lzma

    from infill.training.exec_evalset import build_untested

    cands = candidates_for_file(TOY, None, False, random.Random(0), per_function=5)
    assert {c["qualname"] for c in cands} == {"hypot2", "untested"}
    assert all(c["test"] is None for c in cands)
    # A corpus of two held-out files (ids on the held-out side of the split), one of them
    # excluded: it belongs to the evaluation sets.
    from infill.training.corpus import split_for

    kept, dropped = "0" * 16, "0" * 7 + "1" + "0" * 8
    assert split_for(kept) == split_for(dropped) == "heldout"
    (tmp_path / "shards").mkdir()
    rows = [{"id": kept, "language": "python", "text": TOY},
            {"id": dropped, "language": "python", "text": TOY.replace("hypot2", "other")}]
    with lzma.open(tmp_path / "shards" / "heldout-000.jsonl.xz", "wt") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in rows)
    with open(tmp_path / "manifest.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps({"id": r["id"], "path": f"site-packages/p/m{r['id'][7]}.py",
                                 "package": "p", "licence": "MIT", "split": "heldout"}) + "\n")
    records = build_untested(tmp_path, 50, 10, 0, exclude=frozenset({dropped}))
    assert len(records) == len(cands)
    for r in records:
        assert r["id"].startswith(f"python-statements:{kept}:")
        assert "test" not in r and r["licence"] == "MIT" and r["package"] == "p"
        assert r["before"] + r["prefix"] + r["middle"] + r["suffix"] + r["after"] == TOY
