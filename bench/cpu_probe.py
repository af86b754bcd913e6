"""How fast this machine runs Python right now, to read timings taken at different hours beside.

    python bench/cpu_probe.py

A fixed pure-Python loop (20 million multiply-adds in a function, one process): its seconds
are printed, lower is faster. On the project's machine (2 cores, shared with other tenants) it
took 0.6 to 0.9 s on the morning of 2026-12-08, when CI ran in under 15 minutes; the probe of the
days before (a loop of the same size, its script not kept) took 4.4 to 5.5 s in the slow hours
when CI took 29 to 42 minutes, and every timing taken there moved with it. CI (``.ci/run``)
prints it as it starts, before the slow tests and at its end, so each run's minutes can be read
beside the machine's speed at the time.
"""

from __future__ import annotations

import argparse
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
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    print(f"CPU probe: {probe():.2f} s (20 million Python multiply-adds; lower is faster)", flush=True)
