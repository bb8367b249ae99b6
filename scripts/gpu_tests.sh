#!/usr/bin/env bash
# The backends' own tests on the device machine's GPU: the native LLaDA/Dream/DreamOn
# forwards and samplers against the official references (float32, bf16, padded batches,
# SDPA attention) and the house model's native forward against transformers', its context
# cache, bf16, and the whole engine filling there (tests/test_native_forward.py,
# tests/test_house_forward.py, retargeted by INFILL_TEST_DEVICE). On the CPU these files
# are part of the ordinary suite.
#
#   OUT=$OUT bash scripts/gpu_tests.sh        # device `run`; models/house must be unpacked
#
# The log goes to $OUT/gpu_tests.log (it comes back even when the command is cut).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/gpu-tests}
mkdir -p "$OUT"
export INFILL_TEST_DEVICE=${INFILL_TEST_DEVICE:-cuda} PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
"${PYTHON:-python3}" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
    2>&1 | tee "$OUT/gpu_tests.log"
"${PYTHON:-python3}" -m pytest -q -p no:cacheprovider -rfE tests/test_native_forward.py tests/test_house_forward.py \
    2>&1 | tee -a "$OUT/gpu_tests.log"
