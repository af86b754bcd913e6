"""The trial schedulers of a study: ASHA, which never stops the paper's configuration, or FIFO.

The paper's configuration (the point every study evaluates first) is the study's
baseline: the report compares the best trial with it on the test speakers, so it must
train to its end and log its model whatever ASHA decides for other trials. Its results
still count in ASHA's rungs, so the other trials are judged against it as before.

For a model on the autoencoder's code, training the encoder is most of a trial that
cannot reuse a cached one, and ASHA on classifier epochs cannot stop it. :class:`StagedASHA`
gives the encoder stage rungs of its own: after each encoder epoch the trial reports a
linear probe's validation kappa on the code (:data:`mser.metrics.SAE_PROBE_KAPPA`), and
encoders are compared with encoders at the same epoch, classifiers with classifiers.
"""

from __future__ import annotations

import contextlib

from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from mser.errors import MserError
from mser.models import get_model
from search.options import SCHEDULERS, StudyOptions
from search.spaces import is_paper_point

#: The result key that counts a trial's classifier epochs (or speaker folds) for ASHA.
CLASSIFIER_STEP = "epoch"
#: The result key that counts its encoder epochs, in results of the encoder stage only.
ENCODER_STEP = "sae_epoch"


class BaselineASHA(ASHAScheduler):
    """ASHA (Li et al. 2020) that never stops the paper's configuration of ``space``."""

    def __init__(self, space: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.space = space
        #: Trials this scheduler stopped (ASHA's own count would include the paper's configuration).
        self.stopped = 0

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        decision = super().on_trial_result(tune_controller, trial, result)
        if decision == TrialScheduler.STOP and is_paper_point(self.space, trial.config):
            return TrialScheduler.CONTINUE
        self.stopped += decision == TrialScheduler.STOP
        return decision

    def forget(self, tune_controller, trial) -> None:
        """Stop tracking ``trial`` (ended, or never seen by this stage): ASHA's public removal,
        for a trial it may no longer hold."""
        with contextlib.suppress(KeyError):
            self.on_trial_remove(tune_controller, trial)


class StagedASHA(FIFOScheduler):
    """Two :class:`BaselineASHA` rung sets, one per stage of a trial: results that carry
    :data:`ENCODER_STEP` (a probe of the code, while the encoder trains) are judged against
    other encoders at the same encoder epoch, results that carry :data:`CLASSIFIER_STEP`
    against other classifiers at the same classifier epoch. A trial whose encoder comes
    from the cache has no encoder results and meets the classifier rungs only."""

    def __init__(self, encoder: BaselineASHA, classifier: BaselineASHA) -> None:
        super().__init__()
        self.stages = {ENCODER_STEP: encoder, CLASSIFIER_STEP: classifier}

    def set_search_properties(self, metric, mode, **spec) -> bool:
        return all([stage.set_search_properties(metric, mode, **spec) for stage in self.stages.values()])

    def on_trial_add(self, tune_controller, trial) -> None:
        for stage in self.stages.values():
            stage.on_trial_add(tune_controller, trial)

    def on_trial_result(self, tune_controller, trial, result: dict) -> str:
        stage = self.stages[ENCODER_STEP if ENCODER_STEP in result else CLASSIFIER_STEP]
        return stage.on_trial_result(tune_controller, trial, result)

    def on_trial_complete(self, tune_controller, trial, result: dict) -> None:
        self.stages[CLASSIFIER_STEP].on_trial_complete(tune_controller, trial, result)
        self.stages[ENCODER_STEP].forget(tune_controller, trial)

    def on_trial_remove(self, tune_controller, trial) -> None:
        for stage in self.stages.values():
            stage.forget(tune_controller, trial)

    @property
    def stopped(self) -> dict[str, int]:
        """Trials stopped in each stage so far."""
        return {name: stage.stopped for name, stage in self.stages.items()}

    def debug_string(self) -> str:
        return "\n".join(f"{name}: {stage.debug_string()}" for name, stage in self.stages.items())


def uses_encoder_rungs(options: StudyOptions) -> bool:
    """Whether a study's trials report the encoder stage to the scheduler (and so probe it):
    ASHA with one validation split, a model on the code, and an encoder rung below its end."""
    return (options.scheduler == "asha" and options.encoder_rungs and not options.folds
            and get_model(options.space).uses_code and options.grace_period < options.sae_epochs)


def make_scheduler(options: StudyOptions, folds: int = 0) -> TrialScheduler:
    """The scheduler of ``options.scheduler``. ASHA's resource is the classifier's epochs, or
    with ``folds`` (the count of :func:`search.trial.fold_count`) its folds; with
    :func:`uses_encoder_rungs`, the encoder's epochs too, in rungs of their own."""
    if options.scheduler not in SCHEDULERS:
        raise MserError(f"unknown scheduler {options.scheduler!r}: expected one of {', '.join(SCHEDULERS)}")
    if options.scheduler == "fifo":
        return FIFOScheduler()
    budget, grace = (folds, 1) if folds else (options.epochs, options.grace_period)
    # stop_last_trials=False: ASHA's own option not to stop a trial that reaches max_t, which
    # would cut a trial that uses every epoch before it could log its model.
    classifier = BaselineASHA(options.space, time_attr=CLASSIFIER_STEP, max_t=budget, stop_last_trials=False,
                              grace_period=min(grace, budget), reduction_factor=3)
    if not uses_encoder_rungs(options):
        return classifier
    encoder = BaselineASHA(options.space, time_attr=ENCODER_STEP, max_t=options.sae_epochs, stop_last_trials=False,
                           grace_period=options.grace_period, reduction_factor=3)
    return StagedASHA(encoder, classifier)
