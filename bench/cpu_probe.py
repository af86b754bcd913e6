"""How fast this machine runs Python right now, to read timings taken at different hours beside.

    python bench/cpu_probe.py

A fixed pure-Python loop (20 million multiply-adds, one process): its seconds are printed.
The project's machine (2 cores, shared with other tenants) ran it in 1.3 s on one morning and
4.4 to 5.5 s in slow hours of the days before, and every timing taken there moved with it; CI
(``.ci/run``) prints it as it starts and before the slow tests, so each run's minutes can be
read beside the machine's speed at the time. Lower is faster.
"""

from __future__ import annotations

import time

LOOPS = 20_000_000


def probe(loops: int = LOOPS) -> float:
    """Seconds of ``loops`` multiply-adds in a Python loop."""
    started = time.perf_counter()
    value = 0.0
    for _ in range(loops):
        value = value * 0.5 + 1.0
    return time.perf_counter() - started


if __name__ == "__main__":
    print(f"CPU probe: {probe():.2f} s (20 million Python multiply-adds; lower is faster)", flush=True)
