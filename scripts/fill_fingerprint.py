"""Fingerprint the engine's fills, to check that a refactor or a speed-up changes nothing.

    python scripts/fill_fingerprint.py OUT.json [--model DIR]   # default: a tiny test model
    python scripts/fill_fingerprint.py --compare A.json B.json

Fills a fixed set of inputs (holes, capped holes, rewrites at strength 1 and 0.5, several
windows, K candidates, every strategy, temperatures and top-k) with fixed seeds and writes
the texts, scores, forward passes and every frame. Two fingerprints of the same model must
be equal for a behaviour-preserving change. Run it before and after (e.g. from a
``git archive`` of the old commit on ``PYTHONPATH``). Offline; CPU; one thread.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

CASES = [
    ("def add(a, b):\n    return __FILL__\n", {}),
    ("def add(a, b):\n    return __FILL__\n", {"steps": 3}),
    ("x = __FILL__\ny = __FILL_1__\n", {"candidates": 3}),
    ("x = __FILL__\n", {"candidates": 4, "temperature": 0.7}),
    ("a = 1\n# >>> infill\nb = 2\n# <<< infill\nc = 3\n", {"strategy": "threshold", "threshold": 0.3}),
    ("a = 1\n# >>> infill strength=0.5\nb = 2\nc = 3\n# <<< infill\n", {}),
    ("fn main() { __FILL__ }\n", {"temperature": 1.0, "top_k": 5}),
    ("a = __FILL__\n" + "x = 1\n" * 200 + "b = __FILL__\n", {}),
]
STRATEGY_CASE = "def f(xs):\n    return __FILL__\n"


def fingerprint(filler) -> list:
    from infill.errors import InputError

    strategies = ("confidence", "threshold", "margin", "entropy", "random")
    cases = list(CASES) + [(STRATEGY_CASE, {"strategy": name, "steps": 4}) for name in strategies]
    out = []
    for text, options in cases:
        for seed in (0, 5):
            live = []
            try:
                result = filler.fill_text(text, seed=seed, on_frame=live.append, **options)
            except InputError as error:  # a strategy this version does not have
                out.append({"case": [text[:40], options, seed], "error": str(error)})
                continue
            out.append({
                "case": [text[:40], options, seed], "text": result.text,
                "spans": [[s.text, round(s.confidence, 5), s.start, s.end, s.tokens]
                          for s in result.spans],
                "candidates": [[c.text, round(c.score, 5), c.parse_errors] for c in result.candidates],
                "score": round(result.score, 5), "passes": result.forward_passes,
                "frames": [_frame(f) for f in result.trajectory],
                "live": [_frame(f) for f in live],
            })
    return out


def _frame(frame) -> list:
    return [frame.step, frame.round,
            [[s.span, s.text, s.state, round(s.confidence, 5), s.null] for s in frame.slots]]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?")
    parser.add_argument("--model", help="checkpoint directory (default: a tiny test model)")
    parser.add_argument("--compare", nargs=2, metavar="JSON")
    args = parser.parse_args(argv)
    if args.compare:
        a, b = ({json.dumps(x["case"]): x for x in json.load(open(p))} for p in args.compare)
        common = [key for key in a if key in b and "error" not in a[key] and "error" not in b[key]]
        differ = [key for key in common if a[key] != b[key]]
        for key in differ:
            print("differs:", key)
        for key in set(a) ^ set(b):
            print("only in one:", key)
        print(f"{len(common) - len(differ)} of {len(common)} common cases identical")
        return 1 if differ else 0
    if not args.out:
        parser.error("OUT.json is required (or --compare A B)")
    os.environ.setdefault("INFILL_THREADS", "1")
    import infill
    from infill.testing import make_tiny_model

    model = args.model or str(make_tiny_model(tempfile.mkdtemp(prefix="infill-tiny-")))
    print(f"infill from {infill.__file__}, model {model}", file=sys.stderr)
    with open(args.out, "w", encoding="utf-8") as out:
        json.dump(fingerprint(infill.load(model, device="cpu")), out, indent=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
