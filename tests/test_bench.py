"""``infill bench``: workloads, alternation, labels. Speed itself is never asserted here."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from infill import bench
from infill.cli import main
from infill.errors import InputError
from infill.options import FillOptions


def count(text: str) -> int:
    return len(text.split())  # a stand-in tokenizer: words


@pytest.mark.parametrize("size,holes", [(200, 1), (1000, 4), (4000, 16)])
def test_workload_has_its_holes_and_their_truths(size, holes):
    records = bench.load_records()
    w = bench.make_workload(records, size, holes, 3, count)
    assert len(w.spans) == len(w.middles) == holes
    assert all(a.end <= b.start for a, b in zip(w.spans, w.spans[1:]))
    # Each hole sits in its record's own line: the prefix's last line, the suffix's first.
    by_id = {r["id"]: r for r in records}
    for span, middle, source in zip(w.spans, w.middles, w.sources):
        record = by_id[source]
        assert record["middle"] == middle
        assert record["prefix"].endswith(w.text[:span.start].split("\n")[-1])
        assert w.text[span.end:].split("\n")[0] == record["suffix"].split("\n")[0]
    assert 0.5 * size <= w.tokens <= 1.5 * size


def test_workloads_differ_from_fill_to_fill():
    records = bench.load_records()
    texts = {bench.make_workload(records, 1000, 1, i, count).text for i in range(4)}
    assert len(texts) == 4


class _Recorder:
    """A filler that records which options each fill ran with."""

    def __init__(self):
        self.calls = []

    def fill_spans(self, text, spans, language, seed, *, options):
        self.calls.append(options.strategy)
        span = SimpleNamespace(text="x", tokens=1)
        return SimpleNamespace(forward_passes=1 if options.strategy == "threshold" else 3,
                               spans=[span for _ in spans])


def test_reference_and_configured_alternate_fill_by_fill():
    w = bench.Workload("w", "ab", [bench.Span(1, 1, bench.HOLE)], ["x"], "python")
    filler = _Recorder()
    reference, configured = bench.time_pair(filler, [w] * 4, FillOptions(strategy="threshold", threshold=0.5))
    assert filler.calls == ["confidence", "threshold", "threshold", "confidence"] * 2
    assert reference.summary()["passes_per_fill"] == 3 and configured.summary()["passes_per_fill"] == 1
    assert configured.summary()["exact"] == 1.0


def test_ratio_labels_say_which_way():
    fast = {"p50_ms": 100.0, "passes_per_fill": 2.0}
    slow = {"p50_ms": 240.0, "passes_per_fill": 6.0}
    assert bench.ratio_words(slow, fast) == ("2.40x faster", "3.00x fewer passes")
    assert bench.ratio_words(fast, slow) == ("2.40x slower", "3.00x more passes")
    assert bench.ratio_words(fast, fast)[0] == "1.00x (the same)"


def test_bench_command_prints_machine_command_and_ratios(tiny_model_dir, capsys):
    argv = ["bench", "--model", str(tiny_model_dir), "--sizes", "200", "--holes", "1,4", "--fills", "2"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "command: infill " + " ".join(argv) in out
    assert "avx512_bf16" in out and "AMX" in out and "cores" in out and "date:" in out
    assert "| 200 tokens, 4 holes" in out and "reference ÷ configured" in out
    assert "4 holes cost" in out


def test_bench_rejects_bad_sizes(tiny_model_dir, capsys):
    assert main(["bench", "--model", str(tiny_model_dir), "--sizes", "0"]) == 2
    assert "at least 1" in capsys.readouterr().err
    with pytest.raises(InputError):
        bench._ints("a,b", bench.SIZES)
