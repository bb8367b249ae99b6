"""Cheap checks of a fill (``infill.lint``): code it cuts off after a return, raise, break or
continue, words it stutters and lines it repeats; a candidate with any ranks lower and is
sampled again."""

from __future__ import annotations

from infill.fills import Candidate, SpanFill, falls_short, rank_candidates
from infill.lint import count, repeated_lines, runs, stutters, unreachable_count
from infill.markers import HOLE

FUNCTION = "def f(x):\n    y = x + 1\n{}    return y\n"


def filled(fill: str, template: str = FUNCTION) -> tuple[str, list[tuple[int, int]]]:
    start = template.index("{}")
    return template.replace("{}", fill), [(start, start + len(fill))]


def test_a_fill_that_returns_before_the_end_of_its_block_cuts_the_rest_off():
    assert unreachable_count(*filled("    return x\n"), "python") == 1
    assert unreachable_count(*filled("    raise ValueError(x)\n"), "python") == 1
    assert unreachable_count(*filled("    y = y * 2\n"), "python") == 0  # the truth-like fill
    loop = "def f(xs):\n    for x in xs:\n{}        print(x)\n"
    assert unreachable_count(*filled("        continue\n", loop), "python") == 1
    assert unreachable_count(*filled("        if x:\n            continue\n", loop), "python") == 0
    handler = "def f(x):\n    try:\n        g(x)\n    except E:\n{}        log(x)\n"
    assert unreachable_count(*filled("        raise\n", handler), "python") == 1
    case = "def f(x):\n    match x:\n        case 1:\n{}            g(x)\n"
    assert unreachable_count(*filled("            return 1\n", case), "python") == 1


def test_a_fill_written_after_its_block_has_ended_is_cut_off():
    after_return = "def f(x):\n    return x\n{}\n\ndef g():\n    pass\n"
    assert unreachable_count(*filled("    x = 2\n", after_return), "python") == 1
    assert unreachable_count(*filled("x = 2\n", after_return), "python") == 0  # module level


def test_only_code_the_fills_cut_off_counts():
    dead = "def f(x):\n    return x\n    print(x)\n\ndef g(y):\n{}    return y\n"
    assert unreachable_count(*filled("    y = 1\n", dead), "python") == 0
    assert unreachable_count(*filled("    return 2\n", dead), "python") == 1
    # Two fills: each block a fill ends early counts once, however much code follows.
    text = "def f(x):\n    return 0\n    a = 1\n    b = 2\n\nwhile x:\n    break\n    c()\n"
    first = (text.index("return"), text.index("    a"))
    second = (text.index("break"), text.index("    c"))
    assert unreachable_count(text, [first, second], "python") == 2
    assert unreachable_count(text, [first], "python") == 1


def test_raise_then_yield_is_an_idiom_not_a_fault():
    generator = "def f():\n{}    yield\n"
    assert unreachable_count(*filled("    raise StopIteration\n", generator), "python") == 0


def test_what_cannot_be_told_counts_as_nothing():
    assert unreachable_count(*filled("    return (\n"), "python") == 0  # does not parse
    assert unreachable_count("return 1;\nx = 2;\n", [(0, 9)], "javascript") == 0
    assert unreachable_count(*filled("")[:1], [], "python") == 0


def test_columns_are_characters_even_after_non_ascii_text():
    text = "def f(x):\n    é = 'ü'; return x\n    print(x)\n"
    start = text.index("return")
    assert unreachable_count(text, [(start, start + 8)], "python") == 1
    assert unreachable_count(text, [(text.index("é"), text.index(";"))], "python") == 0


def test_a_word_three_times_in_a_row_is_a_stutter():
    for fill in ["return sorted(result, i, i, i, i)", "ray.ray.ray", "x = status_status_status",
                 "# the event event event"]:
        assert stutters(fill) == 1, fill
    assert stutters("f(u, u, u) + g(v.v.v)") == 2
    # Twice is not a stutter; constants and _ repeat in real code; the separator must repeat.
    for fill in ["f(u, u)", "shape = (0, 0, 0)", "None, None, None", "_, _, _ = t",
                 "a, a.a", "myray.ray.ray", "x = x + x"]:
        assert stutters(fill) == 0, fill


def test_letters_five_times_in_a_row_inside_a_word_are_a_run():
    # What v0.3 wrote: one, two or three letters over and over inside a word.
    assert runs("y = yyyyyyyyyyyy") == ["y"]
    assert runs("node_pyioioioioioio + ConvWidthMapMapMapMapMap") == ["io", "Map"]
    assert runs("'eeeeee', 'sesesesese'") == ["e", "se"]
    # Real code: four repeats, hex literals with their suffixes, colours, escapes, hex runs of f.
    for fill in ["abababab", "aaaa", "x = 0xFFFFFFFFFFFFFFFFULL", "mask = 0xffff_ffff_ffffu64",
                 "color = '#bbbbbb'", "b'\\xffffffffff'", "key = 'ffffffffffff'", "1e5 + 3"]:
        assert runs(fill) == [], fill
    text = "def f():\n    x = yyyyyy\n"
    start = text.index("yyyyyy")
    assert count(text, [(start, start + 6)], "python") == 1  # the engine ranks it down


def test_a_line_the_fill_makes_the_same_as_its_neighbour_is_a_repeat():
    # The fill echoes the line before it, or the line after it echoes the fill.
    text, [(start, end)] = filled("    y = x + 1\n")
    assert repeated_lines(text, start, end) == [(3, "y = x + 1")]
    text, [(start, end)] = filled("    return y\n")
    assert repeated_lines(text, start, end) == [(4, "return y")]
    # Blank lines between do not hide it; indentation does not count; a fill ending mid-line
    # makes that whole line.
    text = "def f():\n    z = g(1)\n\n\n    return __\n"
    start = text.index("return")
    assert repeated_lines(text.replace("return __", "z = g(1)"), start, start + 8) == [
        (5, "z = g(1)")]
    # Two repeats inside one fill count twice; lines of punctuation or three characters do not.
    text, [(start, end)] = filled("    y = y\n    y = y\n    y = y\n")
    assert [line for line, _ in repeated_lines(text, start, end)] == [4, 5]
    for fill in ["    }\n", "    a()\n", "    y = x + 2\n", ""]:
        text, [(start, end)] = filled(fill, "def f(x):\n    a()\n    }\n{}    }\n")
        assert repeated_lines(text, start, end) == [], fill


def test_count_adds_the_checks_over_the_fills():
    text, ranges = filled("    return f(x, x, x)\n")
    assert count(text, ranges, "python") == 2
    assert count("let a = f(u, u, u);\n", [(8, 18)], "javascript") == 1
    assert count("let a = f(u, u, u);\n", [(0, 5)], "javascript") == 0  # outside the fill
    text, ranges = filled("    y = x + 1\n    return x\n")  # repeats a line and cuts off
    assert count(text, ranges, "python") == 2


def test_a_candidate_that_cuts_code_off_or_stutters_ranks_lower_and_is_sampled_again():
    def cand(fill, score, lint):
        return Candidate(fill, (SpanFill(fill, 0.5, 0, len(fill), HOLE, 1, 1),), score, 0, 0,
                         lint=lint)

    candidates = [cand("return x", -0.1, 1), cand("y = x", -1.0, 0), cand("return y", -0.2, 2)]
    assert rank_candidates(candidates, 0, code_expected=[True]) == [1, 0, 2]
    assert falls_short(candidates[0], 0, [True]) and not falls_short(candidates[1], 0, [True])
