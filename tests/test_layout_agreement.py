"""Training examples and inference canvases have one layout (docs/CONTRACTS.md): the same
segments, tokenized the same way, with a span's slots where the training example has the
span's tokens and nulls. Held by this test rather than by prose."""

from __future__ import annotations

import random

import pytest

from infill.canvas import Layout, plan_canvases
from infill.markers import Span
from infill.training.data import ExampleBuilder, ExampleConfig

TEXT = "x = 1\ndef add(a, b):\n    return a + b\n\nprint(add(2, 3))  # <mask> is text\n"


@pytest.mark.parametrize("seed", range(5))
def test_a_training_example_is_an_inference_canvas_with_its_slots_filled(tiny_filler, seed):
    d = tiny_filler.denoiser
    builder = ExampleBuilder(d.codec.tokenizer, ExampleConfig(seq_len=256))
    spans = [(TEXT.index("a + b"), TEXT.index("a + b") + 5), (TEXT.index("2, 3"), TEXT.index("2, 3") + 4)]
    lang = d.language_ids["python"]
    example = builder._layout(TEXT, (0, len(TEXT)), spans, lang, random.Random(seed))
    assert example is not None

    # The slots are the maskable runs: a span's tokens, then its nulls.
    runs, start = [], None
    for i, maskable in enumerate(example.maskable + [False]):
        if maskable and start is None:
            start = i
        elif not maskable and start is not None:
            runs.append((start, i))
            start = None
    assert len(runs) == 2
    prefills = [example.input_ids[a:b] for a, b in runs]

    layout = Layout(d.mask_id, d.bos_id, d.eos_id, lang, max_context=256)
    (canvas,) = plan_canvases(TEXT, [Span(s, e) for s, e in spans], [len(p) for p in prefills],
                              d.codec, layout, prefills)
    assert list(canvas.ids) == example.input_ids
    assert [(g.offset, g.offset + g.length) for g in canvas.groups] == runs
