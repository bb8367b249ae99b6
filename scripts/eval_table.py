"""Before/after table from `infill eval --out` reports: one row per set and system.

    python scripts/eval_table.py before.json [before-exec.json] -- after.json [after-exec.json]
"""
import json
import sys


def rows(paths):
    out = {}
    for path in paths:
        for r in json.load(open(path)):
            out[(r["name"], r["system"])] = r
    return out


def pct(x):
    return "—" if x is None else f"{100 * x:.1f}%"


def main(argv):
    cut = argv.index("--")
    before, after = rows(argv[:cut]), rows(argv[cut + 1:])
    print("| set | n | system | pass@1 | exact | one-line | parse-valid | blank | len/true |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    names = list(dict.fromkeys(name for name, _ in list(before) + list(after)))
    for name in names:
        floor = after.get((name, "empty fill")) or before.get((name, "empty fill"))
        for label, r in (("empty fill (floor)", floor), ("v0 before", before.get((name, "model"))),
                         ("after", after.get((name, "model")))):
            if r is None:
                continue
            ratio = "—" if r["length_ratio"] is None else f"{r['length_ratio']:.2f}"
            print(f"| {name} | {r['records']} | {label} | {pct(r['pass_rate'])} | {pct(r['exact'])} | "
                  f"{pct(r['one_line'])} | {pct(r['parse_valid'])} | {pct(r['blank'])} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1:])
