"""How long is the write window that ``infill.patch.apply_patch`` leaves open?

The guarded write reads the target again after the temporary file is fsynced and replaces it
right after. An edit saved between the end of that read and the end of ``os.replace`` is
still overwritten: this measures that interval (and, for comparison, the fsync that used to
sit inside the window). Usage: ``python scripts/measure_write_window.py [DIR] [RUNS]``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time


def main() -> None:
    where = sys.argv[1] if len(sys.argv) > 1 else tempfile.gettempdir()
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    directory = tempfile.mkdtemp(prefix="infill-window-", dir=where)
    target = os.path.join(directory, "a.py")
    data = b"x = 1\n" * 700  # about 4 KB, a typical source file
    with open(target, "wb") as handle:
        handle.write(data)
    window, syncs = [], []
    for _ in range(runs):
        fd, temporary = tempfile.mkstemp(dir=directory, suffix=".infill")
        os.write(fd, data)
        started = time.perf_counter_ns()
        os.fsync(fd)
        syncs.append(time.perf_counter_ns() - started)
        os.close(fd)
        with open(target, "rb") as handle:
            same = handle.read() == data
        read_done = time.perf_counter_ns()
        assert same
        os.replace(temporary, target)
        window.append(time.perf_counter_ns() - read_done)
    window.sort()
    syncs.sort()
    print(f"runs {runs} in {directory}")
    print(f"window left (re-check read done -> rename done): median "
          f"{statistics.median(window) / 1e3:.0f} us, p95 {window[int(0.95 * runs)] / 1e3:.0f} us")
    print(f"fsync of the temporary file (was inside the window): median "
          f"{statistics.median(syncs) / 1e3:.0f} us, p95 {syncs[int(0.95 * runs)] / 1e3:.0f} us")


if __name__ == "__main__":
    main()
