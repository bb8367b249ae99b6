#!/usr/bin/env bash
# One prepared command for one accelerator session: build the corpus, train to a deadline,
# and keep a compact, loadable checkpoint bundle in $OUT the whole time.
#
#   OUT=$OUT scripts/train_gpu.sh                # on the device machine, from the repo root
#   python -m infill.training.bundle unpack OUT_BACK models/new   # here, afterwards
#
# Budget (docs/TRAINING.md): one command of at most 10 minutes inside 15 minutes of device
# time (the machine's start included); at most 8 files of 16 MiB (64 MiB) come back from
# $OUT. So the command ends by itself DEADLINE seconds after it starts (default 540), and
# $OUT holds only the corpus's corpus_stats.json and the bundle of infill/training/bundle.py:
# the model's bf16 safetensors shards (15 MB at most; four for v1-h200), meta.tar (configs)
# and train_log.jsonl. The bundle is rewritten at every save (every SAVE_MINUTES, and at the
# end), file by file through a rename, so a command cut at its limit still returns the last
# complete one.
# The full state (float32 weights and AdamW moments, safetensors + JSON, no pickles) stays
# in $RUN/state on the machine: the same command run again on the same machine resumes it.
# On a fresh machine, continue from a checkpoint with INIT=DIR (weights only; a fresh
# optimiser, warm-up and cosine), e.g. the shipped model carried by scripts/device_pack.py
# (docs/TRAINING.md section 4), with another SEED so that batches and masks differ.
#
# The corpus is built on the machine: its own Python files (stdlib, site-packages) plus the
# licence-checked shards of every other language carried in data/. That machine's versions
# of the held-out files differ from ours, so besides the near-duplicate check the build
# drops training files that copy a hole of evalsets/ verbatim (--exclude-overlap). The
# tokenizer is the committed one in data/tokenizer, so every house model shares token ids.
#
# Environment (defaults in brackets):
#   OUT [runs/h200/out]   the bundle folder (the device tool's $OUT)
#   RUN [runs/h200]       run folder: corpus/, state/, checkpoint/, train.out
#   DEADLINE [540]        seconds from start until this command has finished
#   SIZE [v1-h200]  SEQ [512]  BATCH [256]  LR [2e-3]  WARMUP [300]  SAVE_MINUTES [3]
#   SOURCES ["stdlib: site-packages: shards:data"]   corpus sources (corpus.py)
#   MAX_LANGUAGE_BYTES [40000000]   training bytes per language in the corpus
#   PYTHON_BYTES [200000000]        Python's training bytes instead (most evaluation sets are
#                                   Python; at 40 MB it was about a fifth of v1's examples)
#   INIT []               a checkpoint folder to start from   SEED [0]   PYTHON [python3]
#   PROFILE_STEPS [5]     steps 20.. under torch.profiler: a "profile" row in train_log.jsonl
#                         (kernel time, busy share, the lines that make the host wait) and
#                         the profiler's table in the log; 0: none (infill/training/profiling.py)
#   EXTRA []              more trainer flags (e.g. "--device cpu --max-steps 5")
set -euo pipefail
START=$(date +%s)
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${OUT:-runs/h200/out}
RUN=${RUN:-runs/h200}
DEADLINE=${DEADLINE:-540}
SIZE=${SIZE:-v1-h200}
SEQ=${SEQ:-512}
BATCH=${BATCH:-256}
LR=${LR:-2e-3}
WARMUP=${WARMUP:-300}
SAVE_MINUTES=${SAVE_MINUTES:-3}
SEED=${SEED:-0}
PROFILE_STEPS=${PROFILE_STEPS:-5}
SOURCES=${SOURCES:-"stdlib: site-packages: shards:data"}
MAX_LANGUAGE_BYTES=${MAX_LANGUAGE_BYTES:-40000000}
PYTHON_BYTES=${PYTHON_BYTES:-200000000}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
mkdir -p "$OUT" "$RUN"
# A packed tree (scripts/device_pack.py) has neither models/ nor evalsets/ until unpacked:
# say so now, not after a minute of corpus building.
if [ -n "${INIT:-}" ] && [ ! -f "$INIT/config.json" ]; then
  echo "train_gpu.sh: INIT=$INIT: no checkpoint there (config.json); a packed tree needs" \
       "'python3 scripts/device_pack.py unpack' first" >&2
  exit 2
fi
if [ ! -f "$RUN/corpus/stats.json" ] && [ ! -d evalsets ]; then
  echo "train_gpu.sh: evalsets/: missing (the corpus build leaves out its holes); a packed" \
       "tree needs 'python3 scripts/device_pack.py unpack' first" >&2
  exit 2
fi

if [ ! -f "$RUN/corpus/stats.json" ]; then
  src=()
  for s in $SOURCES; do src+=(--source "$s"); done
  "$PY" -m infill.training.corpus --out "$RUN/corpus" "${src[@]}" \
      --max-bytes-per-language "$MAX_LANGUAGE_BYTES" --language-cap "python=$PYTHON_BYTES" \
      --exclude-overlap evalsets 2>&1 | tee "$RUN/corpus.out"
fi
# What the corpus holds (languages, licences, the evaluation holes it repeats) comes back too.
cp "$RUN/corpus/stats.json" "$OUT/corpus_stats.json.tmp" && mv "$OUT/corpus_stats.json.tmp" "$OUT/corpus_stats.json"

# Minutes of training left: the deadline less what has been spent, less a margin for
# start-up (data, held-out batches) and the final evaluation and save: 34 s in v1's run on
# the H200 (508 s of 540 with a 65 s margin), so 7% of the deadline (38 s at 540). A resumed
# run's budget counts its earlier sessions too.
MINUTES=$("$PY" - "$RUN" "$START" "$DEADLINE" <<'EOF'
import json, sys, time
from pathlib import Path
run, start, deadline = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
left = deadline - (time.time() - start) - max(20.0, 0.07 * deadline)
before = 0.0
state = run / "state" / "state.json"
if state.exists():
    before = json.loads(state.read_text())["elapsed"]
print(f"{max(0.05, (before + left) / 60):.3f}")
EOF
)
echo "training for up to $MINUTES minutes (deadline ${DEADLINE}s)"
init=()
[ -n "${INIT:-}" ] && init=(--init-from "$INIT")
# shellcheck disable=SC2086
"$PY" -m infill.training.trainer train --corpus "$RUN/corpus" --tokenizer data/tokenizer --out "$RUN" \
    --size "$SIZE" --seq-len "$SEQ" --batch-size "$BATCH" --lr "$LR" --warmup-steps "$WARMUP" --seed "$SEED" \
    --max-minutes "$MINUTES" --eval-every 500 --log-every 50 --save-every-minutes "$SAVE_MINUTES" \
    --profile-steps "$PROFILE_STEPS" --export "$OUT" --resume "${init[@]}" ${EXTRA:-} 2>&1 | tee "$RUN/train.out"
echo "done in $(( $(date +%s) - START ))s; bundle in $OUT:"
ls -l "$OUT"
