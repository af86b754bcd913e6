"""The sampler's study kept in an Optuna storage, and warm starts from an earlier search's."""

from pathlib import Path

import optuna
import pytest
from mlflow.tracking import MlflowClient
from ray.tune.search.optuna import OptunaSearch

from mser.errors import MserError
from search import sampler
from search.options import StudyOptions
from search.spaces import get_space
from tracking.schema import (
    DATASET_KEY_TAG,
    LANGUAGE_TAG,
    OPTUNA_STORAGE_TAG,
    OPTUNA_STUDY_TAG,
    PARENT_ROLE,
    SEARCH_TAG,
    SPACE_TAG,
)

SPACE = "smile_logreg"


def test_the_storage_sits_beside_a_sqlite_store_else_in_the_state_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert sampler.storage_url("sqlite:///mlruns/mlflow.db", Path("x")) == f"sqlite:///{tmp_path}/mlruns/optuna.db"
    assert sampler.storage_url(f"sqlite:///{tmp_path}/s/mlflow.db", Path("x")) == f"sqlite:///{tmp_path}/s/optuna.db"
    assert sampler.storage_url("http://host:5000", tmp_path) == f"sqlite:///{tmp_path}/optuna.db"


def _distributions(space=SPACE):
    return OptunaSearch.convert_search_space(dict(get_space(space)))


def _store(tmp_path):
    """A store with an earlier finished search of SPACE on de, its sampler's study of 4 trials kept."""
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("earlier")
    url = sampler.storage_url(f"sqlite:///{tmp_path}/mlflow.db", tmp_path)
    name = sampler.study_name("earlier", f"{SPACE}-de", "p1")
    study = optuna.create_study(storage=sampler.open_storage(url), study_name=name, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    distributions = _distributions()

    def objective(trial):
        for key, distribution in distributions.items():
            trial._suggest(key, distribution)
        return 0.1 * trial.number

    study.optimize(objective, n_trials=4)
    parent = client.create_run(experiment, tags={SEARCH_TAG: PARENT_ROLE, SPACE_TAG: SPACE, LANGUAGE_TAG: "de",
                                                 DATASET_KEY_TAG: "key1", OPTUNA_STORAGE_TAG: url,
                                                 OPTUNA_STUDY_TAG: name})
    client.set_terminated(parent.info.run_id)
    return client, tmp_path, parent.info.run_id, study


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """:func:`_store`, shared by the tests that only read it (each store costs a second or two)."""
    return _store(tmp_path_factory.mktemp("sampler"))


def _options(tmp_path, **values):
    return StudyOptions(**{"space": SPACE, "language": "de", "trials": 3,
                           "tracking_uri": f"sqlite:///{tmp_path}/mlflow.db", "experiment": "new",
                           "state_dir": tmp_path / "state", "warm_start": "earlier", **values})


def test_a_warm_start_seeds_the_new_study_with_the_earlier_finished_trials(store):
    client, folder, parent, earlier = store
    warm = sampler.find_warm_start(client, "earlier", _options(folder), "key1", _distributions())
    assert warm.parent_run_id == parent and len(warm.trials) == 4
    storage = sampler.open_storage(sampler.storage_url(f"sqlite:///{folder}/mlflow.db", folder))
    warm.seed(storage, f"new/x/{folder.name}")
    seeded = optuna.load_study(study_name=f"new/x/{folder.name}", storage=storage)
    assert [t.params for t in seeded.trials] == [t.params for t in earlier.trials]
    assert [t.value for t in seeded.trials] == [t.value for t in earlier.trials]
    assert {t.user_attrs[sampler.WARM_START_ATTR] for t in seeded.trials} == {parent}
    # What TPE reads: the seeded trials are complete ones, so its model starts from them.
    assert len(seeded.get_trials(states=(optuna.trial.TrialState.COMPLETE,))) == 4


@pytest.mark.parametrize(("experiment", "options", "key", "space", "says"), [
    ("nowhere", {}, "key1", SPACE, "no experiment of that name"),
    ("earlier", {"language": "it"}, "key1", SPACE, f"no finished search of {SPACE} on it"),
    ("earlier", {"space": "smile_svm"}, "key1", "smile_svm", "no finished search of smile_svm on de"),
    ("earlier", {}, "key2", SPACE, "ran on other data"),
    ("earlier", {}, "key1", "smile_svm", "search space of smile_logreg differs"),
    # Same searched names, other held inputs: the earlier values were measured on other inputs.
    ("earlier", {"fixed": {"functionals.feature_set": "eGeMAPSv02"}}, "key1", SPACE,
     r"held other parameters \(no --fix; now --fix functionals.feature_set=eGeMAPSv02\)"),
])
def test_a_warm_start_that_does_not_apply_is_one_line(store, experiment, options, key, space, says):
    client, folder, _, _ = store
    with pytest.raises(MserError, match=says) as refused:
        sampler.find_warm_start(client, experiment, _options(folder, **options), key, _distributions(space))
    assert "\n" not in str(refused.value) and "--warm-start" in str(refused.value)


def test_a_search_that_kept_no_study_or_lost_it_is_refused(tmp_path):
    client, folder, parent, _ = _store(tmp_path)
    client.set_tag(parent, OPTUNA_STUDY_TAG, "gone")
    with pytest.raises(MserError, match="cannot read its sampler's study 'gone'"):
        sampler.find_warm_start(client, "earlier", _options(folder), "key1", _distributions())
    client.delete_tag(parent, OPTUNA_STUDY_TAG)
    with pytest.raises(MserError, match="kept no sampler's study"):
        sampler.find_warm_start(client, "earlier", _options(folder), "key1", _distributions())


def test_a_complete_search_is_written_once_with_its_warm_start_first(store, tmp_path):
    client, folder, parent, earlier = store
    warm = sampler.find_warm_start(client, "earlier", _options(folder), "key1", _distributions())
    url = sampler.storage_url(f"sqlite:///{tmp_path}/mlflow.db", tmp_path)
    point = {key: trial_value for key, trial_value in earlier.trials[0].params.items()}
    trials = [({**point, "training/unsearched": 1}, 0.7, False), (point, None, True), (point, float("nan"), False)]
    assert sampler.record_study(url, "new/s/p3", _distributions(), trials, warm) == 4 + 3
    study = optuna.load_study(study_name="new/s/p3", storage=sampler.open_storage(url))
    assert [t.state.name for t in study.trials] == ["COMPLETE"] * 5 + ["FAIL", "FAIL"]
    assert study.trials[4].value == 0.7 and study.trials[4].params == point
    assert sampler.record_study(url, "new/s/p3", _distributions(), trials, warm) == 7  # not written twice


def test_the_search_works_on_a_study_in_memory_holding_its_warm_start(store):
    client, folder, _, earlier = store
    warm = sampler.find_warm_start(client, "earlier", _options(folder), "key1", _distributions())
    storage = sampler.search_storage("live", warm)
    assert isinstance(storage, optuna.storages.InMemoryStorage)
    assert [t.value for t in optuna.load_study(study_name="live", storage=storage).trials] == \
        [t.value for t in earlier.trials]
