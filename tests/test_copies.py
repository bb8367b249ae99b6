"""Copy candidates (issue 9): a one-line hole's fill taken from another line of its file,
scored by the model beside the model's own fill (``infill.copies``, engine step 7)."""

from __future__ import annotations

import pytest

from infill.copies import copy_texts
from infill.fills import is_whole_line
from infill.markers import HOLE, REWRITE, Span
from infill.options import FillOptions

MODULE = (
    "def get(self, key):\n"
    "    _mapping = self._mapping\n"
    "    return _mapping[key]\n"
    "\n"
    "def pop(self, key):\n"
    "    _mapping = self._mapping\n"
    "\n"
    "    return value\n"
)


def hole_at(text: str, marker: str = "@") -> tuple[str, Span]:
    at = text.index(marker)
    return text[:at] + text[at + len(marker):], Span(at, at, HOLE)


def test_a_whole_line_hole_takes_the_other_lines_at_its_indentation_with_their_newline():
    text, hole = hole_at(MODULE.replace("    return value\n", "@    return value\n"))
    assert is_whole_line(text, hole)
    copies = copy_texts(text, hole, whole_line=True)
    # Every other line once, in order of first appearance, indented like the next line.
    assert copies == ["    def get(self, key):\n", "    _mapping = self._mapping\n",
                      "    return _mapping[key]\n", "    def pop(self, key):\n",
                      "    return value\n"]


def test_a_hole_inside_a_line_takes_the_middles_of_lines_shaped_like_it():
    text, hole = hole_at(MODULE.replace("    return value\n", "    return _mapping[@]\n"))
    assert copy_texts(text, hole, whole_line=False) == ["key"]
    text, hole = hole_at(MODULE.replace("    return value\n", "    @\n"))
    # After the indentation and before the newline: whole statements, without either.
    assert "_mapping = self._mapping" in copy_texts(text, hole, whole_line=False)
    assert all("\n" not in c and not c.startswith(" ") for c in copy_texts(text, hole, False))
    text, hole = hole_at("y = compute(1, 2)\nx = compute(3)\n    y = compute(@)\nz = y\n")
    assert copy_texts(text, hole, whole_line=False) == ["1, 2"]  # the whole line's shape


def test_the_hole_s_own_line_is_never_copied():
    text, hole = hole_at("value = 1\nvalue = @\n")
    assert copy_texts(text, hole, whole_line=False) == ["1"]
    text, hole = hole_at("total = 0\ntotal += 1@\n")
    assert copy_texts(text, hole, whole_line=False) == []


def test_a_whole_line_hole_that_is_a_block_s_body_is_indented_one_level_in():
    text, hole = hole_at("x = 1\nif ready:\n@print(x)\n")
    assert copy_texts(text, hole, whole_line=True) == ["    x = 1\n", "    if ready:\n",
                                                        "    print(x)\n"]
    text, hole = hole_at("fn f() {\n\tlet a = 1;\n}\nfn g() {\n@}\n")
    assert "\tlet a = 1;\n" in copy_texts(text, hole, whole_line=True)  # the text's tabs


def test_rewrites_multi_line_caps_and_non_empty_spans_get_no_copies():
    text = "a = 1\nb = 2\n"
    assert copy_texts(text, Span(6, 11, REWRITE), whole_line=False) == []
    assert copy_texts(text, Span(6, 6, HOLE, max_lines=3), whole_line=True) == []
    assert copy_texts(text, Span(6, 6, HOLE, max_lines=1), whole_line=True) == ["a = 1\n",
                                                                                "b = 2\n"]


# -- the engine ---------------------------------------------------------------------------


@pytest.fixture
def mlm_filler(tiny_model_dir):
    import infill

    return infill.load(str(tiny_model_dir), device="cpu", backend="hf-mlm")


TEXT = "def f(x):\n    y = x + 1\n    return y\n\ndef g(x):\n    y = x * 2\n    print(y)\n"
AT = TEXT.index("    print(y)")  # a whole-line hole before ``print(y)``


def test_a_likelier_copy_replaces_the_fill_and_ends_the_trajectory(mlm_filler, monkeypatch):
    from infill.engine import Filler

    hole = Span(AT, AT, HOLE)
    assert is_whole_line(TEXT, hole)
    plain = mlm_filler.fill_spans(TEXT, [hole], "python", options=FillOptions(copies=0))

    def likelihoods(self, text, span, budget, lang, texts, shortlist, first=()):
        wanted = self.denoiser.codec.encode("    return y\n")
        return [-50.0] + [-1.0 if t == wanted else -100.0 for t in texts[1:]]

    monkeypatch.setattr(Filler, "_likelihoods", likelihoods)
    frames = []
    copied = mlm_filler.fill_spans(TEXT, [hole], "python", options=FillOptions(copies=4),
                                   on_frame=frames.append)
    assert copied.spans[0].text == "    return y\n"
    assert copied.text == TEXT[:AT] + "    return y\n" + TEXT[AT:]
    assert copied.forward_passes == plain.forward_passes + 5
    assert plain.text in [c.text for c in copied.candidates]  # the model's own fill: kept
    # The animation ends on the copy: live, and in the trajectory the result carries.
    assert frames[-1].span_text(0) == "    return y\n"
    assert copied.trajectory[-1] == frames[-1]
    assert copied.trajectory[-1].step == copied.trajectory[-2].step + 1


def test_a_copy_is_not_taken_when_the_fill_is_likelier_or_the_copy_breaks_the_parse(
        mlm_filler, monkeypatch):
    from infill.engine import Filler

    hole = Span(AT, AT, HOLE)
    plain = mlm_filler.fill_spans(TEXT, [hole], "python", options=FillOptions(copies=0))

    def favouring(line, own):
        def likelihoods(self, text, span, budget, lang, texts, shortlist, first=()):
            wanted = self.denoiser.codec.encode(line)
            return [own] + [-1.0 if t == wanted else -100.0 for t in texts[1:]]
        return likelihoods

    monkeypatch.setattr(Filler, "_likelihoods", favouring("    return y\n", -0.5))
    # The fill is likelier: it stays, even where it stands worse than the copy would (a
    # copy must win on the model's score before its standing is compared).
    assert mlm_filler.fill_spans(TEXT, [hole], "python",
                                 options=FillOptions(copies=4)).text == plain.text
    from infill import syntax

    # A copy that parses worse than the fill is never taken.

    monkeypatch.setattr(syntax, "count_errors",
                        lambda text, lang: 5 if "    def g(x):\n    print" in text else 0)
    monkeypatch.setattr(Filler, "_likelihoods", favouring("    def g(x):\n", -50.0))
    result = mlm_filler.fill_spans(TEXT, [hole], "python", options=FillOptions(copies=4))
    assert result.spans[0].text == plain.spans[0].text


def test_copies_stay_within_the_steps_cap(mlm_filler, monkeypatch):
    from infill.engine import Filler

    hole = Span(AT, AT, HOLE)
    plain = mlm_filler.fill_spans(TEXT, [hole], "python", options=FillOptions(copies=0))
    monkeypatch.setattr(Filler, "_likelihoods", lambda self, text, span, budget, lang, texts,
                        shortlist, first=(): [-50.0] + [-1.0] * (len(texts) - 1))
    capped = mlm_filler.fill_spans(TEXT, [hole], "python",
                                   options=FillOptions(copies=4, steps=plain.forward_passes + 4))
    assert capped.text == plain.text and capped.forward_passes == plain.forward_passes
    roomy = mlm_filler.fill_spans(TEXT, [hole], "python",
                                  options=FillOptions(copies=4, steps=plain.forward_passes + 5))
    assert roomy.text != plain.text and roomy.forward_passes == plain.forward_passes + 5


@pytest.mark.parametrize("backend", ["house", "hf-mlm"])  # with and without the context cache
def test_copies_are_scored_each_on_its_own_and_only_the_shortlist(tiny_model_dir, backend):
    import infill

    filler = infill.load(str(tiny_model_dir), device="cpu", backend=backend)
    assert hasattr(filler.denoiser, "logits_active") == (backend == "house")
    codec = filler.denoiser.codec
    text, hole = TEXT, Span(AT, AT, HOLE)
    texts = [codec.encode(t) for t in ("    return y\n", "    y = x + 1\n", "    return x\n",
                                       "    def f(x):\n", "x" * 400)]
    scores = filler._likelihoods(text, hole, 12, "python", texts, shortlist=2)
    assert scores[0] is not None and scores[-1] is None  # the fill; longer than the budget
    assert sum(s is not None for s in scores) == 3       # the fill and a shortlist of two
    assert all(s < 0 for s in scores if s is not None)
    # A sequence's score does not depend on the others scored beside it.
    alone = filler._likelihoods(text, hole, 12, "python", texts[:1], shortlist=2)
    assert alone[0] == pytest.approx(scores[0], abs=1e-4)
    # Nothing fits the slots: nothing is scored, and no pass runs on an empty batch.
    assert filler._likelihoods(text, hole, 12, "python", texts[-1:] * 2, shortlist=2) == [None,
                                                                                         None]


def test_copies_default_to_the_model_s_recommendation():
    assert FillOptions().copy_count({"copies": 8}) == 8
    assert FillOptions().copy_count({}) == 0
    assert FillOptions(copies=0).copy_count({"copies": 8}) == 0


def test_a_statement_hole_takes_only_lines_that_carry_code():
    text, hole = hole_at('def f(x):\n    """Doc."""\n    # note\n    g(x\n    )\n    @\n')
    assert copy_texts(text, hole, whole_line=False) == ["def f(x):", '"""Doc."""', "g(x"]
    # Inside a line, the rest of a line may be punctuation alone: ``)`` closes ``g(x``.
    text, hole = hole_at("z = g(x)\nprint(z)\nz = g(x@\n")
    assert copy_texts(text, hole, whole_line=False) == [")"]


def test_replacing_one_fill_moves_the_fills_after_it():
    from infill.fills import Candidate, Faults, SpanFill, replace_fill

    text = "a = 1\nb = 22\nc = 3\n"  # fills "1" (4-5) and "22" (10-12)
    spans = (SpanFill("1", 0.5, 4, 5, HOLE, 1, 1), SpanFill("22", 0.5, 10, 12, HOLE, 2, 1))
    before = Candidate(text, spans, -1.0, 0)
    after = replace_fill(before, 0, "100", -0.5, lambda t: 0,
                         lambda t, ranges: Faults(undefined=len(ranges)))
    assert after.text == "a = 100\nb = 22\nc = 3\n"
    assert [(f.text, after.text[f.start:f.end]) for f in after.spans] == [("100", "100"),
                                                                           ("22", "22")]
    assert after.score == -0.5 and after.undefined == 2
    last = replace_fill(before, 1, "", -0.5, lambda t: None)
    assert last.text == "a = 1\nb = \nc = 3\n" and last.spans[0] == spans[0]


def test_comments_are_told_from_directives_and_huge_files_look_near_the_hole(monkeypatch):
    import infill.copies as copies

    text, hole = hole_at("#include <stdio.h>\n# note\n#[derive(Debug)]\n// c\n * doc\n"
                         "*args,\n@x = 1\n")
    assert copy_texts(text, hole, whole_line=True) == ["#include <stdio.h>\n",
                                                       "#[derive(Debug)]\n", "*args,\n",
                                                       "x = 1\n"]
    monkeypatch.setattr(copies, "MAX_LINES", 4)
    lines = [f"v{i} = {i}" for i in range(10)]
    text, hole = hole_at("\n".join(lines[:5]) + "\n@" + "\n".join(lines[5:]) + "\n")
    assert copy_texts(text, hole, whole_line=True) == ["v3 = 3\n", "v4 = 4\n", "v5 = 5\n",
                                                       "v6 = 6\n"]


def test_a_cancelled_fill_stops_before_scoring_copies(mlm_filler, monkeypatch):
    import threading

    from infill.engine import Filler
    from infill.errors import Cancelled

    cancel = threading.Event()

    def likelihoods(self, text, span, budget, lang, texts, shortlist, first=()):
        raise AssertionError("copies scored after the fill was cancelled")

    monkeypatch.setattr(Filler, "_likelihoods", likelihoods)
    real = Filler._copy_fills

    def cancelled_then_copies(self, *args, **kwargs):
        cancel.set()  # the user cancels as the sampling ends
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Filler, "_copy_fills", cancelled_then_copies)
    with pytest.raises(Cancelled):
        mlm_filler.fill_spans(TEXT, [Span(AT, AT, HOLE)], "python",
                              options=FillOptions(copies=4), cancel=cancel)


def test_copies_that_bind_what_the_code_after_needs_go_first_and_out_of_view_ones_never(
        mlm_filler, monkeypatch):
    from infill.engine import Filler

    # pop() reads ``value``, which nothing binds: the hole should bind it. get()'s
    # ``result = _mapping[key]`` reads ``key`` (in view: pop's parameter) and binds
    # ``result``; ``total = count + 1`` reads ``count``, which nothing in pop() sees.
    text, hole = hole_at(
        "def get(self, key):\n"
        "    _mapping = self._mapping\n"
        "    count = len(_mapping)\n"
        "    total = count + 1\n"
        "    result = _mapping[key]\n"
        "    value = _mapping.get(key)\n"
        "    return result, total, value\n"
        "\n"
        "def pop(self, key):\n"
        "    _mapping = self._mapping\n"
        "@    return value\n")
    seen = {}

    def likelihoods(self, text, span, budget, lang, texts, shortlist, first=()):
        codec = self.denoiser.codec
        seen["offered"] = [codec.decode(t) for t in texts[1:]]
        seen["first"] = [codec.decode(texts[k]) for k in first]
        # The model likes ``result = ...`` best; the fill itself least.
        return [-60.0] + [-1.0 if codec.decode(t).strip().startswith("result") else -50.0
                          for t in texts[1:]]

    monkeypatch.setattr(Filler, "_likelihoods", likelihoods)
    result = mlm_filler.fill_spans(text, [hole], "python", options=FillOptions(copies=4))
    assert "    total = count + 1\n" not in seen["offered"]
    assert "    result = _mapping[key]\n" in seen["offered"]
    assert seen["first"] == ["    value = _mapping.get(key)\n"]
    # ``result = ...`` is likelier but leaves ``value`` unbound: the binding copy is kept.
    assert result.spans[0].text == "    value = _mapping.get(key)\n"


NEEDS_TOTAL = "def f(x):\n    y = x + 1\n@    return total + y\n"


def fake_sampling(monkeypatch, own: str, binding: str, marker: str = "    total =\n"):
    """The engine's sampling runs, with their fills replaced: ``own`` for the hole itself,
    ``binding`` where the model is asked for the rest of a line (``marker``: the text has
    that line). Returns the texts of the binding runs, and (text, passes) of every run."""
    import dataclasses

    from infill.engine import Filler
    from infill.fills import Fill

    real, asked, every = Filler._sample, [], []

    def sample(self, text, *args, **kwargs):
        run = real(self, text, *args, **kwargs)
        every.append((text, run.passes))
        if marker not in text:
            return dataclasses.replace(run, fills=[[Fill(own, 0.5, -0.1, 4, 4, False)]])
        asked.append(text)
        return dataclasses.replace(run, fills=[[Fill(binding, 0.2, -3.0, 3, 3, False)]])

    monkeypatch.setattr(Filler, "_sample", sample)
    return asked, every


def test_a_hole_after_which_code_reads_an_unbound_name_gets_a_fill_that_binds_it(
        mlm_filler, monkeypatch):
    text, hole = hole_at(NEEDS_TOTAL)
    asked, every = fake_sampling(monkeypatch, "    print(y)\n", "x * 2")
    frames = []
    result = mlm_filler.fill_spans(text, [hole], "python", options=FillOptions(copies=0),
                                   on_frame=frames.append)
    # The model was asked to write the rest of ``total = `` at the hole's indentation, and
    # that fill wins although the model scored it lower: the other leaves ``total`` unbound.
    assert asked == ["def f(x):\n    y = x + 1\n    total =\n    return total + y\n"]
    assert result.spans[0].text == "    total = x * 2\n"
    assert result.text == "def f(x):\n    y = x + 1\n    total = x * 2\n    return total + y\n"
    assert result.candidates[0].spans[0].text == "    print(y)\n"
    assert frames[-1].span_text(0) == "    total = x * 2\n"
    # Where the code after the hole needs no name, no second run.
    every.clear()
    text2, hole2 = hole_at("def f(x):\n    y = x + 1\n@    return y\n")
    mlm_filler.fill_spans(text2, [hole2], "python", options=FillOptions(copies=0))
    assert every and {t for t, _ in every} == {text2}


def test_a_binding_is_kept_only_when_it_ranks_higher_and_runs_within_steps_and_cancel(
        mlm_filler, monkeypatch):
    import threading

    from infill.errors import Cancelled

    text, hole = hole_at(NEEDS_TOTAL)
    # A binding that breaks the parse ranks below a fill that leaves ``total`` unbound.
    asked, every = fake_sampling(monkeypatch, "    print(y)\n", "(x *")
    result = mlm_filler.fill_spans(text, [hole], "python", options=FillOptions(copies=0))
    assert len(asked) == 1 and result.spans[0].text == "    print(y)\n"
    # ``steps`` bounds the binding run with the rest: no passes left, no run.
    first_run = every[0][1]
    asked.clear()
    capped = mlm_filler.fill_spans(text, [hole], "python", options=FillOptions(
        copies=0, retries=0, steps=first_run))
    assert asked == [] and capped.forward_passes == first_run
    # A cancel that comes as the first run ends stops the fill before the binding.
    cancel = threading.Event()
    from infill.engine import Filler

    real = Filler._bind_needed

    def cancelled_then_bind(self, *args, **kwargs):
        cancel.set()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Filler, "_bind_needed", cancelled_then_bind)
    with pytest.raises(Cancelled):
        mlm_filler.fill_spans(text, [hole], "python", options=FillOptions(copies=0),
                              cancel=cancel)


def test_a_hole_that_ends_a_function_promising_a_value_gets_a_fill_that_returns(
        mlm_filler, monkeypatch):
    # On the blank line after the function's last line: the body may go on there, at the
    # last line's indentation.
    text, hole = hole_at("def twice(x) -> int:\n    total = x * 2\n@\ndef other():\n"
                         "    pass\n")
    asked, _ = fake_sampling(monkeypatch, "print(total)", "total", marker="    return\n")
    result = mlm_filler.fill_spans(text, [hole], "python", options=FillOptions(copies=0))
    assert asked == ["def twice(x) -> int:\n    total = x * 2\n    return\ndef other():\n"
                     "    pass\n"]
    assert result.spans[0].text == "    return total"
    assert result.candidates[0].spans[0].text == "print(total)"
    # A function that promises nothing is left as the model filled it.
    asked.clear()
    text, hole = hole_at("def twice(x):\n    total = x * 2\n@\ndef other():\n    pass\n")
    assert mlm_filler.fill_spans(text, [hole], "python", options=FillOptions(
        copies=0)).spans[0].text == "print(total)"
    assert asked == []


def test_sequences_asked_for_first_enter_the_shortlist(mlm_filler):
    text, hole = hole_at(MODULE.replace("    return value\n", "@    return value\n"))
    codec = mlm_filler.denoiser.codec
    lines = ["    x = 1\n", "    y = 2\n", "    value = 3\n", "    z = 4\n"]
    ids = [codec.encode(t) for t in lines]
    plain = mlm_filler._likelihoods(text, hole, 24, "python", ids, 1)
    assert sum(s is not None for s in plain) == 2  # the fill and the one shortlisted
    for k in (2, 3):
        asked = mlm_filler._likelihoods(text, hole, 24, "python", ids, 1, first=[k])
        assert asked[0] is not None and asked[k] is not None
        assert sum(s is not None for s in asked) == 2
