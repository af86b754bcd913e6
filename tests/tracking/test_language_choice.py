"""Which study serves a language: chosen on that language's validation speakers only (fast, a real store)."""

import pytest
from mlflow.tracking import MlflowClient

from tracking.language_choice import ONE_SPLIT, OUT_OF_FOLD, language_choice
from tracking.schema import (
    BEST_RUN_TAG,
    DATASET_KEY_TAG,
    LANGUAGE_TAG,
    PARENT_ROLE,
    RESULT_RUN_TAG,
    SEARCH_TAG,
    SPACE_TAG,
)


def _study(client, experiment, space, language, chosen_metrics, *, key="k1"):
    """A finished study: parent, chosen trial (with ``chosen_metrics``) and its refit."""
    parent = client.create_run(experiment, tags={SPACE_TAG: space, LANGUAGE_TAG: language, SEARCH_TAG: PARENT_ROLE,
                                                 DATASET_KEY_TAG: key}).info.run_id
    chosen = client.create_run(experiment).info.run_id
    refit = client.create_run(experiment).info.run_id
    for name, value in chosen_metrics.items():
        client.log_metric(chosen, name, value)
    client.set_tag(parent, BEST_RUN_TAG, chosen)
    client.set_tag(parent, RESULT_RUN_TAG, refit)
    for run in (parent, chosen, refit):
        client.set_terminated(run)
    return {"parent": parent, "chosen": chosen, "refit": refit}


@pytest.fixture
def store(tracking_uri):
    client = MlflowClient(tracking_uri)
    return client, client.create_experiment("choice")


def test_the_joint_model_serves_a_language_when_it_does_better_on_that_language_validation(store):
    client, experiment = store
    own = _study(client, experiment, "smile_svm", "it", {"val_kappa": 0.30, "test_kappa": 0.90})
    joint = _study(client, experiment, "smile_svm", "all", {"val_kappa": 0.50, "val_kappa_it": 0.40,
                                                            "test_kappa": 0.10, "test_kappa_it": 0.05})
    choice = language_choice(client, experiment, "it")
    assert choice.measure == ONE_SPLIT and choice.chosen.study == "all"
    assert choice.chosen.val_kappa == pytest.approx(0.40)  # Italian validation speakers only, not 0.50
    assert choice.chosen.result_run_id == joint["refit"] and choice.chosen.chosen_run_id == joint["chosen"]
    assert [o.study for o in choice.options] == ["all", "it"] and choice.options[1].result_run_id == own["refit"]


def test_the_choice_never_reads_a_test_score(store):
    client, experiment = store
    own = _study(client, experiment, "smile_svm", "de", {"val_kappa": 0.60, "test_kappa": 0.20})
    joint = _study(client, experiment, "smile_svm", "all", {"val_kappa_de": 0.55, "test_kappa_de": 0.90})
    before = language_choice(client, experiment, "de")
    # Turn the test scores upside down: the choice stays.
    client.log_metric(own["chosen"], "test_kappa", 0.99)
    client.log_metric(own["refit"], "test_kappa", 0.99)
    client.log_metric(joint["chosen"], "test_kappa_de", -0.5)
    client.log_metric(joint["refit"], "test_kappa_de", -0.5)
    after = language_choice(client, experiment, "de")
    assert before == after and after.chosen.study == "de"


def test_ties_go_to_the_language_own_study_and_folds_are_compared_with_folds(store):
    client, experiment = store
    _study(client, experiment, "smile_svm", "all", {"val_kappa_en": 0.5, "cv_val_kappa_en": 0.7})
    _study(client, experiment, "smile_svm", "en", {"val_kappa": 0.5, "cv_val_kappa_en": 0.7})
    choice = language_choice(client, experiment, "en")
    assert choice.measure == OUT_OF_FOLD and choice.chosen.study == "en"
    # Studies of other data were not measured on the same speakers: left out.
    _study(client, experiment, "smile_logreg", "all", {"val_kappa_en": 0.9, "cv_val_kappa_en": 0.9}, key="other")
    assert [o.space for o in language_choice(client, experiment, "en").options] == ["smile_svm", "smile_svm"]
    assert language_choice(client, experiment, "it") is None
