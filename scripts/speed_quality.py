"""Quality against forward passes: sampler schedules on the held-out evaluation sets.

For each record of ``evalsets/`` (``--per-set`` records of each set, from ``--offset``), every
schedule fills the same hole; the schedules run one after the other per record, so load on
the machine shifts them alike. Reported per schedule: exact match, parse-valid rate, forward
passes per filled token and per fill, CPU time per fill (p50). Writes JSON (``--out``) and,
with ``--plot``, a PNG of exact match and parse-valid against passes per filled token.

    python scripts/speed_quality.py --per-set 40 --offset 100 --out docs/speed-quality.json \\
        --plot docs/speed-quality.png

Schedules are sampler options as JSON (``--schedules FILE.json``: ``{"name": {options}}``),
or the built-in sweep of τ, steps and cache refresh. Calibrate on one slice of records
(``--offset 0``) and report on another. Never run this on HumanEval or MBPP.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETS = ["python-single-line", "python-multi-line", "javascript-single-line",
        "typescript-single-line", "rust-single-line", "go-single-line", "c-single-line"]
REFERENCE = {"strategy": "confidence", "cache_refresh": 1}


def default_schedules() -> dict[str, dict]:
    """The sweep of docs/speed-quality.png: τ, steps and the cache refresh."""
    out = {"reference": dict(REFERENCE)}
    for tau in (0.9, 0.5):
        out[f"parallel τ={tau}"] = {"strategy": "parallel", "threshold": tau, "cache_refresh": 1}
    for refresh in (4, 8):
        out[f"parallel τ=0.9 cache {refresh}"] = {"strategy": "parallel", "threshold": 0.9,
                                                  "cache_refresh": refresh}
    out["threshold τ=0.9 cache 4"] = {"strategy": "threshold", "threshold": 0.9, "cache_refresh": 4}
    for steps in (1, 2):
        out[f"confidence steps={steps}"] = {"strategy": "confidence", "steps": steps, "cache_refresh": 1}
    return out


def run(filler, records: list[dict], schedules: dict[str, dict]) -> dict[str, dict]:
    from infill import syntax
    from infill.markers import HOLE, Span
    from infill.options import FillOptions

    stats = {name: {"n": 0, "exact": 0, "valid": 0, "valid_of": 0, "passes": 0, "tokens": 0,
                    "cpu": []} for name in schedules}
    for record in records:
        prefix, suffix, middle = record["prefix"], record["suffix"], record["middle"]
        span = [Span(len(prefix), len(prefix), HOLE)]
        base = syntax.count_errors(prefix + middle + suffix, record.get("language", "unknown"))
        for name, options in schedules.items():
            start = time.process_time()
            result = filler.fill_spans(prefix + suffix, span, record.get("language"), 0,
                                       options=FillOptions(**options))
            s = stats[name]
            s["cpu"].append(time.process_time() - start)
            fill = result.spans[0].text
            s["n"] += 1
            s["exact"] += fill.strip() == middle.strip()
            s["passes"] += result.forward_passes
            s["tokens"] += max(1, result.spans[0].tokens)
            if base == 0:
                s["valid_of"] += 1
                s["valid"] += syntax.count_errors(prefix + fill + suffix, result.language) == 0
    return {name: {"options": schedules[name], "records": s["n"],
                   "exact": s["exact"] / max(s["n"], 1),
                   "parse_valid": s["valid"] / max(s["valid_of"], 1),
                   "passes_per_token": s["passes"] / max(s["tokens"], 1),
                   "passes_per_fill": s["passes"] / max(s["n"], 1),
                   "cpu_p50_ms": 1000 * statistics.median(s["cpu"] or [0.0])}
            for name, s in stats.items()}


def plot(report: dict, out: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for ax, key, label in ((axes[0], "exact", "exact match (%)"),
                           (axes[1], "parse_valid", "parse-valid (%)")):
        for i, (name, row) in enumerate(report.items()):
            family = name.split(" ")[0]
            marker = {"reference": "*", "threshold": "o", "confidence": "s", "parallel": "D"}.get(family, "^")
            ax.scatter(row["passes_per_token"], 100 * row[key], marker=marker, s=60 if marker != "*" else 160)
            ax.annotate(name, (row["passes_per_token"], 100 * row[key]), fontsize=7,
                        xytext=(5, 9 - 9 * (i % 3)), textcoords="offset points")
        ax.set_xlabel("forward passes per filled token (lower is faster)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    import textwrap

    fig.suptitle("\n".join(textwrap.wrap(title, 140)), fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(SETS))
    parser.add_argument("--per-set", type=int, default=40)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--schedules", help="JSON file {name: options}")
    parser.add_argument("--model")
    parser.add_argument("--out")
    parser.add_argument("--plot")
    parser.add_argument("--replot", metavar="JSON", help="only draw --plot from a saved --out")
    args = parser.parse_args(argv)
    if args.replot:
        saved = json.loads(Path(args.replot).read_text())
        plot(saved["report"], Path(args.plot), saved["header"])
        return 0

    import infill
    from infill.evaluate import read_records

    schedules = json.loads(Path(args.schedules).read_text()) if args.schedules else default_schedules()
    records = []
    for name in args.sets.split(","):
        rows = read_records(ROOT / "evalsets" / f"{name}.jsonl", args.offset + args.per_set)
        records += rows[args.offset:]
    filler = infill.load(args.model, device="cpu")
    report = run(filler, records, schedules)
    dtype = getattr(filler.denoiser, "dtype", "float32")
    header = (f"{time.strftime('%Y-%m-%d', time.gmtime())}, {filler.info.name} ({filler.info.backend}, "
              f"{dtype}), {len(records)} records: {args.per_set} from #{args.offset} of {args.sets}")
    print(header)
    print("| schedule | exact | parse-valid | passes/token | passes/fill | CPU p50 ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, row in report.items():
        print(f"| {name} | {100 * row['exact']:.1f}% | {100 * row['parse_valid']:.1f}% | "
              f"{row['passes_per_token']:.2f} | {row['passes_per_fill']:.2f} | {row['cpu_p50_ms']:.0f} |")
    if args.out:
        Path(args.out).write_text(json.dumps({"header": header, "command": sys.argv,
                                              "report": report}, indent=2) + "\n")
    if args.plot:
        plot(report, Path(args.plot), header)
    return 0


if __name__ == "__main__":
    sys.exit(main())
