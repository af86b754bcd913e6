"""Driver-side Tune callbacks: each trial's outcome, and live progress.

The driver is the one writer of a trial's :class:`~tracking.schema.Outcome`, from what
Tune saw: a trial that completed with its final result (sent once its model is logged,
:data:`search.trial.FINAL_KEY`) finished; one that completed without it was stopped by
the scheduler (pruned: not a failure); one that errored failed. The worker ends its own
run; a run still RUNNING a few seconds after its trial ended is ended here, as its
outcome says (FINISHED, or KILLED for a pruned trial; FAILED for an error). Progress
(done, running, pruned, failed, best validation kappa) is printed as one line per
change, at most every few seconds.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient
from ray.tune import Callback

from mser.console import duration
from mser.metrics import VAL_KAPPA
from search.schedulers import ENCODER_STEP
from search.trial import FINAL_KEY, RUN_ID_KEY
from tracking.query import children
from tracking.schema import ERROR_TAG, OUTCOME_TAG, RETRIED_TAG, TRIAL_TAG, Outcome

_GRACE_SECONDS = 5.0


class MlflowStatusCallback(Callback):
    """Ends the MLflow runs of trials that could not end their own, and counts outcomes.

    Callbacks run in Tune's event loop, so nothing here waits: a run still RUNNING when
    its trial completes is looked at again on later steps, and ended as KILLED (pruned)
    if the trial has not ended it within a few seconds.
    """

    def __init__(self, client: MlflowClient, *, total: int, label: str, stream: TextIO | None = sys.stderr,
                 every: float = 5.0, experiment_id: str | None = None, parent_run_id: str | None = None,
                 folds: int = 0) -> None:
        self.client, self.total, self.label, self.stream, self.every = client, total, label, stream, every
        #: Speaker folds of the objective (0: one validation split). With folds, a trial's results
        #: before its last are running means over its first folds, no model's kappa.
        self.folds = folds
        self.experiment_id, self.parent_run_id = experiment_id, parent_run_id
        self.retried = 0
        self.done = self.pruned = self.failed = 0
        self.running: set[str] = set()
        #: The best validation kappa of a model a trial could be chosen with (classifier results).
        self.best: float | None = None
        #: The best linear probe of an encoder's code (results counted in encoder epochs): shown
        #: apart, as no trial is chosen on it.
        self.best_probe: float | None = None
        #: Runs of completed trials not yet settled: their deadline and outcome.
        self._pending: dict[str, tuple[float, Outcome]] = {}
        self._printed = 0.0
        self._printed_counts = ""
        self._started = time.monotonic()
        #: Trials already ended when this callback first saw them (a resumed search), or None.
        self.earlier: int | None = None
        #: Failed trials whose runs could not be ended yet (the store did not answer): retried each step.
        self._unfailed: list[tuple[str, str | None, bool]] = []

    def __getstate__(self) -> dict:
        # Tune pickles its run config with the experiment state; clients and streams don't pickle.
        state = dict(self.__dict__)
        state["client"] = self.client.tracking_uri
        state["stream"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update({"_unfailed": [], **state})
        self.client = MlflowClient(state["client"])

    def on_step_begin(self, iteration, trials, **info) -> None:
        if self.earlier is None:  # a resumed search starts with the trials its last session ended
            ended = [t for t in trials if t.status in ("TERMINATED", "ERROR")]
            self.earlier = len(ended)
            for trial in ended:
                self.on_trial_result(iteration, trials, trial, trial.last_result or {})
            self._started = time.monotonic()

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self.running.add(trial.trial_id)
        self._print(force=False)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        value = result.get(VAL_KAPPA)
        partial = self.folds and not result.get(FINAL_KEY)
        if value is not None and not (partial and ENCODER_STEP not in result):
            kind = "best_probe" if ENCODER_STEP in result else "best"
            if getattr(self, kind) is None or value > getattr(self, kind):
                setattr(self, kind, float(value))
        self._print(force=False)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self.running.discard(trial.trial_id)
        last = trial.last_result or {}
        run_id = last.get(RUN_ID_KEY)
        if run_id is None:
            self.done += 1
        else:
            outcome = Outcome.FINISHED if last.get(FINAL_KEY) else Outcome.PRUNED
            self._pending[run_id] = (time.monotonic() + _GRACE_SECONDS, outcome)
            self._settle(final=False)
        self._print(force=True)

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self.running.discard(trial.trial_id)
        self.failed += 1
        self._fail_runs(trial, retried=False)
        self._print(force=True)

    def on_trial_recover(self, iteration, trials, trial, **info) -> None:
        """The trial's worker failed (a crash, a killed process, a lost node) and Tune runs
        it again: its run cannot end itself, so it is ended FAILED here, tagged
        ``retried``; the new attempt opens a run of its own."""
        self.retried += 1
        self._fail_runs(trial, retried=True)
        self._print(force=True)

    def _fail_runs(self, trial, *, retried: bool) -> None:
        """End FAILED the runs of ``trial`` still RUNNING (the one it reported, and any it
        opened before it could report). A store that does not answer now (a server restarting)
        is asked again on later steps: nothing here may stop the search."""
        failed = (trial.trial_id, (trial.last_result or {}).get(RUN_ID_KEY), retried)
        try:
            self._end_failed(*failed)
        except Exception:  # noqa: BLE001 - an unreachable store, whatever the client raises for it
            self._unfailed.append(failed)

    def _end_failed(self, trial_id: str, reported: str | None, retried: bool) -> None:
        run_ids = {reported} - {None}
        if self.experiment_id and self.parent_run_id:
            run_ids |= {run.info.run_id for run in children(
                self.client, self.experiment_id, self.parent_run_id,
                f"tags.{TRIAL_TAG} = '{trial_id}' and attributes.status = 'RUNNING'")}
        for run_id in run_ids:
            if self.client.get_run(run_id).info.status != "RUNNING":
                continue
            self.client.set_tag(run_id, ERROR_TAG, "the trial's worker failed" + ("; the trial ran again" if retried
                                                                             else ""))
            if retried:
                self.client.set_tag(run_id, RETRIED_TAG, "true")
            self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FAILED))
        for run_id in run_ids:  # also a run the trial ended FAILED itself
            self.client.set_tag(run_id, OUTCOME_TAG, Outcome.FAILED.value)

    def _retry_failed(self, *, final: bool) -> None:
        waiting, self._unfailed = self._unfailed, []
        for failed in waiting:
            try:
                self._end_failed(*failed)
            except Exception:  # noqa: BLE001 - still unreachable: later, or once the search is over, its error
                if final:
                    raise
                self._unfailed.append(failed)

    def on_step(self, iteration, trials, **info) -> None:
        if self._unfailed:
            self._retry_failed(final=False)
        if self._pending:
            self._settle(final=False)

    def on_experiment_end(self, trials, **info) -> None:
        self._retry_failed(final=True)
        self._settle(final=True)
        self._print(force=True, if_changed=True)

    def _settle(self, *, final: bool) -> None:
        """Record the outcome of completed trials whose runs are ended (or past their grace),
        ending those still RUNNING as their outcome says, and count them."""
        now = time.monotonic()
        for run_id, (deadline, outcome) in list(self._pending.items()):
            try:
                status = self.client.get_run(run_id).info.status
            except Exception:  # noqa: BLE001 - a store that does not answer now: on a later step
                if final:
                    raise
                continue
            if status == "RUNNING":
                if not final and now < deadline:
                    continue
                self.client.set_terminated(run_id, RunStatus.to_string(
                    RunStatus.FINISHED if outcome is Outcome.FINISHED else RunStatus.KILLED))
            self.client.set_tag(run_id, OUTCOME_TAG, outcome.value)
            if outcome is Outcome.PRUNED:
                self.pruned += 1
            else:
                self.done += 1
            del self._pending[run_id]

    def line(self, now: float | None = None) -> str:
        """The progress line: trials finished, running, pruned and failed, best kappa so far,
        time spent and, from the pace of this session's trials, roughly what is left."""
        session = self.done + self.pruned + self.failed + len(self._pending)
        earlier = self.earlier or 0
        ended = earlier + session
        best = "-" if self.best is None else f"{self.best:.3f}"
        if self.best_probe is not None:
            best += f" (encoder probe {self.best_probe:.3f})"
        retried = f", {self.retried} retried" if self.retried else ""
        before = f", {earlier} before resuming" if earlier else ""
        elapsed = (time.monotonic() if now is None else now) - self._started
        left = ""
        if session >= 2 and ended < self.total:  # early trials train encoders: an upper estimate
            left = f", about {duration(elapsed / session * (self.total - ended))} left"
        return (f"{self.label}: {ended}/{self.total} trials ended ({self.done} finished, {self.pruned} pruned, "
                f"{self.failed} failed{retried}{before}), {len(self.running)} running; best val kappa {best}; "
                f"{duration(elapsed)}{left}")

    def _print(self, *, force: bool, if_changed: bool = False) -> None:
        """Print the line, at most every ``every`` seconds unless ``force``; with
        ``if_changed``, only if more than its time part changed since the last one."""
        now = time.monotonic()
        if self.stream is None or (not force and now - self._printed < self.every):
            return
        line = self.line(now)
        counts = line.rsplit(";", 1)[0]
        if if_changed and counts == self._printed_counts:
            return
        self._printed, self._printed_counts = now, counts
        print(line, file=self.stream, flush=True)
