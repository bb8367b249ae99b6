"""The engine end to end with a tiny random-weight model: structure, not quality."""

from __future__ import annotations

import threading

import pytest

from infill.errors import Cancelled
from infill.options import FillOptions
from infill.fills import Candidate, Fill, make_candidate, rank_candidates
from infill.markers import REWRITE, Span, parse_markers
from infill.trajectory import MASKED

SOURCE = "def add(a, b):\n    return __FILL__\n\nprint('<mask>')  # literal special text\n"


def test_fill_text_fills_every_hole_and_keeps_the_rest(tiny_filler):
    result = tiny_filler.fill_text(SOURCE)
    marked = parse_markers(SOURCE)
    (span,) = result.spans
    assert "__FILL__" not in result.text
    assert result.text[:span.start] == marked.text[:26]
    assert result.text[span.end:] == marked.text[26:]
    assert result.text[span.start:span.end] == span.text
    assert 0.0 <= span.confidence <= 1.0
    assert result.language == "python"


def test_text_without_markers_comes_back_unchanged(tiny_filler):
    result = tiny_filler.fill_text("x = 1\n")
    assert result.text == "x = 1\n" and result.spans == () and result.trajectory == ()


def test_defaults_are_deterministic(tiny_filler):
    assert tiny_filler.fill_text(SOURCE).text == tiny_filler.fill_text(SOURCE).text


def test_last_frame_equals_the_final_text(tiny_filler):
    result = tiny_filler.fill_text(SOURCE, steps=4)
    frames = result.trajectory
    assert 1 <= len(frames) <= 4
    assert frames[0].step == 1
    assert frames[-1].masked == 0
    assert frames[-1].span_text(0) == result.spans[0].text
    assert any(s.state == MASKED for s in frames[0].slots)


def test_live_frames_arrive_through_the_callback(tiny_filler):
    seen = []
    tiny_filler.fill_text(SOURCE, steps=3, on_frame=seen.append)
    assert seen and seen[-1].masked == 0


def test_cancel_raises_and_returns_nothing(tiny_filler):
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        tiny_filler.fill_text(SOURCE, cancel=flag)


def test_candidates_are_distinct_and_ranked_by_standing_then_score(tiny_filler):
    from infill.fills import standing
    result = tiny_filler.fill_text(SOURCE, candidates=4, seed=3)
    texts = [result.text] + [c.text for c in result.candidates]
    assert len(set(texts)) == len(texts)
    keys = [(standing(c, None), -c.score) for c in result.candidates]
    assert keys == sorted(keys)


def test_the_model_recommends_k_and_an_explicit_k_wins(tiny_filler, monkeypatch):
    """``candidates`` unset: the checkpoint's recommended K (infill_config.json), else 1."""
    from infill.options import FillOptions

    alone = tiny_filler.fill_text(SOURCE, seed=3)
    assert alone.candidates == ()  # no recommendation: one candidate
    four = tiny_filler.fill_text(SOURCE, candidates=4, seed=3)
    assert four.candidates  # the tiny model's four samples differ
    monkeypatch.setitem(tiny_filler.denoiser.defaults, "candidates", 4)
    recommended = tiny_filler.fill_text(SOURCE, seed=3)
    assert recommended.text == four.text
    assert [c.text for c in recommended.candidates] == [c.text for c in four.candidates]
    assert tiny_filler.fill_text(SOURCE, candidates=1, seed=3).candidates == ()
    assert FillOptions().candidate_count({"candidates": 4}) == 4
    assert FillOptions(candidates=2).candidate_count({"candidates": 4}) == 2
    assert FillOptions().candidate_count(None) == 1


def test_retries_sample_more_only_when_the_best_fill_falls_short(tiny_filler, monkeypatch):
    """``retries``: one more run of N candidates only when the best fill falls short."""
    import infill.engine as engine

    # (What falls short is tested on its own: parse, blanks, invented names.)
    monkeypatch.setattr(engine, "falls_short", lambda *a: False)
    plain = tiny_filler.fill_text(SOURCE, seed=1)
    same = tiny_filler.fill_text(SOURCE, seed=1, retries=3)
    assert (same.text, same.forward_passes, same.candidates) == (plain.text, plain.forward_passes, ())

    monkeypatch.setattr(engine, "falls_short", lambda *a: True)
    frames = []
    retried = tiny_filler.fill_text(SOURCE, seed=1, retries=3, on_frame=frames.append)
    assert retried.forward_passes > plain.forward_passes
    texts = [retried.text, *(c.text for c in retried.candidates)]
    assert plain.text in texts and len(set(texts)) == len(texts) > 1
    # The editor sees the retry animate: its frames come after the first run's, in a later round.
    assert frames[0].round == 0 and frames[-1].round >= 1
    # Whichever run the winner came from, its trajectory ends on its own fill.
    assert retried.trajectory[-1].span_text(0) == retried.spans[0].text
    monkeypatch.setattr(engine, "rank_candidates", lambda cands, *a: list(range(len(cands)))[::-1])
    last = tiny_filler.fill_text(SOURCE, seed=1, retries=3)  # the retry's last candidate wins
    # (ASCII only: a frame shows each token's own bytes, so a character split over two of the
    # tiny model's byte tokens shows as two replacement marks there.)
    ascii_only = lambda t: t.encode("ascii", "ignore")  # noqa: E731
    assert last.text != plain.text
    assert ascii_only(last.trajectory[-1].span_text(0)) == ascii_only(last.spans[0].text)
    assert ascii_only(last.trajectory[-1].span_text(0)) != ascii_only(plain.spans[0].text)
    assert last.trajectory[-1].round >= 1

    budget = plain.forward_passes + 2
    assert tiny_filler.fill_text(SOURCE, seed=1, retries=3, steps=budget).forward_passes <= budget
    no_room = tiny_filler.fill_text(SOURCE, seed=1, retries=3, steps=plain.forward_passes)
    assert no_room.forward_passes == plain.forward_passes and no_room.candidates == ()


def test_falls_short_is_what_ranks_a_candidate_last():
    from infill.fills import falls_short

    def cand(text, errors):
        return Candidate(text, (SpanFill(text, 1.0, 0, len(text), "hole", 1, 1),), 0.0, errors)

    from infill.engine import SpanFill
    assert falls_short(cand("x +", 2), base_errors=1)
    assert not falls_short(cand("x + 1", 1), base_errors=1)
    assert not falls_short(cand("x +", 2), base_errors=None)  # no grammar: nothing to compare
    assert falls_short(cand("  ", 0), base_errors=0, code_expected=[True])
    assert not falls_short(cand("  ", 0), base_errors=0, code_expected=[False])


def test_a_candidate_that_breaks_the_parse_ranks_below_one_that_does_not():
    def cand(text, score, errors):
        return Candidate(text, (), score, errors)

    candidates = [cand("a", -0.1, 5), cand("b", -0.9, 0), cand("c", -0.5, 0), cand("d", -0.4, 1)]
    # The best score breaks the parse (5 errors > 1 in the original): it ranks last. Of the
    # others, fewer errors first (the original has one too), then the score.
    assert rank_candidates(candidates, base_errors=1) == [2, 1, 3, 0]
    # Without a grammar (no error counts) the score alone decides.
    none = [Candidate(c.text, (), c.score, None) for c in candidates]
    assert rank_candidates(none, base_errors=None) == [0, 3, 2, 1]


def test_identical_texts_are_merged_keeping_the_better_rank():
    candidates = [Candidate("x", (), -1.0, None), Candidate("x", (), -0.5, None)]
    assert rank_candidates(candidates, None) == [1]


def test_candidates_report_spans_in_the_callers_order_and_score_every_slot():
    spans = [Span(4, 4), Span(10, 10)]
    fills = [Fill("1", 0.5, -1.0, 2, 1, False), Fill("22", 0.7, -3.0, 4, 2, True)]
    candidate = make_candidate("a = ;\nb = ;\n", spans, [1, 0], fills, lambda text: None)
    assert candidate.text == "a = 1;\nb = 22;\n"
    assert [s.text for s in candidate.spans] == ["22", "1"]  # caller gave them back to front
    assert candidate.spans[0].start == 11 and candidate.spans[1].start == 4
    assert candidate.score == pytest.approx(-4.0 / 6)


def test_capped_hole_is_one_line(tiny_filler):
    result = tiny_filler.fill_text("x = __FILL_1__\ny = 2\n")
    assert "\n" not in result.spans[0].text
    assert result.text.endswith("\ny = 2\n")


def test_rewrite_region_ends_with_a_newline_and_keeps_neighbours(tiny_filler):
    result = tiny_filler.fill_text("a = 1\n# >>> infill\nb = 2\n# <<< infill\nc = 3\n")
    (span,) = result.spans
    assert span.kind == REWRITE
    assert result.text.startswith("a = 1\n") and result.text.endswith("c = 3\n")
    assert span.text == "" or span.text.endswith("\n")


def test_rewrite_strength_below_one_rescores_first(tiny_filler):
    text = "a = 1\nb = 2\nc = 3\n"
    span = Span(6, 12, REWRITE, strength=0.5, block=True)
    result = tiny_filler.fill_spans(text, [span])
    assert result.trajectory[0].step == 0  # the scoring pass
    assert result.text.startswith("a = 1\n") and result.text.endswith("c = 3\n")


def test_spans_far_apart_are_filled_in_separate_windows(tiny_filler):
    filler_text = "x = 1\n" * 200  # far more than the tiny model's 256-token context
    text = "a = __FILL__\n" + filler_text + "b = __FILL__\n"
    result = tiny_filler.fill_text(text)
    assert len(result.spans) == 2
    assert filler_text in result.text


def test_fill_between_returns_the_middle(tiny_filler):
    middle = tiny_filler.fill_between("def f():\n    return ", "\n")
    assert isinstance(middle, str)
    assert middle == tiny_filler.fill_text("def f():\n    return __FILL__\n").spans[0].text


def test_shifted_logits_are_realigned_for_dream_family_models(tiny_filler):
    """Dream-family models predict token i at position i - 1: the engine shifts them back."""
    import torch

    from infill.backends.base import Denoiser
    from infill.engine import Filler

    base = tiny_filler.denoiser
    wanted = base.codec.encode("x")[0]

    class Shifted(Denoiser):
        def logits(self, ids, attention, positions=None):
            logits = torch.zeros(ids.shape[0], ids.shape[1], base.codec.vocab_size)
            logits[..., base.null_id] = 8.0
            # Position i - 1 carries the prediction for every masked position i.
            masked = ids == self.mask_id
            before = torch.zeros_like(masked)
            before[:, :-1] = masked[:, 1:]
            rows, cols = before.nonzero(as_tuple=True)
            logits[rows, cols, wanted] = 12.0
            return logits

    shifted = Shifted(name="fake-dream", codec=base.codec, mask_id=base.mask_id, null_id=base.null_id,
                      bos_id=base.bos_id, eos_id=base.eos_id, pad_id=base.pad_id, max_context=64,
                      shifted_logits=True, defaults={"hole_budget": 3, "line_budget": 3})
    text = Filler(shifted).fill_text("a = __FILL__\n").spans[0].text
    assert len(text) >= 3 and set(text) == {"x"}
    # Read without the shift, the last slot sees no prediction and gets a null instead.
    shifted.shifted_logits = False
    unshifted = Filler(shifted).fill_text("a = __FILL__\n").spans[0].text
    assert set(unshifted) <= {"x"} and len(unshifted) < len(text)


def test_frames_name_spans_in_the_callers_order(tiny_filler):
    text = "a = 1\nb = 2\n"
    spans = [Span(10, 11, REWRITE), Span(4, 5, REWRITE)]  # given back to front
    result = tiny_filler.fill_spans(text, spans, "python", options=FillOptions(steps=2))
    last = result.trajectory[-1]
    assert last.span_text(0) == result.spans[0].text
    assert last.span_text(1) == result.spans[1].text
    assert result.text[result.spans[0].start:result.spans[0].end] == result.spans[0].text
    assert result.spans[0].start > result.spans[1].start
