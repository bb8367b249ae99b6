#!/usr/bin/env bash
# Train (or resume) the full-size house model, detached, from a clean checkout.
#
#   scripts/train_gpu.sh [MINUTES]          follow with: tail -f runs/v1/train.out
#
# Builds the corpus first if corpus/ is missing: this machine's own Python files plus the
# compressed shards of the other languages in data/ (the GPU machine has only a Python
# environment). Uses the committed tokenizer in data/tokenizer so v0 and v1 share token ids.
# Resumes from runs/v1/state.pt when it exists (saved every few minutes), so a stretch of GPU
# time that ends mid-run loses at most a few minutes. The checkpoint is written to
# runs/v1/checkpoint/ as safetensors shards of at most 15 MB.
#
# Environment: PYTHON (default python3), SIZE (default v1-gpu; "tiny" for a CPU smoke run),
# BATCH (default 64), OUT (default runs/v1).
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES=${1:-20}
PY=${PYTHON:-python3}
SIZE=${SIZE:-v1-gpu}
BATCH=${BATCH:-64}
OUT=${OUT:-runs/v1}
mkdir -p "$OUT"
setsid nohup bash -c "
  set -e
  [ -f corpus/stats.json ] || PYTHONPATH=. $PY -m infill.training.corpus --out corpus \
      --source stdlib: --source site-packages: --source shards:data
  PYTHONPATH=. exec $PY -m infill.training.trainer train --corpus corpus --tokenizer data/tokenizer \
      --out $OUT --size $SIZE --batch-size $BATCH --lr 1.5e-3 --warmup-steps 500 \
      --max-minutes $MINUTES --eval-every 500 --save-every-minutes 3 --resume
" > "$OUT/train.out" 2>&1 < /dev/null &
echo "started (pid $!); tail -f $OUT/train.out"
