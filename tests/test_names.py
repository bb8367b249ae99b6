"""``infill.names``: the names a fill reads that nothing in view binds, and those a hole must bind."""

from __future__ import annotations

import pytest

from infill.names import undefined_names

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


# --------------------------------------------------------------- scopes (names, not just text)

from infill.names import needed_names, statement_names, unbound_count, visible_names  # noqa: E402

SCOPES = '''import os

LIMIT = 3


def first(values, factor=LIMIT):
    total = 0
    for v in values:
        total += v * factor
    return total


class Box:
    size = 2

    def grow(self, by):
        return self.size + by


def second(items):
    ordered = sorted(items)
    return [x for x in ordered if x > LIMIT]
'''


def read_in(function_line: str, fill: str) -> list[str] | None:
    """Insert ``fill`` as a line after ``function_line`` and ask what it reads unbound."""
    start = SCOPES.index(function_line) + len(function_line) + 1
    text = SCOPES[:start] + fill + SCOPES[start:]
    return undefined_names(text, [(start, start + len(fill))], "python")


def test_a_name_bound_only_in_another_function_is_invented_there():
    # ``total`` is first()'s local: second() cannot read it; ``ordered`` is its own.
    assert read_in("def second(items):", "    n = total + len(ordered)\n") == ["total"]
    assert read_in("def first(values, factor=LIMIT):", "    n = total + factor\n") == []


def test_a_class_body_is_not_in_view_of_its_methods():
    assert read_in("    def grow(self, by):", "        n = size + by\n") == ["size"]
    assert read_in("class Box:", "    bigger = size * 2\n") == []


def test_comprehension_and_walrus_names_are_bound_where_python_binds_them():
    assert read_in("def second(items):", "    n = [y for y in items if (z := y)] + [z]\n") == []
    assert read_in("def second(items):", "    n = [y for y in items] + [y]\n") == ["y"]


def test_needed_names_are_the_unbound_reads_after_the_hole_in_its_function():
    text = SCOPES.replace("    ordered = sorted(items)\n", "")
    hole = text.index("    return [x for x in ordered")
    assert needed_names(text, hole, hole, "python") == ["ordered"]
    # A hole in another function cannot bind second()'s local for it.
    other = text.index("    return total")
    assert needed_names(text, other, other, "python") == []
    assert needed_names("x = (\n", 0, 0, "python") is None


def test_visible_names_at_a_placeholder():
    at = SCOPES.index("self.size + by")
    seen = visible_names(SCOPES, at, "python")
    assert {"self", "by", "first", "Box", "LIMIT", "os", "len"} <= seen
    assert not {"size", "total", "ordered"} & seen


def test_statement_names_reads_and_binds_of_one_line():
    assert statement_names("    total = total + v * factor\n") == (frozenset({"v", "factor"}),
                                                                    frozenset({"total"}))
    assert statement_names("for key, value in pairs.items():") == (frozenset({"pairs"}),
                                                                   frozenset({"key", "value"}))
    assert statement_names("x = [a for a in b if ok(a)]") == (frozenset({"b", "ok"}),
                                                              frozenset({"x"}))
    assert statement_names("foo(1, ") is None


def test_unbound_count_is_the_needed_names_a_fill_leaves_unbound():
    text = "def f(a):\n    FILL\n    return b + c + a\n"
    start, end = text.index("FILL"), text.index("FILL") + 4
    for fill, unbound in [("b, c = a, a", 0),   # binds what the return needs
                          ("c = a", 1),         # leaves b unbound
                          ("d = q", 2)]:        # binds neither (q is invented, not counted here)
        filled = text[:start] + fill + text[end:]
        assert unbound_count(filled, [(start, start + len(fill))], [("b", "c")], "python") == unbound
    assert unbound_count("b = (", [(0, 1)], [("b",)], "python") == 0
    assert unbound_count(text, [(start, end)], [()], "python") == 0


# ---------------------------------------------------- a function that should return a value

from infill.names import lacks_return, needs_return  # noqa: E402

DOUBLE = '''def double(a):
    """Twice a.

    >>> double(2)
    4
    """
    b = a * 2
    __FILL__
'''


@pytest.mark.parametrize("source, expected", [
    (DOUBLE, True),                                                     # its doctest shows a value
    (DOUBLE.replace("    __FILL__\n", "    __FILL__\n    return b\n"), False),  # returns elsewhere
    (DOUBLE.replace("    b = a * 2\n    __FILL__\n", "    __FILL__\n    b = a * 2\n"), False),
    ("def g(a) -> int:\n    b = 1\n    __FILL__\n", True),                # annotated
    ("def g(a) -> None:\n    b = 1\n    __FILL__\n", False),
    ("def g(a):\n    b = 1\n    __FILL__\n", False),                      # promises nothing
    ('def g(a):\n    """:returns: the size."""\n    __FILL__\n', True),
    ("def g(a) -> int:\n    def inner():\n        return 1\n    __FILL__\n", True),  # not its own
    ("def g(a) -> int:\n    yield a\n    __FILL__\n", False),             # a generator
])
def test_needs_return_when_a_function_promises_a_value_and_the_hole_ends_it(source, expected):
    assert needs_return(source, source.index("__FILL__"), "python") is expected


def test_lacks_return_looks_at_the_function_around_a_position():
    text = "def f(a) -> int:\n    b = 1\n    return b\n\ndef g():\n    c = 2\n"
    assert not lacks_return(text, text.index("b = 1"), "python")
    assert lacks_return(text, text.index("c = 2"), "python")
    assert not lacks_return("x = 1\n", 0, "python")  # no function around
