"""Driver-side Tune callbacks: MLflow statuses of stopped trials, and live progress.

A trial stopped by ASHA may be stopped before it could end its own MLflow run; when
Tune reports it complete and its run is still RUNNING, the run is ended as KILLED
with a ``pruned`` tag (a pruned trial is not a failure). A trial that errored has its
run ended FAILED. Progress (done, running, pruned, failed, best validation kappa) is
printed as one line per change, at most every few seconds.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from ray.tune import Callback

from mser.metrics import VAL_KAPPA
from search.trial import PRUNED_TAG, RUN_ID_KEY

_GRACE_SECONDS = 5.0


class MlflowStatusCallback(Callback):
    """Ends the MLflow runs of trials that could not end their own, and counts outcomes."""

    def __init__(self, client: MlflowClient, *, total: int, label: str, stream: TextIO | None = sys.stderr,
                 every: float = 5.0) -> None:
        self.client, self.total, self.label, self.stream, self.every = client, total, label, stream, every
        self.done = self.pruned = self.failed = 0
        self.running: set[str] = set()
        self.best: float | None = None
        self._printed = 0.0

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.running.add(trial.trial_id)
        self._print(force=False)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        value = result.get(VAL_KAPPA)
        if value is not None and (self.best is None or value > self.best):
            self.best = float(value)
        self._print(force=False)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.running.discard(trial.trial_id)
        run_id = (trial.last_result or {}).get(RUN_ID_KEY)
        if run_id and self._end_if_running(run_id, RunStatus.KILLED, {PRUNED_TAG: "true"}):
            self.pruned += 1
        elif run_id and self.client.get_run(run_id).data.tags.get(PRUNED_TAG) == "true":
            self.pruned += 1
        else:
            self.done += 1
        self._print(force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.running.discard(trial.trial_id)
        self.failed += 1
        run_id = (trial.last_result or {}).get(RUN_ID_KEY)
        if run_id:
            self._end_if_running(run_id, RunStatus.FAILED, {"error": "the trial's worker failed"})
        self._print(force=True)

    def _end_if_running(self, run_id: str, status: int, tags: dict[str, str]) -> bool:
        """Wait briefly for the trial to end its run; end it with ``status`` if it did not."""
        deadline = time.monotonic() + _GRACE_SECONDS
        while True:
            current = self.client.get_run(run_id).info.status
            if current != "RUNNING":
                return False
            if time.monotonic() > deadline:
                break
            time.sleep(0.25)
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)
        self.client.set_terminated(run_id, RunStatus.to_string(status))
        return True

    def line(self) -> str:
        """The progress line: trials finished, running, pruned and failed, best kappa so far."""
        ended = self.done + self.pruned + self.failed
        best = "-" if self.best is None else f"{self.best:.3f}"
        return (f"{self.label}: {ended}/{self.total} trials ended ({self.done} finished, {self.pruned} pruned, "
                f"{self.failed} failed), {len(self.running)} running; best val kappa {best}")

    def _print(self, *, force: bool) -> None:
        now = time.monotonic()
        if self.stream is None or (not force and now - self._printed < self.every):
            return
        self._printed = now
        print(self.line(), file=self.stream, flush=True)
