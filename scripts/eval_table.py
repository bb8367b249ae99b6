"""Before/after table from `infill eval --out` reports: one row per set and system.

    python scripts/eval_table.py [--labels BEFORE AFTER] before.json [...] -- after.json [...]

The rows are labelled "before" and "after" unless ``--labels`` names the two systems.
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
    labels = ("before", "after")
    if argv[:1] == ["--labels"]:
        labels, argv = (argv[1], argv[2]), argv[3:]
    cut = argv.index("--")
    before, after = rows(argv[:cut]), rows(argv[cut + 1:])
    print("| set | n | system | pass@1 | exact | one-line | parse-valid | blank | len/true |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    names = list(dict.fromkeys(name for name, _ in list(before) + list(after)))
    for name in names:
        floor = after.get((name, "empty fill")) or before.get((name, "empty fill"))
        for label, r in (("empty fill (floor)", floor), (labels[0], before.get((name, "model"))),
                         (labels[1], after.get((name, "model")))):
            if r is None:
                continue
            ratio = "—" if r["length_ratio"] is None else f"{r['length_ratio']:.2f}"
            print(f"| {name} | {r['records']} | {label} | {pct(r['pass_rate'])} | {pct(r['exact'])} | "
                  f"{pct(r['one_line'])} | {pct(r['parse_valid'])} | {pct(r['blank'])} | {ratio} |")


if __name__ == "__main__":
    main(sys.argv[1:])
