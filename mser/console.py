"""What every layer says to the user: one-line notes, progress of long work, durations, and the
exit statuses of an interrupted command. Kept in the science package so that a search, a
tracking helper and a command print alike (it imports nothing of the project's)."""

from __future__ import annotations

import signal
import sys
import time
from contextlib import contextmanager
from typing import Callable, Iterator, TextIO

from tqdm import tqdm

#: Exit status after Ctrl-C, and after SIGTERM (128 + the signal's number, as a shell reports them).
INTERRUPTED_EXIT, TERMINATED_EXIT = 130, 128 + signal.SIGTERM


@contextmanager
def progress_bar(description: str, unit: str, *, stream: TextIO | None = None,
                 every: float = 10.0) -> Iterator[Callable[[int, int], None]]:
    """A ``progress(done, total)`` callback: a bar on a terminal; elsewhere (a log file, a
    pipe) a line when the work starts, then at most every ``every`` seconds and when it ends,
    with the count, the share done and, from the pace so far, roughly what is left."""
    stream = sys.stderr if stream is None else stream
    if stream.isatty():
        bar: tqdm | None = None

        def update(done: int, total: int) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(total=total, desc=description, unit=f" {unit}", file=stream, leave=False)
            bar.update(done - bar.n)

        try:
            yield update
        finally:
            if bar is not None:
                bar.close()
        return
    started = time.monotonic()
    printed: list[float] = []

    def line(done: int, total: int) -> None:
        now = time.monotonic()
        finished = total > 0 and done >= total
        if printed and not finished and now - printed[-1] < every:
            return
        elapsed = now - started
        share = f" ({100 * done / total:.0f}%)" if total else ""
        left = (f", about {duration(elapsed / done * (total - done))} left"
                if 0 < done < total and elapsed >= 1 else "")
        print(f"{description}: {done}/{total} {unit}{share}, {duration(elapsed)}{left}", file=stream, flush=True)
        printed.append(now)

    yield line


def duration(seconds: float) -> str:
    """A duration as a person reads it: ``41 s``, ``5 min``, ``1.2 h``."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 else \
        f"{seconds / 3600:.1f} h"


def note(message: str) -> None:
    """One line for the user on stderr, so stdout stays clean for tables and JSON."""
    print(message, file=sys.stderr, flush=True)
