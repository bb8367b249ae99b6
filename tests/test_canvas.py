"""Canvas planning: layout, per-segment tokenization and windows."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from infill.canvas import Layout, plan_canvases
from infill.markers import Span

MASK, BOS, EOS, HEADER = -1, -2, -3, -4


class CharEncoder:
    """One token per character: token = code point. Makes canvases easy to read back."""

    def __init__(self):
        self.calls = []

    def encode(self, text):
        self.calls.append(text)
        return [ord(c) for c in text]


def decode(ids):
    return "".join(chr(i) for i in ids if i >= 0)


def test_layout_is_bos_header_context_slots_context_eos():
    text = "abc|def"
    canvases = plan_canvases(text, [Span(3, 4)], [5], CharEncoder(),
                             Layout(MASK, BOS, EOS, HEADER, max_context=64))
    (canvas,) = canvases
    assert list(canvas.ids) == [BOS, HEADER, *map(ord, "abc"), *[MASK] * 5, *map(ord, "def"), EOS]
    (group,) = canvas.groups
    assert (group.span, group.offset, group.length) == (0, 5, 5)


def test_each_segment_is_tokenized_on_its_own():
    encoder = CharEncoder()
    plan_canvases("one two three", [Span(3, 3), Span(7, 7)], [2, 2], encoder,
                  Layout(MASK, max_context=64))
    assert " two" in encoder.calls  # the context between the spans, alone
    assert all("one two" not in call for call in encoder.calls)


def test_long_text_is_cropped_around_the_span():
    text = "a" * 1000 + "X" + "b" * 1000
    (canvas,) = plan_canvases(text, [Span(1000, 1001)], [10], CharEncoder(),
                              Layout(MASK, BOS, EOS, None, max_context=100))
    assert len(canvas) <= 100
    body = decode(canvas.ids)
    assert body.count("a") + body.count("b") == 100 - 2 - 10
    assert abs(body.count("a") - body.count("b")) <= 1


def test_spans_too_far_apart_get_separate_windows():
    text = "x" * 500 + "y" * 500
    spans = [Span(10, 10), Span(990, 990)]
    canvases = plan_canvases(text, spans, [8, 8], CharEncoder(), Layout(MASK, max_context=64))
    assert len(canvases) == 2
    assert [g.span for c in canvases for g in c.groups] == [0, 1]
    assert all(len(c) <= 64 for c in canvases)


def test_prefill_shows_old_tokens_in_the_slots():
    (canvas,) = plan_canvases("ab", [Span(1, 2)], [3], CharEncoder(), Layout(MASK, max_context=16),
                              prefills=[[ord("b")]])
    assert list(canvas.ids) == [ord("a"), ord("b"), MASK, MASK]
    assert canvas.groups[0].prefill == (ord("b"),)


@settings(max_examples=100, deadline=None)
@given(text=st.text(min_size=1, max_size=300),
       cuts=st.lists(st.integers(0, 300), min_size=1, max_size=6, unique=True),
       budget=st.integers(1, 12), context=st.integers(40, 200))
def test_every_span_gets_its_slots_and_context_stays_in_order(text, cuts, budget, context):
    cuts = sorted({min(c, len(text)) for c in cuts})
    spans = [Span(c, c) for c in cuts]
    canvases = plan_canvases(text, spans, [budget] * len(spans), CharEncoder(),
                             Layout(MASK, BOS, EOS, None, max_context=context))
    groups = [g for c in canvases for g in c.groups]
    assert sorted(g.span for g in groups) == list(range(len(spans)))
    for canvas in canvases:
        assert len(canvas) <= context
        for g in canvas.groups:
            assert list(canvas.ids[g.offset:g.offset + g.length]) == [MASK] * g.length
        # The context in a canvas is a contiguous piece of the text with holes cut out: a
        # window holds neighbouring spans, with all the text between them.
        members = [g.span for g in canvas.groups]
        assert members == list(range(members[0], members[-1] + 1))
        for a, b in zip(canvas.groups, canvas.groups[1:]):
            between = decode(canvas.ids[a.offset + a.length:b.offset])
            assert between == text[spans[a.span].end:spans[b.span].start]
        first, last = spans[canvas.groups[0].span], spans[canvas.groups[-1].span]
        left = "".join(chr(i) for i in canvas.ids[:canvas.groups[0].offset] if i >= 0)
        assert text[:first.start].endswith(left)
        tail_ids = canvas.ids[canvas.groups[-1].offset + canvas.groups[-1].length:]
        right = "".join(chr(i) for i in tail_ids if i >= 0)
        assert text[last.end:].startswith(right)
