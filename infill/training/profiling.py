"""Where a training step's time goes: a few steps under ``torch.profiler``, summed up.

The trainer's ``--profile-steps N`` runs N optimizer steps (after ``--profile-after`` steps,
so that compilation and the allocator's warm-up are behind it) under the profiler and logs
one ``{"event": "profile"}`` row: wall time per step, the time the accelerator spent in
kernels (its busy share; the rest it waited for the host: Python, the data loader, launches),
the operations that took the most accelerator and host time, and, on CUDA, every place in the
Python code that made the host wait for the device (``torch.cuda.set_sync_debug_mode``), with
how often. The readable table goes to stdout too, so a device session's log carries it.

A profile is a measurement aside: ``StepProfile`` never raises. If the profiler cannot start
or summarise (no CUPTI, an API that moved), the row says so and training goes on.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from pathlib import Path

#: Rows kept in each top list of the logged summary.
TOP = 15


def error_line(error: BaseException) -> str:
    """A failure as one short log line: its type and the first line of its message (the
    trainer logs a failed ``torch.compile`` the same way)."""
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0][:300]}"


def _self_device_us(event) -> float:
    """An averaged event's own accelerator time in microseconds (the name moved in torch 2.4)."""
    return float(getattr(event, "self_device_time_total", getattr(event, "self_cuda_time_total", 0.0)) or 0.0)


def summarise(averages, steps: int, wall_s: float, device: str, syncs: list | None = None) -> dict:
    """The logged row from ``profile.key_averages()``: per-step milliseconds, top operations.

    ``syncs`` holds the caught sync warnings (CUDA); their sites are counted per ``file:line``.
    """
    per_step = max(steps, 1)
    rows = list(averages)
    device_us = sum(_self_device_us(e) for e in rows)
    host = sorted(rows, key=lambda e: e.self_cpu_time_total, reverse=True)[:TOP]
    out = {
        "event": "profile",
        "device": device,
        "steps": steps,
        "wall_ms_per_step": round(1000 * wall_s / per_step, 2),
        "top_host": [[e.key[:80], round(e.self_cpu_time_total / 1000 / per_step, 3), e.count // per_step]
                     for e in host],
    }
    if device == "cuda":
        busy_ms = device_us / 1000 / per_step
        on_device = sorted((e for e in rows if _self_device_us(e) > 0), key=_self_device_us, reverse=True)[:TOP]
        out["device_busy_ms_per_step"] = round(busy_ms, 2)
        out["device_busy_share"] = round(busy_ms / max(out["wall_ms_per_step"], 1e-9), 3)
        out["top_device"] = [[e.key[:80], round(_self_device_us(e) / 1000 / per_step, 3), e.count // per_step]
                             for e in on_device]
        sites = Counter(f"{Path(w.filename).name}:{w.lineno}" for w in syncs or [])
        out["syncs_per_step"] = round(sum(sites.values()) / per_step, 2)
        out["sync_sites"] = dict(sites.most_common(TOP))
    return out


class StepProfile:
    """Profile the optimizer steps ``[start, start + steps)`` of a run; see the module doc."""

    def __init__(self, device: str, start: int, steps: int) -> None:
        self.device, self.start_step, self.steps = device, start, steps
        self.profile = self.caught = self.catcher = None
        self.t0 = 0.0
        self.done = steps <= 0

    @property
    def active(self) -> bool:
        """True between ``begin`` and ``end``."""
        return self.profile is not None

    def due(self, step: int) -> bool:
        """True when profiling should begin before this step."""
        return not self.done and not self.active and step >= self.start_step

    def finished(self, step: int) -> bool:
        """True when profiling is on and ``step`` steps have been taken: time to summarise."""
        return self.active and step >= self.start_step + self.steps

    def begin(self, step: int) -> dict | None:
        """Start profiling; returns a ``profile_failed`` row instead of raising."""
        import torch

        try:
            self.start_step = step
            activities = [torch.profiler.ProfilerActivity.CPU]
            if self.device == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
                torch.cuda.synchronize()
            self.profile = torch.profiler.profile(activities=activities)
            self.profile.__enter__()
            if self.device == "cuda":
                self.catcher = warnings.catch_warnings(record=True)
                self.caught = self.catcher.__enter__()
                warnings.simplefilter("always")
                torch.cuda.set_sync_debug_mode("warn")
            self.t0 = time.perf_counter()
            return None
        except Exception as error:  # a measurement must never stop training
            return self._fail(step, error)

    def end(self, step: int) -> dict:
        """Stop profiling and return the summary row (or a ``profile_failed`` row)."""
        import torch

        try:
            syncs = self._release_syncs()  # first: the synchronize below is not the step's
            if self.device == "cuda":
                torch.cuda.synchronize()
            wall = time.perf_counter() - self.t0
            self.profile.__exit__(None, None, None)
            averages = self.profile.key_averages()
            row = {**summarise(averages, step - self.start_step, wall, self.device, syncs), "step": self.start_step}
            self.profile, self.done = None, True
        except Exception as error:
            return self._fail(step, error)
        try:  # the readable table, for the log; the row above already holds the figures
            key = "self_cuda_time_total" if self.device == "cuda" else "self_cpu_time_total"
            print(averages.table(sort_by=key, row_limit=25, max_name_column_width=60), flush=True)
        except Exception as error:
            print(f"profile table: {type(error).__name__}: {error}", flush=True)
        return row

    def _release_syncs(self) -> list:
        """Turn the sync warnings off again and hand over what was caught."""
        caught = list(self.caught or [])
        if self.catcher is not None:
            import torch

            torch.cuda.set_sync_debug_mode(0)
            self.catcher.__exit__(None, None, None)
            self.catcher = self.caught = None
        return [w for w in caught if "synchroniz" in str(w.message)]

    def _fail(self, step: int, error: Exception) -> dict:
        """Undo whatever was started and describe the failure as a log row."""
        try:
            self._release_syncs()
        except Exception:
            pass
        if self.profile is not None:
            try:
                self.profile.__exit__(None, None, None)
            except Exception:
                pass
        self.profile, self.done = None, True
        return {"event": "profile_failed", "step": step, "error": error_line(error)}
