"""CPU settings for inference: threads (``INFILL_THREADS``) and dtype (``INFILL_DTYPE``).

Threads: all cores but one by default. The editor's UI and the OS need a core, and OpenMP
threads that compete for a busy core spin-wait (measured on a loaded 2-core machine: a
2-thread fill ran 25x slower than a 1-thread one).

Dtype: bfloat16 where the CPU multiplies bf16 natively (AVX512-BF16 or AMX), float32
elsewhere. Measured on an AMD EPYC with avx512_bf16 and no AMX, the house model's pass ran
about twice as fast in bf16; CPUs without these instructions emulate bf16 and are slower
than float32 with it. ``INFILL_DTYPE=float32|bfloat16|auto`` forces a choice.
"""

from __future__ import annotations

import os
from pathlib import Path

from infill.errors import ModelError

DTYPES = ("auto", "float32", "bfloat16")


def cpu_threads() -> int:
    """Threads for inference on the CPU; a bad ``INFILL_THREADS`` is an error (exit 2)."""
    wanted = os.environ.get("INFILL_THREADS")
    if wanted is None or wanted.strip() == "":
        return max(1, (os.cpu_count() or 2) - 1)
    try:
        threads = int(wanted.strip())
    except ValueError:
        threads = 0
    if threads < 1 or str(threads) != wanted.strip().lstrip("+"):
        raise ModelError(f"INFILL_THREADS={wanted!r}: expected a whole number of threads, at least 1 "
                         "(unset it to use all cores but one)")
    return threads


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.partition(":")[2].split())
    return set()


def cpu_does_bf16(flags: set[str] | None = None) -> bool:
    """True where bf16 matmuls are native: AVX512-BF16 or AMX-BF16."""
    flags = cpu_flags() if flags is None else flags
    return bool({"avx512_bf16", "amx_bf16"} & flags)


def pick_dtype(device: str, requested: str | None = None) -> str:
    """``float32`` or ``bfloat16`` for running on ``device``."""
    requested = requested or os.environ.get("INFILL_DTYPE") or "auto"
    if requested not in DTYPES:
        raise ModelError(f"INFILL_DTYPE={requested!r}: choose from {', '.join(DTYPES)}")
    if requested != "auto":
        return requested
    if device == "cuda":
        return "bfloat16"
    if device == "cpu":
        return "bfloat16" if cpu_does_bf16() else "float32"
    return "float32"
