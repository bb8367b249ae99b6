"""``syntax.undefined_names``: the names a fill reads that its file defines nowhere."""

from __future__ import annotations

import pytest

from infill.syntax import undefined_names

MODULE = '''import os.path
from collections import OrderedDict as OD

LIMIT = 3


def scale(values, *, factor=2, **options):
    total = 0
    for i, v in enumerate(values):
        total += v * factor
    try:
        pass
    except ValueError as err:
        raise RuntimeError(err)
    return [w for w in values if w], OD(), os.path.sep, LIMIT, later(), options


def later():
    return __name__
'''


def reads(fill: str, module: str = MODULE, at: str = "    return [") -> list[str] | None:
    """Insert ``fill`` as a line before ``at`` and ask what it reads that is undefined."""
    start = module.index(at)
    text = module[:start] + fill + module[start:]
    return undefined_names(text, [(start, start + len(fill))], "python")


@pytest.mark.parametrize("fill", [
    "    total = total + LIMIT\n",            # a global
    "    v = OD(os.getcwd(), factor)\n",      # imports (aliased, dotted), a keyword-only
                                          # parameter
    "    e = [err for err in options]\n",     # bound by a comprehension here, a handler elsewhere
    "    n = later() + len(values)\n",        # a function defined further down; a builtin
    "    s = fresh = 1\n",                    # names the fill itself binds
    "    q = values.dmp_list(x=1)\n",         # an attribute and a keyword argument are not names
])
def test_names_the_file_defines_are_not_flagged(fill):
    assert reads(fill) == []


def test_invented_names_are_flagged_in_reading_order():
    assert reads("    total = dmp_list(values, K) + K\n") == ["dmp_list", "K", "K"]


def test_only_names_inside_the_ranges_count():
    text = "y = x\nz = q\n"
    assert undefined_names(text, [(6, 11)], "python") == ["q"]
    assert undefined_names(text, [(0, 5), (6, 11)], "python") == ["x", "q"]
    assert undefined_names(text, [], "python") == []


def test_columns_after_non_ascii_text_are_placed_right():
    text = "s = 'héllo'; t = zz\n"
    start = text.index("zz")
    assert undefined_names(text, [(start, start + 2)], "python") == ["zz"]
    assert undefined_names(text, [(0, start)], "python") == []


@pytest.mark.parametrize("text,language", [
    ("from numpy import *\ny = zz\n", "python"),   # a star import may define anything
    ("y = (\n", "python"),                          # Python does not parse it
    ("y := zz", "go"),                              # not Python
])
def test_none_when_it_cannot_be_told(text, language):
    assert undefined_names(text, [(0, len(text))], language) is None
