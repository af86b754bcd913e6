"""Noticing, within a bounded time, that the tracking server a long job logs to is gone.

MLflow retries each request to a server that does not answer for minutes (its
``MLFLOW_HTTP_REQUEST_MAX_RETRIES``), which rides out a restart but leaves a job whose server
is gone for good waiting, request after request. :class:`ServerWatch` asks the server's
health check every few seconds in a thread of its own; once it has not answered for
``lost_after`` seconds it calls ``on_lost`` (a search stops as on Ctrl-C, keeping its state for
``--resume``), and the job says so in one line.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Callable

from mser.errors import MserError
from tracking.store import server_answers

#: Seconds without an answer after which the server counts as lost (``$MSER_SERVER_LOST_SECONDS``).
LOST_AFTER_SECONDS = 120.0
#: Seconds between two health checks.
CHECK_EVERY_SECONDS = 5.0
#: MLflow's retries of one request to a server that does not answer (about 30 s in all, where
#: its default, 7, waits about 4 minutes), so that a process stops within a bound once the
#: server is lost; a brief restart is still ridden out.
HTTP_RETRIES = "4"


class TrackingServerLost(MserError):
    """The tracking server stopped answering during a job."""

    exit_code = 1


def lost_after_seconds() -> float:
    text = os.environ.get("MSER_SERVER_LOST_SECONDS", "")
    try:
        return float(text) if text else LOST_AFTER_SECONDS
    except ValueError:
        raise MserError(f"MSER_SERVER_LOST_SECONDS={text!r} is not a number of seconds") from None


def bound_http_retries(env: dict[str, str] | None = None) -> dict[str, str]:
    """MLflow's retry setting for a job's processes (the user's own setting wins), set in
    ``env`` (default: this process's environment) and returned, for workers to receive too."""
    target = os.environ if env is None else env
    target.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", HTTP_RETRIES)
    return {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": target["MLFLOW_HTTP_REQUEST_MAX_RETRIES"]}


class ServerWatch:
    """A context manager that watches the tracking server at ``uri`` (a no-op for a local store).

    Attributes:
        lost_since: When the server last answered before it was taken as lost (``time.time()``),
            or None while it answers.
    """

    def __init__(self, uri: str, on_lost: Callable[[], None], *, lost_after: float | None = None,
                 every: float = CHECK_EVERY_SECONDS) -> None:
        self.uri, self.on_lost, self.every = uri, on_lost, every
        self.lost_after = lost_after_seconds() if lost_after is None else lost_after
        self.lost_since: float | None = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="tracking-server-watch", daemon=True)

    def __enter__(self) -> ServerWatch:
        if self.uri.startswith(("http://", "https://")):
            self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()

    def _watch(self) -> None:
        answered = time.time()
        while not self._done.wait(self.every):
            if server_answers(self.uri, timeout=min(self.every, 5.0)):
                answered = time.time()
            elif time.time() - answered >= self.lost_after:
                self.lost_since = answered
                self.on_lost()
                return

    def error(self) -> TrackingServerLost:
        """The one line that names the lost server, to raise once the job has stopped."""
        since = time.strftime("%H:%M:%S", time.localtime(self.lost_since or time.time()))
        return TrackingServerLost(
            f"the tracking server {self.uri} stopped answering at {since} (no answer for {self.lost_after:g} s), so "
            "the search stopped; what it recorded is kept, and its state too: start the server again (mser-server) "
            "and continue with the same command and --resume")
