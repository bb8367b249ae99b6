"""Engine fixes that help any model (issue 9): whole lines, blank candidates, placeholders,
the window around the enclosing definition, and the grow-the-budget path."""

from __future__ import annotations

import pytest
import torch

from infill.canvas import Layout, enclosing_definition, plan_canvases
from infill.fills import (Candidate, SpanFill, is_whole_line, placeholder_texts, rank_candidates,
                          shape_text)
from infill.markers import HOLE, Span
from infill.options import FillOptions


@pytest.fixture
def mlm_filler(tiny_model_dir):
    """The tiny model through transformers' forward, whose ``logits`` these tests replace
    (the native house forward computes logits in its own passes, not through ``logits``)."""
    import infill

    return infill.load(str(tiny_model_dir), device="cpu", backend="hf-mlm")


def test_a_whole_line_hole_is_filled_with_complete_lines():
    text = "def f(x):\n" + "" + "    return x\n"
    hole = Span(10, 10, HOLE)
    assert is_whole_line(text, hole)
    assert shape_text("    y = x + 1", hole, whole_line=True) == "    y = x + 1\n"
    assert shape_text("    y = 1\n\n", hole, whole_line=True) == "    y = 1\n"
    assert shape_text("  \n", hole, whole_line=True) == ""
    capped = Span(10, 10, HOLE, max_lines=1)
    assert shape_text("    y = 1\n    z = 2\n", capped, whole_line=True) == "    y = 1\n"
    assert shape_text("\n\n    y = 1\n    z = 2\n", capped, whole_line=True) == "    y = 1\n"
    # A hole followed by its own line break is the rest of a line: no newline is added.
    inline = "def f(x):\n    return \n"
    assert not is_whole_line(inline, Span(21, 21, HOLE))
    assert not is_whole_line("x = 1", Span(0, 0, HOLE))  # the very start of a text


def test_fill_1_where_a_whole_line_goes_gives_one_complete_line(tiny_filler):
    text = "def f(x):\n    y = x\n__FILL_1__    return y\n"
    result = tiny_filler.fill_text(text)
    fill = result.spans[0].text
    assert fill == "" or (fill.endswith("\n") and fill.count("\n") == 1)
    assert result.text.endswith("    return y\n")


def test_a_blank_fill_never_outranks_text_where_code_is_expected():
    def cand(fill, score):
        return Candidate(fill, (SpanFill(fill, 0.5, 0, len(fill), HOLE, 1, 1),), score, 0)

    candidates = [cand("   ", -0.1), cand("x + 1", -2.0)]
    assert rank_candidates(candidates, 0, code_expected=[True]) == [1, 0]
    assert rank_candidates(candidates, 0, code_expected=[False]) == [0, 1]  # prose: score decides


def test_the_original_is_judged_with_a_placeholder_in_each_hole():
    text = "def f(x):\n    return \n"
    (options,) = placeholder_texts(text, [Span(21, 21, HOLE)])
    assert "" in options and "__FILL__" in options
    whole = "def f(x):\n    y = 1\n    return y\n"
    (options,) = placeholder_texts(whole, [Span(20, 20, HOLE)])
    assert "    __FILL__\n" in options
    from infill import syntax

    # Empty, "return " parses with an error; with the placeholder it does not: the base is 0.
    assert min(syntax.count_errors(text[:21] + o + text[21:], "python") for o in options) == 0


def test_enclosing_definition_is_found_by_indentation_and_keywords():
    text = "import os\n\nclass A:\n    def f(self, x):\n        '''Doc.'''\n        if x:\n            y = 1\n"
    assert text[enclosing_definition(text, text.index("y = 1"), 1000):].startswith("    def f(")
    assert text[enclosing_definition(text, text.index("    def f"), 1000):].startswith("class A:")
    assert enclosing_definition(text, text.index("class"), 1000) is None
    rust = "fn main() {\n    let x = 1;\n    println!(x);\n}\n"
    assert enclosing_definition(rust, rust.index("println"), 1000) == 0
    assert enclosing_definition(text, text.index("y = 1"), 20) is None  # too far back


class CharCodec:
    def encode(self, text):
        return [ord(c) for c in text]


def test_the_window_keeps_the_enclosing_definition_in_view():
    body = "".join(f"        v{i} = {i}\n" for i in range(6))
    text = "def far(x):\n    '''Doc.'''\n" + body + "        return __\n" + "z = 0\n" * 200
    pos = text.index("__")
    layout = Layout(mask_id=0, bos_id=1, eos_id=2, max_context=len(text[text.index("def"):pos]) + 80)
    (canvas,) = plan_canvases(text, [Span(pos, pos + 2)], [8], CharCodec(), layout)
    shown = "".join(chr(i) for i in canvas.ids if i > 2)
    assert shown.startswith("def far(x):")  # half the room would have cut the signature off
    assert "z = 0" in shown  # the context after still gets a share


def test_a_used_up_budget_grows_and_fills_again(mlm_filler, monkeypatch):
    d = mlm_filler.denoiser
    real = d.logits

    def never_null(ids, attention, wanted=None):
        logits = real(ids, attention, wanted).clone()
        logits[..., d.null_id] = -torch.inf
        return logits

    monkeypatch.setattr(d, "logits", never_null)
    result = mlm_filler.fill_spans("x = \n", [Span(4, 4, HOLE)], "python",
                                    options=FillOptions(budget=4))
    # Every slot held text, so the budget was too small: it grew 4 -> 8 -> 16.
    assert result.spans[0].tokens == 16


def test_only_used_up_holes_are_filled_again_the_others_are_context(mlm_filler, monkeypatch):
    d = mlm_filler.denoiser
    real = d.logits
    masked_per_pass = []

    def never_null(ids, attention, wanted=None):
        masked_per_pass.append(int((ids == d.mask_id).sum()))
        logits = real(ids, attention, wanted).clone()
        logits[..., d.null_id] = -torch.inf
        return logits

    monkeypatch.setattr(d, "logits", never_null)
    rounds = []
    run = type(mlm_filler)._run

    def spy(self, *args, **kw):
        rows, out = run(self, *args, **kw)
        rounds.append((rows, out.ids.clone(), out.forward_passes))
        return rows, out

    monkeypatch.setattr(type(mlm_filler), "_run", spy)
    text = "a = \nb = \n"
    # Both budgets are used up; the first hole is capped at one line, so it is not elastic.
    spans = [Span(4, 4, HOLE, max_lines=1), Span(9, 9, HOLE)]
    result = mlm_filler.fill_spans(text, spans, "python", options=FillOptions(budget=4))
    assert len(rounds) == 3 and result.spans[1].tokens == 16

    def group(rows, span):
        return next((b, g) for b, r in enumerate(rows) for g in r.canvas.groups if g.span == span)

    (rows0, ids0, passes0), (rows1, ids1, _) = rounds[0], rounds[1]
    b0, g0 = group(rows0, 0)
    b1, g1 = group(rows1, 0)
    first_fill = ids0[b0, g0.offset:g0.offset + g0.length].tolist()
    # Round two shows the first hole's fill as it was, and fills only the second hole.
    assert g1.kept and list(g1.prefill) == first_fill
    assert ids1[b1, g1.offset:g1.offset + g1.length].tolist() == first_fill
    assert masked_per_pass[0] == 8 and masked_per_pass[passes0] == 8  # 4 + 4, then 8 of one
    assert d.mask_id not in first_fill
    assert result.spans[0].text == d.codec.decode(first_fill)
    assert not group(rows1, 1)[1].kept


def test_a_hole_where_code_goes_gets_text_even_when_the_model_expects_nothing(mlm_filler, monkeypatch):
    d = mlm_filler.denoiser
    real = d.logits

    def always_null(ids, attention, wanted=None):
        logits = real(ids, attention, wanted).clone()
        logits[..., d.null_id] = 50.0  # P(null) ~ 1 everywhere
        return logits

    monkeypatch.setattr(d, "logits", always_null)
    code = mlm_filler.fill_spans("x = \n", [Span(4, 4, HOLE)], "python")
    assert code.spans[0].tokens == 1  # the first slot had to hold text; the rest are nulls
    prose = mlm_filler.fill_spans("Some words \n", [Span(11, 11, HOLE)], "markdown")
    assert prose.spans[0].tokens == 0  # in prose an empty fill is the model's choice


@pytest.mark.parametrize("strategy", ["confidence", "parallel"])  # parallel: the early stop
def test_a_hole_where_code_goes_does_not_end_as_whitespace(mlm_filler, monkeypatch, strategy):
    d = mlm_filler.denoiser
    real = d.logits
    space = d.codec.encode("    ")[0]

    def indent_then_nothing(ids, attention, wanted=None):
        logits = real(ids, attention, wanted).clone()
        logits[..., d.null_id] = 50.0
        logits[..., space] = 40.0  # the model would write indentation at most, then stop
        return logits

    monkeypatch.setattr(d, "logits", indent_then_nothing)
    result = mlm_filler.fill_spans("def f():\n\n    return 1\n", [Span(9, 9, HOLE)], "python",
                                    options=FillOptions(strategy=strategy))
    assert result.spans[0].text.strip()  # after the whitespace, a slot had to hold text


def test_a_fill_that_invents_a_name_makes_the_engine_sample_more(mlm_filler, monkeypatch):
    d = mlm_filler.denoiser
    real = d.logits
    text = "def f(x):\n    return \n"

    def forcing(word):
        (token,) = d.codec.encode(word)

        def logits(ids, attention, wanted=None):
            out = real(ids, attention, wanted).clone()
            out[..., token] = 45.0
            out[..., d.null_id] = 50.0  # the first slot must hold text: one token, then nothing
            return out
        return logits

    def fill(retries):
        return mlm_filler.fill_spans(text, [Span(21, 21, HOLE)], "python",
                                     options=FillOptions(retries=retries))

    monkeypatch.setattr(d, "logits", forcing("x"))  # the parameter: defined, nothing to retry
    plain, retried = fill(0), fill(2)
    assert plain.spans[0].text == "x"
    assert retried.forward_passes == plain.forward_passes and retried.candidates == ()

    monkeypatch.setattr(d, "logits", forcing("z"))  # defined nowhere in the file
    plain, retried = fill(0), fill(2)
    assert plain.spans[0].text == "z"
    assert retried.forward_passes > plain.forward_passes  # it sampled two more candidates


def test_a_fill_that_invents_a_name_ranks_below_one_that_does_not():
    def cand(fill, score, undefined):
        return Candidate(fill, (SpanFill(fill, 0.5, 0, len(fill), HOLE, 1, 1),), score, 0,
                         undefined)

    candidates = [cand("dmp_list(f)", -0.1, 1), cand("list(f)", -2.0, 0),
                  cand("dmp_list(g(u))", -0.2, 2), cand("f", -1.0, None)]
    # Fewer invented names first (None: not known, counted as none), then the score.
    assert rank_candidates(candidates, 0, code_expected=[True]) == [3, 1, 0, 2]
    from infill.fills import falls_short
    assert falls_short(candidates[0], 0, [True])
    assert not falls_short(candidates[1], 0, [True]) and not falls_short(candidates[3], 0, [True])


def spelled(filler, real, tokens):
    """``real`` logits of ``filler`` with ``tokens`` forced into the hole's slots in order and
    nulls after them (the slots: the most positions seen masked at once)."""
    d, slots = filler.denoiser, []

    def logits(ids, attention, wanted=None):
        out = real(ids, attention, wanted).clone()
        masked = (ids[0] == d.mask_id).nonzero().flatten().tolist()
        if len(masked) > len(slots):
            slots[:] = masked
        for k, at in enumerate(slots):
            out[:, at, tokens[k] if k < len(tokens) else d.null_id] = 50.0
        return out
    return logits


def test_a_fill_that_stutters_makes_the_engine_sample_more(mlm_filler, monkeypatch):
    text = "def f(u):\n    return \n"
    codec, real = mlm_filler.denoiser.codec, mlm_filler.denoiser.logits

    def fill(words, retries):
        monkeypatch.setattr(mlm_filler.denoiser, "logits",
                            spelled(mlm_filler, real, codec.encode(words)))
        return mlm_filler.fill_spans(text, [Span(21, 21, HOLE)], "python",
                                     options=FillOptions(retries=retries))

    plain, retried = fill("u, u", 0), fill("u, u", 2)
    assert plain.spans[0].text == "u, u" and retried.forward_passes == plain.forward_passes
    plain, retried = fill("u, u, u", 0), fill("u, u, u", 2)
    assert plain.spans[0].text == "u, u, u"
    assert retried.forward_passes > plain.forward_passes  # it sampled two more candidates
