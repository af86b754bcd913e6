"""The study's scheduler: real Ray ASHA, driven with results as Tune would send them."""

import pytest
from ray.tune.experiment import Trial
from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, TrialScheduler

from mser.errors import MserError
from mser.metrics import VAL_KAPPA
from search.options import StudyOptions
from search.schedulers import CLASSIFIER_STEP, ENCODER_STEP, BaselineASHA, StagedASHA, make_scheduler
from search.spaces import PAPER_POINTS

SPACE = "cnn_features"


def _options(**overrides):
    values = dict(space=SPACE, language="de", trials=8, epochs=9, grace_period=1, tracking_uri="sqlite:///unused.db",
                  experiment="unused", state_dir="unused")
    values.update(overrides)
    return StudyOptions(**values)


def _other_point(space=SPACE):
    point = {group: dict(values) for group, values in PAPER_POINTS[space].items()}
    group = next(iter(point))
    name = next(iter(point[group]))
    point[group][name] = "not the paper's"
    return point


def _decisions(scheduler, kappas, step=CLASSIFIER_STEP, space=SPACE):
    """Four trials report their first epoch (of ``step``) in turn, the paper's last and worst; each
    later result repeats the trial's kappa. Returns the decisions on the paper's and a weak trial's results."""
    scheduler.set_search_properties(VAL_KAPPA, "max")
    strong = [Trial("f", config=_other_point(space), stub=True) for _ in kappas]
    paper = Trial("f", config={g: dict(v) for g, v in PAPER_POINTS[space].items()}, stub=True)
    weak = Trial("f", config=_other_point(space), stub=True)
    for trial in [*strong, paper, weak]:
        scheduler.on_trial_add(None, trial)
    decisions = {"paper": [], "weak": []}
    for iteration in (1, 3, 9):
        for trial, kappa in zip(strong, kappas):
            scheduler.on_trial_result(None, trial, {VAL_KAPPA: kappa, step: iteration})
        for name, trial in (("paper", paper), ("weak", weak)):
            decisions[name].append(scheduler.on_trial_result(None, trial, {VAL_KAPPA: 0.05, step: iteration}))
    return decisions


def test_plain_asha_would_stop_the_paper_configuration_here():
    plain = ASHAScheduler(time_attr=CLASSIFIER_STEP, max_t=10, grace_period=1, reduction_factor=3)
    assert _decisions(plain, [0.9, 0.8, 0.7])["paper"][0] == TrialScheduler.STOP


def test_the_study_scheduler_never_stops_the_paper_configuration_but_stops_others():
    scheduler = make_scheduler(_options())
    assert isinstance(scheduler, BaselineASHA)
    decisions = _decisions(scheduler, [0.9, 0.8, 0.7])
    assert decisions["paper"] == [TrialScheduler.CONTINUE] * 3
    assert decisions["weak"][0] == TrialScheduler.STOP
    # The paper's results still count in the rungs: the others are judged against them.
    rungs = {milestone: recorded for milestone, recorded in scheduler._brackets[0]._rungs}
    assert all(sorted(recorded.values())[0] == 0.05 for milestone, recorded in rungs.items() if milestone <= 9)


def test_asha_resource_is_epochs_or_folds_and_fifo_is_fifo():
    # A trial that uses its whole budget is never stopped for reaching it (ASHA's stop_last_trials):
    # it must log its model first.
    assert make_scheduler(_options())._max_t == 9 and not make_scheduler(_options())._stop_last_trials
    assert make_scheduler(_options(folds=4), 4)._max_t == 4
    # encoder rungs: for a model on the code, with one validation split, and room below sae_epochs
    staged = make_scheduler(_options(space="sae_cnn", sae_epochs=10, grace_period=3))
    assert isinstance(staged, StagedASHA)
    assert staged.stages[ENCODER_STEP]._max_t == 10 and staged.stages[CLASSIFIER_STEP]._max_t == 9
    for options, folds in ((_options(space="sae_cnn", encoder_rungs=False), 0), (_options(space="sae_cnn", folds=3), 3),
                           (_options(space="sae_cnn", sae_epochs=3, grace_period=3), 0), (_options(), 0)):
        assert isinstance(make_scheduler(options, folds), BaselineASHA)
    assert isinstance(make_scheduler(_options(scheduler="fifo")), FIFOScheduler)
    with pytest.raises(MserError, match="unknown scheduler 'hyperband'"):
        make_scheduler(_options(scheduler="hyperband"))


def test_staged_asha_judges_encoders_against_encoders_and_classifiers_against_classifiers():
    scheduler = make_scheduler(_options(space="sae_cnn", sae_epochs=10))
    # Encoder probes of 0.9, 0.8, 0.7: a weak encoder stops in its stage, the paper's goes on.
    encoder = _decisions(scheduler, [0.9, 0.8, 0.7], step=ENCODER_STEP, space="sae_cnn")
    assert encoder["paper"] == [TrialScheduler.CONTINUE] * 3 and encoder["weak"][0] == TrialScheduler.STOP
    assert scheduler.stopped[ENCODER_STEP] > 0 and scheduler.stopped[CLASSIFIER_STEP] == 0
    # The classifier rungs are untouched: an encoder's probe kappa is no bar for a classifier.
    classifier = scheduler.stages[CLASSIFIER_STEP]
    assert all(not recorded for bracket in classifier._brackets for _, recorded in bracket._rungs)
    trial = Trial("f", config=_other_point("sae_cnn"), stub=True)
    scheduler.on_trial_add(None, trial)
    assert scheduler.on_trial_result(None, trial, {VAL_KAPPA: 0.01, CLASSIFIER_STEP: 1}) == TrialScheduler.CONTINUE
    scheduler.on_trial_complete(None, trial, {VAL_KAPPA: 0.01, CLASSIFIER_STEP: 2})
    assert trial.trial_id not in scheduler.stages[ENCODER_STEP]._trial_info


def test_a_trial_at_the_end_of_its_budget_is_judged_by_its_rungs_only():
    scheduler = make_scheduler(_options(epochs=3, grace_period=1))
    scheduler.set_search_properties(VAL_KAPPA, "max")
    trial = Trial("f", config=_other_point(), stub=True)
    scheduler.on_trial_add(None, trial)
    assert [scheduler.on_trial_result(None, trial, {VAL_KAPPA: 0.5, CLASSIFIER_STEP: epoch})
            for epoch in (1, 2, 3)] == [TrialScheduler.CONTINUE] * 3
