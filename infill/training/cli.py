"""``infill train STEP ...``: the house-model pipeline behind one command.

    infill train corpus --out corpus [--source KIND:PATH ...]     build the corpus
    infill train evalsets --corpus corpus --out evalsets           held-out evaluation sets
    infill train exec-evalset --corpus data --out evalsets/python-exec.jsonl   doctest-checked holes
    infill train tokenizer --corpus corpus --out runs/tokenizer    byte-level BPE
    infill train train --corpus corpus --tokenizer DIR --out DIR --size v0-cpu ...

Each step is also a module (``python -m infill.training.corpus`` and so on); this only
dispatches, so a training machine needs nothing beyond torch, transformers and tokenizers.
"""

from __future__ import annotations

import sys

STEPS = ("corpus", "evalsets", "exec-evalset", "tokenizer", "train")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in STEPS:
        print(__doc__.strip().replace("``", "'"), file=sys.stderr if argv and argv[0] not in ("-h", "--help") else sys.stdout)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    step, rest = argv[0], list(argv[1:])
    if step == "corpus":
        from infill.training.corpus import main as run
        return run(rest) or 0
    if step == "evalsets":
        from infill.training.evalsets import main as run
        return run(rest) or 0
    if step == "exec-evalset":
        from infill.training.exec_evalset import main as run
        return run(rest) or 0
    from infill.training.trainer import main as run
    return run([step] + rest) or 0
