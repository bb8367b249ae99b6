"""``infill eval`` and ``infill bench`` on tiny inputs."""

from __future__ import annotations

import importlib.util
import json
import lzma

from pathlib import Path

import pytest

from infill import evaluate
from infill.cli import main
from infill.errors import InputError


def write_records(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_eval_reports_every_metric(tmp_path, tiny_model_dir, capsys):
    data = write_records(tmp_path / "python-single-line.jsonl", [
        {"prefix": "def add(a, b):\n    return ", "suffix": "\n", "middle": "a + b", "language": "python"},
        {"prefix": "x = ", "suffix": "\n", "middle": "1", "language": "python"},
    ])
    out = tmp_path / "report.json"
    assert main(["eval", str(data), "--model", str(tiny_model_dir), "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "| python-single-line | empty fill | 2 |" in table and "| python-single-line | model | 2 |" in table
    floor, report = json.loads(out.read_text())
    assert floor["system"] == "empty fill" and floor["blank"] == 1.0 and floor["length_ratio"] == 0.0
    assert floor["one_line"] == 0.0 and floor["parse_valid"] == 0.0
    assert report["records"] == 2 and report["system"] == "model"
    assert 0.0 <= report["exact"] <= 1.0 and 0.0 <= report["one_line"] <= 1.0
    assert report["passes_per_token"] > 0 and report["latency_p50_ms"] > 0


class EchoFiller:
    """Fills every hole with a fixed text: lets the metrics be checked exactly."""

    def __init__(self, fill):
        self.fill = fill

    def fill_spans(self, text, spans, language, seed, **options):
        from infill.engine import FillResult, SpanFill
        s = spans[0]
        span = SpanFill(self.fill, 1.0, s.start, s.start + len(self.fill), "hole", 1, 3)
        return FillResult(text[:s.start] + self.fill + text[s.start:], (span,), (), (), 0.0, None,
                          6, 0.01, language or "python")


def test_metrics_count_exact_one_line_parse_and_tests():
    records = [
        {"prefix": "def add(a, b):\n    return ", "suffix": "\n", "middle": "a + b",
         "language": "python", "test": "assert add(1, 2) == 3"},
        {"prefix": "def sub(a, b):\n    return ", "suffix": "\n", "middle": "a - b",
         "language": "python", "test": "assert sub(3, 2) == 1"},
    ]
    report = evaluate.evaluate_records(EchoFiller("a + b"), records, "t", execute=True)
    assert report.exact == 0.5
    assert report.one_line == 1.0
    assert report.parse_valid == 1.0
    assert report.pass_rate == 0.5
    assert report.passes_per_token == 2.0
    assert report.length_ratio == 1.0 and report.blank == 0.0
    broken = evaluate.evaluate_records(EchoFiller("a +\n(("), records, "t")
    assert broken.parse_valid == 0.0 and broken.one_line == 0.0
    assert broken.pass_rate is None  # no --execute: nothing was run


def test_blank_fills_are_neither_one_line_nor_valid_and_the_floor_runs_tests():
    records = [{"prefix": "x = 1\n", "suffix": "y = 2\n", "middle": "z = 3\n", "language": "python",
                "test": "assert y == 2"},
               {"prefix": "def f():\n    return 1\n", "suffix": "", "middle": "g = f()\n", "language": "python",
                "before": "import math\n", "after": "h = g + 1\n", "test": "assert h == 2"}]
    blank = evaluate.evaluate_records(EchoFiller("   "), records, "t", execute=True)
    assert blank.blank == 1.0 and blank.one_line == 0.0 and blank.parse_valid == 0.0
    floor = evaluate.empty_fill_report(records, "t", execute=True)
    assert floor.pass_rate == 0.5 and floor.tested == 2  # the second test needs g: it fails empty
    whole = evaluate.evaluate_records(EchoFiller("g = f()\n"), records[1:], "t", execute=True)
    assert whole.one_line == 1.0 and whole.pass_rate == 1.0  # "before" and "after" are part of the program
    assert evaluate.is_one_line("x = 1\n") and not evaluate.is_one_line("x\ny\n")


class SeeingFiller(EchoFiller):
    """An EchoFiller that remembers the text it was asked to fill."""

    def fill_spans(self, text, spans, language, seed, **options):
        self.seen = (text, spans[0].start)
        return super().fill_spans(text, spans, language, seed, **options)


def test_the_engine_gets_the_whole_file_and_the_parse_check_judges_it():
    # The window alone starts inside a function (Python refuses it); the file parses.
    record = {"before": "def f(a):\n    if a:\n", "prefix": "        b = 1\n        return ",
              "suffix": "\n    return 0\n", "after": "x = f(1)\n", "middle": "b",
              "language": "python"}
    filler = SeeingFiller("b")
    good = evaluate.evaluate_records(filler, [record], "t")
    assert filler.seen == (record["before"] + record["prefix"] + record["suffix"] + record["after"],
                           len(record["before"] + record["prefix"]))
    assert good.parse_valid == 1.0  # judged on the whole file, which the window alone is not
    # Indented deeper than its block: tree-sitter accepts it, Python's parser does not.
    record = dict(record, prefix="        b = 1\n        ", middle="return b")
    assert evaluate.evaluate_records(EchoFiller("return b"), [record], "t").parse_valid == 1.0
    assert evaluate.evaluate_records(EchoFiller("    return b"), [record], "t").parse_valid == 0.0


def test_records_file_pairs_two_runs_record_by_record(tmp_path, tiny_model_dir):
    """``--records`` keeps every record's fill and verdicts; the compare script pairs two runs."""

    records = [{"id": "t:a:1", "prefix": "def add(a, b):\n    return ", "suffix": "\n", "middle": "a + b",
                "language": "python", "test": "assert add(1, 2) == 3"},
               {"id": "t:b:2", "prefix": "x = 1\n", "suffix": "y = 2\n", "middle": "z = 3\n",
                "language": "python", "test": "assert y == 2"}]
    data = write_records(tmp_path / "t.jsonl", records)
    rows = tmp_path / "rows.jsonl"
    assert main(["eval", str(data), "--model", str(tiny_model_dir), "--execute", "--records", str(rows)]) == 0
    got = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [(r["system"], r["id"]) for r in got] == [("empty fill", "t:a:1"), ("empty fill", "t:b:2"),
                                                      ("model", "t:a:1"), ("model", "t:b:2")]
    assert [r["passed"] for r in got[:2]] == [False, True]  # the floor: the second test needs no line
    assert got[0]["fill"] == "" and got[0]["blank"] and got[0]["parse_valid"] is False

    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    judged_good, judged_bad = [], []
    evaluate.evaluate_records(EchoFiller("a + b"), records[:1], "t", execute=True, judged=judged_good)
    evaluate.evaluate_records(EchoFiller("a - b"), records[:1], "t", execute=True, judged=judged_bad)
    from dataclasses import asdict
    good.write_text(json.dumps(asdict(judged_good[0])) + "\n")
    bad.write_text(json.dumps(asdict(judged_bad[0])) + "\n")
    spec = importlib.util.spec_from_file_location("compare_records", Path(__file__).parents[1] / "scripts" / "compare_records.py")
    compare = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(compare)
    rows_ = {r["verdict"]: r for r in compare.compare(compare.read(str(good), "model"), compare.read(str(bad), "model"))}
    assert rows_["passed"]["a_only"] == 1 and rows_["passed"]["b_only"] == 0 and rows_["passed"]["both"] == 0
    assert rows_["parse_valid"]["both"] == 1 and rows_["parse_valid"]["p"] == 1.0
    assert compare.sign_test(0, 0) == 1.0 and compare.sign_test(10, 0) == 2 / 2 ** 10
    assert abs(compare.sign_test(3, 5) - compare.sign_test(5, 3)) < 1e-12 and compare.sign_test(4, 4) == 1.0

    packed = tmp_path / "good.jsonl.xz"
    with lzma.open(packed, "wt", encoding="utf-8") as handle:
        handle.write(good.read_text())
    assert compare.read(str(packed), "model") == compare.read(str(good), "model")

    # records an evaluation must not count (holes the training split repeats) are left out by id
    stats = tmp_path / "corpus_stats.json"
    stats.write_text(json.dumps({"eval_overlap": {"common_records": ["t:a:1"]}}))
    assert compare.main([str(good), str(bad), "--leave-out", str(stats)]) == 1  # nothing left to pair
    assert compare.leave_out_ids(str(stats)) == {"t:a:1"}
    ids = tmp_path / "ids.json"
    ids.write_text(json.dumps({"probe": ["x"], "lines": ["y", "x"]}))
    assert compare.leave_out_ids(str(ids)) == {"x", "y"}
    assert compare.main([str(good), str(bad), "--leave-out", str(ids)]) == 0
    ids.write_text(json.dumps({"eval_overlap": {}}))
    with pytest.raises(SystemExit, match="common_records"):
        compare.leave_out_ids(str(ids))


def test_jobs_share_the_records_out_and_fill_them_as_one_process_does(tmp_path, tiny_model_dir,
                                                                      monkeypatch, capsys):
    monkeypatch.setattr(evaluate, "CHUNK", 2)  # several chunks per set, from both workers
    monkeypatch.setenv("INFILL_THREADS", "1")  # the same arithmetic in every process
    lines = ["def add(a, b):\n    return ", "x = 1\ny = ", "for i in range(3):\n    print(", "z = [",
             "name = ", "value = 2 * "]
    single = write_records(tmp_path / "single.jsonl", [
        {"id": f"s:{i}", "prefix": p, "suffix": "\n", "middle": "x", "language": "python"}
        for i, p in enumerate(lines)])
    tested = write_records(tmp_path / "tested.jsonl", [
        {"id": "t:0", "prefix": "x = 1\n", "suffix": "y = 2\n", "middle": "z = 3\n",
         "language": "python", "test": "assert y == 2"},
        {"id": "t:1", "prefix": "def f():\n    return ", "suffix": "\n", "middle": "1",
         "language": "python", "test": "assert f() == 1"},
        {"id": "t:2", "prefix": "a = ", "suffix": "\n", "middle": "4", "language": "python",
         "test": "assert a == 4"}])
    runs = {}
    for jobs in (1, 2):
        rows, report = tmp_path / f"rows{jobs}.jsonl", tmp_path / f"report{jobs}.json"
        assert main(["eval", str(single), str(tested), "--execute", "--jobs", str(jobs),
                     "--model", str(tiny_model_dir), "--records", str(rows), "--out", str(report)]) == 0
        printed = capsys.readouterr().out
        assert printed.startswith("model: ") and "| tested | model | 3 |" in printed
        judged = [json.loads(line) for line in rows.read_text().splitlines()]
        reports = json.loads(report.read_text())
        runs[jobs] = ([{k: v for k, v in r.items() if k != "elapsed_ms"} for r in judged],
                      [{k: v for k, v in r.items() if not k.startswith("latency")} for r in reports])
    assert runs[2] == runs[1]
    judged, reports = runs[2]
    assert [(r["set"], r["system"], r["index"]) for r in judged] == [
        ("single", system, i) for system in ("empty fill", "model") for i in range(6)] + [
        ("tested", system, i) for system in ("empty fill", "model") for i in range(3)]
    assert [r["passed"] for r in judged if r["set"] == "tested" and r["system"] == "empty fill"] == [
        True, False, False]  # the floor's tests ran in the workers
    assert [(r["name"], r["system"], r["records"]) for r in reports] == [
        ("single", "empty fill", 6), ("single", "model", 6), ("tested", "empty fill", 3),
        ("tested", "model", 3)]


def test_jobs_report_a_model_that_does_not_load_in_one_line(tmp_path, capsys):
    data = write_records(tmp_path / "d.jsonl", [{"prefix": "x = ", "suffix": "\n", "middle": "1"}])
    assert main(["eval", str(data), "--jobs", "2", "--model", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere" in err
    assert main(["eval", str(data), "--jobs", "0"]) == 2
    assert "--jobs 0" in capsys.readouterr().err


def test_generated_code_runs_only_in_a_time_limited_subprocess(monkeypatch):
    assert evaluate.run_test("x = 1", "assert x == 1")
    assert not evaluate.run_test("x = 1", "assert x == 2")
    monkeypatch.setattr(evaluate, "TEST_TIMEOUT", 0.5)
    assert not evaluate.run_test("while True: pass", "")


def test_bad_record_names_file_and_line(tmp_path):
    data = tmp_path / "d.jsonl"
    data.write_text('{"prefix": "", "suffix": "", "middle": ""}\n{"prefix": 1}\n')
    with pytest.raises(InputError) as info:
        evaluate.read_records(data)
    assert str(info.value).startswith(f"{data}:2: record lacks middle, suffix")


def test_bench_prints_reference_and_configured(tiny_model_dir, capsys):
    data = Path(__file__).resolve().parent.parent / "evalsets" / "python-single-line.jsonl"
    assert main(["bench", "--model", str(tiny_model_dir), "--data", str(data), "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "reference (1 token/pass)" in out and "reference ÷ configured" in out
    assert "machine:" in out and "date:" in out


def test_caution_stats_counts_fills_by_caution_with_their_verdicts(tmp_path, capsys):
    function = "def f(x):\n    y = x\n"
    records = [{"prefix": function, "suffix": "    return y\n", "middle": "    y += 1\n",
                "language": "python"}] * 4
    fills = ["    y += 1\n", "    return x\n", "    y = g(u, u, u)\n", "    y = x\n"]
    data, runs = tmp_path / "tiny-set.jsonl", tmp_path / "records.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in records))
    runs.write_text("".join(json.dumps({
        "set": "tiny-set", "system": "model", "index": i, "fill": fill, "passed": i == 0,
        "parse_valid": True, "exact": i == 0}) + "\n" for i, fill in enumerate(fills))
        + json.dumps({"set": "other", "system": "model", "index": 0, "fill": "    return 1\n",
                      "passed": False, "parse_valid": True, "exact": False}) + "\n")
    spec = importlib.util.spec_from_file_location(
        "caution_stats", Path(__file__).parents[1] / "scripts" / "caution_stats.py")
    stats = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stats)
    assert stats.main([str(data), str(runs)]) == 0
    rows = {line.split(" | ")[0].strip("| "): line for line in capsys.readouterr().out.splitlines()}
    assert rows["no caution"] == "| no caution | 1 | 1 of 1 | 1 of 1 | 1 of 1 |"
    assert rows["cut off"] == "| cut off | 1 | 0 of 1 | 1 of 1 | 0 of 1 |"  # other sets left out
    assert rows["repeated word"] == "| repeated word | 1 | 0 of 1 | 1 of 1 | 0 of 1 |"
    assert rows["names"] == "| names | 1 | 0 of 1 | 1 of 1 | 0 of 1 |"  # `g`, `u` bound nowhere
    assert rows["repeated line"] == "| repeated line | 1 | 0 of 1 | 1 of 1 | 0 of 1 |"


class CandidateFiller:
    """Fills with a best text and alternatives, some of them repeats of another."""

    def __init__(self, texts):
        self.texts = texts

    def fill_spans(self, text, spans, language, seed, **options):
        from infill.fills import Candidate
        best, *rest = (EchoFiller(fill).fill_spans(text, spans, language, seed) for fill in self.texts)
        others = tuple(Candidate(r.text, r.spans, -1.0, 0) for r in rest)
        return type(best)(best.text, best.spans, others, (), 0.0, 0, 6, 0.01, best.language)


def test_fill_candidates_gives_distinct_fills_best_first():
    record = {"prefix": "x = ", "suffix": "\n", "middle": "1", "language": "python"}
    filler = CandidateFiller(["1", "2", "1", "3", "2"])
    assert evaluate.fill_candidates(filler, record) == ["1", "2", "3"]


def test_pass_at_k_runs_every_candidate_against_the_tests(tmp_path, tiny_model_dir, capsys):
    # The hole is inside a string, so (almost) any fill passes the first record's test and
    # none the second's: one hole has a passing candidate, the first-ranked fill.
    data = write_records(tmp_path / "exec.jsonl", [
        {"prefix": "s = r\'\'\'", "suffix": "\'\'\'\ny = 2\n", "middle": "z", "language": "python",
         "test": "assert y == 2"},
        {"prefix": "s = r\'\'\'", "suffix": "\'\'\'\ny = 2\n", "middle": "z", "language": "python",
         "test": "assert y == 3"},
        {"prefix": "x = ", "suffix": "\n", "middle": "1", "language": "python"},  # no test: left out
    ])
    spec = importlib.util.spec_from_file_location(
        "pass_at_k", Path(__file__).parents[1] / "scripts" / "pass_at_k.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    rows = tmp_path / "rows.jsonl"
    assert script.main([str(data), "--model", str(tiny_model_dir), "--candidates", "2",
                        "--out", str(rows)]) == 0
    out = capsys.readouterr().out
    assert "2 records with tests, K = 2" in out
    assert "first-ranked fill passes: 1 of 2" in out and "some candidate passes:    1 of 2" in out
    kept = [json.loads(line) for line in rows.read_text().splitlines()]
    assert [r["index"] for r in kept] == [0, 1]
    assert all(r["passed"] == [True] * len(r["fills"]) for r in kept[:1])
    assert kept[1]["passed"] == [False] * len(kept[1]["fills"])
    assert all(len(r["fills"]) == len(set(r["fills"])) >= 1 for r in kept)
