"""The trial schedulers of a study: ASHA, which never stops the paper's configuration, or FIFO.

The paper's configuration (the point every study evaluates first) is the study's
baseline: the report compares the best trial with it on the test speakers, so it must
train to its end and log its model whatever ASHA decides for other trials. Its results
still count in ASHA's rungs, so the other trials are judged against it as before.
"""

from __future__ import annotations

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from mser.errors import MserError
from search.options import SCHEDULERS, StudyOptions
from search.spaces import is_paper_point


class BaselineASHA(ASHAScheduler):
    """ASHA (Li et al. 2020) that never stops the paper's configuration of ``space``."""

    def __init__(self, space: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.space = space

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP and is_paper_point(self.space, trial.config):
            self._num_stopped -= 1
            return TrialScheduler.CONTINUE
        return decision


def make_scheduler(options: StudyOptions, folds: int = 0) -> TrialScheduler:
    """The scheduler of ``options.scheduler``. ASHA's resource is the trial's results: one
    per classifier epoch, or with ``folds`` (the count of :func:`search.trial.fold_count`)
    one per fold."""
    if options.scheduler not in SCHEDULERS:
        raise MserError(f"unknown scheduler {options.scheduler!r}: expected one of {', '.join(SCHEDULERS)}")
    if options.scheduler == "fifo":
        return FIFOScheduler()
    budget, grace = (folds, 1) if folds else (options.epochs, options.grace_period)
    # max_t one past the budget: ASHA stops a trial at max_t, which would cut a trial that
    # uses every epoch before it could log its model.
    return BaselineASHA(options.space, time_attr="training_iteration", max_t=budget + 1,
                        grace_period=min(grace, budget), reduction_factor=3)
