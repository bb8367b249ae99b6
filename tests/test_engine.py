"""The engine end to end with a tiny random-weight model: structure, not quality."""

from __future__ import annotations

import threading

import pytest

from infill.errors import Cancelled
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


def test_candidates_are_distinct_and_ranked_by_score(tiny_filler):
    result = tiny_filler.fill_text(SOURCE, candidates=4, seed=3)
    texts = [result.text] + [c.text for c in result.candidates]
    assert len(set(texts)) == len(texts)
    scores = [c.score for c in result.candidates]
    assert scores == sorted(scores, reverse=True)


def test_a_candidate_that_breaks_the_parse_ranks_below_one_that_does_not(tiny_filler, monkeypatch):
    from infill import engine

    real = engine.Filler._candidates

    def fake(self, text, spans, order, fills, lang):
        cands = real(self, text, spans, order, fills, lang)
        # The highest-scoring candidate breaks the parse; the others parse cleanly.
        best = max(range(len(cands)), key=lambda k: cands[k].score)
        return [engine.Candidate(c.text, c.spans, 0.0 if k == best else c.score,
                                 5 if k == best else 0) for k, c in enumerate(cands)]

    monkeypatch.setattr(engine.Filler, "_candidates", fake)
    result = tiny_filler.fill_text("x = __FILL__\n", "python", candidates=3, seed=1)
    assert result.parse_errors != 5
    assert result.candidates[-1].parse_errors == 5


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
        def logits(self, ids, attention):
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
    result = tiny_filler.fill_spans(text, spans, "python", steps=2)
    last = result.trajectory[-1]
    assert last.span_text(0) == result.spans[0].text
    assert last.span_text(1) == result.spans[1].text
    assert result.text[result.spans[0].start:result.spans[0].end] == result.spans[0].text
    assert result.spans[0].start > result.spans[1].start
