"""Real searches on a real local Ray cluster and a real MLflow store (slow)."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import optuna
import pytest
import ray
from mlflow.tracking import MlflowClient
from ray import tune

from mser.dataset import load_dataset
from mser.functionals import FEATURE_SETS
from mser.models import MODELS
from search import study as study_module
from search.options import StudyOptions
from search.spaces import PAPER_POINTS, SPACES
from search.study import run_study
from tracking.query import outcome
from tracking.schema import (
    DATASET_KEY_TAG,
    LANGUAGE_TAG,
    MODEL_TAG,
    MODEL_URI_TAG,
    NODE_TAG,
    OPTUNA_STORAGE_TAG,
    OPTUNA_STUDY_TAG,
    OUTCOME_TAG,
    PAPER_TAG,
    PID_TAG,
    REFIT_OF_TAG,
    REPEAT_OF_TAG,
    RESULT_RUN_TAG,
    SPACE_TAG,
    TRIAL_TAG,
    Outcome,
)
from tracking.testing.sqlite import copy_template

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def dataset(tiny_demo, tmp_path_factory, shared_datasets):
    cache = shared_datasets(tmp_path_factory.mktemp("data-cache"))
    return load_dataset(tiny_demo, cache_dir=cache, feature_sets=FEATURE_SETS)


def _options(tmp_path, tracking_uri, space, **overrides):
    """A tiny study's options. One trial at a time, on one reused worker, unless a test is about
    trials at once: a second worker costs a study about 12 s of CPU (its start and imports,
    TensorFlow's for a Keras model) for trials that take a second or two."""
    values = dict(space=space, language="de", trials=4, tracking_uri=tracking_uri, experiment=f"test-{space}",
                  state_dir=tmp_path / "state", sae_epochs=1, epochs=4, grace_period=1, patience=3,
                  max_concurrent=1, top=2, command="test")
    values.update(overrides)
    return StudyOptions(**values)


def _children(client, parent, *, refit=False):
    """The runs under a study's parent: its trials (and repeats), and with ``refit`` its refit too."""
    experiment = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=1000)
    return runs if refit else [r for r in runs if REFIT_OF_TAG not in r.data.tags]


def _check_refit(client, result, space):
    """The study's result is the chosen trial trained again on exactly every training speaker,
    with its configuration, seed and the epochs its validation speakers found."""
    [refit] = [r for r in _children(client, result.parent_run_id, refit=True) if REFIT_OF_TAG in r.data.tags]
    chosen = client.get_run(result.best[0]["run_id"])
    assert refit.data.tags[REFIT_OF_TAG] == chosen.info.run_id and TRIAL_TAG not in refit.data.tags
    assert refit.info.status == "FINISHED" and MODEL_URI_TAG in refit.data.tags
    assert client.get_run(result.parent_run_id).data.tags[RESULT_RUN_TAG] == refit.info.run_id
    trained = set(refit.data.tags["speakers.train"].split())
    assert trained == set(chosen.data.tags["speakers.train"].split()) | set(
        chosen.data.tags["speakers.validation"].split())
    assert not refit.data.tags["speakers.validation"]
    assert refit.data.tags["speakers.test"] == chosen.data.tags["speakers.test"]
    assert not trained & set(refit.data.tags["speakers.test"].split())
    same = {k: v for k, v in chosen.data.params.items() if k not in ("epochs", "sae_epochs")}
    assert {k: v for k, v in refit.data.params.items() if k in same} == same  # configuration and seed
    if MODELS[space].keras:
        assert refit.data.params["epochs"] == str(int(chosen.data.metrics["epochs_found"]))
        assert len(client.get_metric_history(refit.info.run_id, "epoch/loss")) == int(
            chosen.data.metrics["epochs_found"])
    assert refit.data.metrics["choice_val_kappa"] == pytest.approx(result.best[0]["val_kappa"])
    assert "val_kappa" not in refit.data.metrics and "test_kappa" in refit.data.metrics
    assert result.refit["run_id"] == refit.info.run_id
    return refit


@pytest.mark.parametrize("space", list(SPACES))
def test_each_space_searches_and_records_a_complete_tree(ray_cluster, dataset, tmp_path, tracking_uri, space,
                                                          monkeypatch):
    monkeypatch.setenv("MSER_CACHE_DIR", str(tmp_path / "cache"))
    result = run_study(dataset, _options(tmp_path, tracking_uri, space, trials=3, system_metrics=0.5))
    client = MlflowClient(tracking_uri)
    parent = client.get_run(result.parent_run_id)
    assert parent.info.status == "FINISHED"
    assert parent.data.tags[SPACE_TAG] == space and DATASET_KEY_TAG in parent.data.tags
    # The sampler's study is kept (search.sampler): one Optuna trial per trial, with its value.
    sampled = optuna.load_study(study_name=parent.data.tags[OPTUNA_STUDY_TAG],
                                storage=parent.data.tags[OPTUNA_STORAGE_TAG]).trials
    assert len(sampled) == 3 and all(t.value is not None for t in sampled)
    assert 0 < parent.data.metrics["search_seconds"] <= result.seconds
    children = _children(client, result.parent_run_id)
    assert len(children) == 3 and result.trials["runs"] == 3
    assert len({c.data.tags["trial_id"] for c in children}) == 3
    for child in children:
        assert child.info.status in ("FINISHED", "KILLED"), child.info.status
        assert (child.info.status == "KILLED") == (outcome(child) is Outcome.PRUNED)
        assert {MODEL_TAG, LANGUAGE_TAG, TRIAL_TAG, NODE_TAG} <= set(child.data.tags)
        assert child.data.tags[MODEL_TAG] == space
        assert child.info.run_name.startswith(f"{space}-de-")
        assert child.data.metrics["train_seconds"] > 0  # what the benchmark of trial overhead adds up
        # Sampled every 0.5 s while it trained; MLflow's sampling thread may take seconds to log
        # its first sample on a loaded machine, so only a trial that trained a while is asked.
        if child.data.metrics["train_seconds"] > 6:
            assert "system/cpu_utilization_percentage" in child.data.metrics, child.data.metrics
        if child.info.status == "FINISHED":
            assert "val_kappa" in child.data.metrics and "model_uri" in child.data.tags
            artifacts = {a.path for a in client.list_artifacts(child.info.run_id)}
            assert {"confusion_validation.png", "split.json"} <= artifacts
    epochs = [c for c in children if client.get_metric_history(c.info.run_id, "epoch/val_kappa")]
    assert epochs or not MODELS_WITH_EPOCHS[space]
    # The paper's configuration is among the trials (it is the first one suggested).
    paper = {f"{group}.{k}" if group != "training" else k: str(v)
             for group, values in PAPER_POINTS[space].items() for k, v in values.items()}
    assert any(all(c.data.params.get(k) == v for k, v in paper.items()) for c in children)
    # Test speakers are scored for the best trials only, after every choice was made, and for
    # the paper's configuration (the report's baseline), tagged as such on exactly one trial.
    assert [c.data.tags["paper_point"] for c in children].count("true") == 1
    scored = [c for c in _children(client, result.parent_run_id) if "test_kappa" in c.data.metrics]
    best_ids = {b["run_id"] for b in result.best}
    assert best_ids <= {c.info.run_id for c in scored} and len(best_ids) <= 2
    assert all(c.data.tags["paper_point"] == "true" for c in scored if c.info.run_id not in best_ids)
    finished = sorted((c for c in children if c.info.status == "FINISHED"),
                      key=lambda c: (-c.data.metrics["val_kappa"], c.info.start_time))  # ties: the earlier
    assert [b["run_id"] for b in result.best] == [c.info.run_id for c in finished[:2]]
    _check_refit(client, result, space)


MODELS_WITH_EPOCHS = {name: MODELS[name].keras for name in SPACES}


def test_encoders_are_trained_once_and_reused(ray_cluster, dataset, tmp_path, tracking_uri, monkeypatch):
    cache = tmp_path / "cache"
    monkeypatch.setenv("MSER_CACHE_DIR", str(cache))
    space = {**SPACES["sae_cnn"], "sae": {"depth": tune.choice([3]), "filters": tune.choice([20]),
                                          "latent": tune.choice([16])}}
    monkeypatch.setattr(study_module, "pinned_space", lambda name, fixed=None: space)
    # Two trials at once: the second waits for the first's encoder rather than training its own.
    result = run_study(dataset, _options(tmp_path, tracking_uri, "sae_cnn", trials=5, cache_dir=str(cache),
                                         max_concurrent=2))
    runs = _children(MlflowClient(tracking_uri), result.parent_run_id)
    hits = Counter(r.data.tags.get("encoder_cache") for r in runs if r.data.tags.get("encoder_cache"))
    assert hits["miss"] == 1 and hits["hit"] >= 2
    # One encoder for the trials, and the refit's own: trained on every training speaker, another key.
    assert len([p for p in (cache / "encoders").iterdir() if p.is_dir()]) == 1 + 1


def test_fifo_without_the_encoder_cache_runs_every_trial_to_its_end(ray_cluster, dataset, tmp_path, tracking_uri,
                                                                    monkeypatch):
    # The two baselines of the benchmarks: no early stopping, every encoder trained anew.
    cache = tmp_path / "cache"
    monkeypatch.setenv("MSER_CACHE_DIR", str(cache))
    result = run_study(dataset, _options(tmp_path, tracking_uri, "sae_cnn", trials=3, epochs=3, patience=10,
                                         scheduler="fifo", encoder_cache=False))
    runs = _children(MlflowClient(tracking_uri), result.parent_run_id)
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs) and result.trials["pruned"] == 0
    client = MlflowClient(tracking_uri)
    assert all(len(client.get_metric_history(r.info.run_id, "epoch/val_kappa")) == 3 for r in runs)
    assert not any("encoder_cache" in r.data.tags for r in runs)
    assert not (cache / "encoders").exists() or not any((cache / "encoders").iterdir())


def test_a_crashing_trial_is_failed_and_the_search_goes_on(ray_cluster, dataset, tmp_path, tracking_uri,
                                                           monkeypatch):
    # A pooling size of 0 makes the model builder raise: the trial must fail, not the search.
    space = {**SPACES["cnn_features"], "classifier": {**SPACES["cnn_features"]["classifier"],
                                                      "pool": tune.choice([0, 2])}}
    monkeypatch.setattr(study_module, "pinned_space", lambda name, fixed=None: space)
    monkeypatch.setattr(study_module, "sampled_point", lambda name, fixed=None: {
        **PAPER_POINTS["cnn_features"], "classifier": {**PAPER_POINTS["cnn_features"]["classifier"], "pool": 0}})
    result = run_study(dataset, _options(tmp_path, tracking_uri, "cnn_features", trials=3, top=1,
                                         cache_dir=str(tmp_path / "cache")))
    runs = _children(MlflowClient(tracking_uri), result.parent_run_id)
    assert len(runs) == 3 and result.trials["failed"] >= 1
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert failed and all(r.data.params["classifier.pool"] == "0" for r in failed)
    # Only the crashing configurations fail (another may be stopped by ASHA, never failed).
    assert all(r.info.status in ("FINISHED", "KILLED") for r in runs if r.data.params["classifier.pool"] != "0")
    assert MlflowClient(tracking_uri).get_run(result.parent_run_id).info.status == "FINISHED"


@pytest.mark.parametrize("attempt", range(2))
def test_reused_workers_survive_stop_decisions_on_a_trials_last_result(ray_cluster, dataset, tmp_path, tracking_uri,
                                                                       attempt):
    """Rungs at folds 1 and 3 of 3: ASHA judges some trials on their last result. Before trials
    ended cleanly, such a trial left its thread waiting in Ray, the reused worker could not be
    reset ("Could not re-use actor") and the search stalled (docs/design.md): this 12-trial
    search failed that way every time on reused workers; it must now end every trial, on
    workers that ran several trials each."""
    result = run_study(dataset, _options(tmp_path, tracking_uri, "smile_logreg", language="all", trials=12, folds=3,
                                         grace_period=1, top=1, refit=False, experiment=f"reuse-{attempt}",
                                         max_concurrent=2))
    assert result.trials["failed"] == 0 and result.trials["retried"] == 0
    assert result.trials["finished"] + result.trials["pruned"] == 12 and result.trials["pruned"] >= 1
    runs = _children(MlflowClient(tracking_uri), result.parent_run_id)
    workers = Counter(r.data.tags[PID_TAG] for r in runs)
    assert len(runs) == 12 and max(workers.values()) > 1, workers  # reused
    assert all(r.info.status in ("FINISHED", "KILLED") for r in runs)


def test_resume_continues_without_duplicate_runs(tiny_demo, tmp_path):
    """Stop a real mser-search process as a scheduler or kill would (SIGTERM; Ctrl-C takes the same
    path), resume it, and count the runs. A search held in part (``--fix``), whose held values
    the resume must find as it saved them. (A Keras space's resume: tests/test_cluster.py.)"""
    uri = copy_template(tmp_path / "mlruns" / "mlflow.db")
    env = {**os.environ, "MSER_CACHE_DIR": str(tmp_path / "cache"), "MLFLOW_TRACKING_URI": uri}
    command = [sys.executable, "-m", "cli.search", "--space", "smile_logreg", "--trials", "5", "--language", "de",
               "--fix", "functionals.feature_set=eGeMAPSv02", "--fix", "functionals.select=0",
               "--scheduler", "fifo", "--data-root", str(tiny_demo), "--max-concurrent", "1"]
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    deadline = time.monotonic() + 240
    for line in process.stderr:
        if "2/5 trials ended" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
    said = process.stderr.read()
    assert "Traceback" not in said and said.strip().splitlines()[-1].endswith("continue it with the same command "
                                                                                 "and --resume")
    client = MlflowClient(uri)
    [parent] = client.search_runs([client.get_experiment_by_name("mser").experiment_id], "tags.search = 'parent'")
    assert parent.info.status == "KILLED"
    before = _children(client, parent.info.run_id)
    assert 2 <= len(before) < 5
    assert all(run.info.status != "RUNNING" for run in before)
    assert Outcome.PRUNED not in {outcome(run) for run in before}  # fifo prunes nothing: the stopped trial is not

    resumed = subprocess.run(command + ["--resume", "--json"], env=env, capture_output=True, text=True,
                             cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "before resuming" in resumed.stderr and "5/5 trials ended" in resumed.stderr
    parents = client.search_runs([parent.info.experiment_id], "tags.search = 'parent'")
    assert [p.info.run_id for p in parents] == [parent.info.run_id]
    assert client.get_run(parent.info.run_id).info.status == "FINISHED"
    children = _children(client, parent.info.run_id)
    trial_ids = [c.data.tags["trial_id"] for c in children]
    assert len(children) == 5 and len(set(trial_ids)) == 5
    assert all(c.info.status in ("FINISHED", "KILLED") for c in children)


def test_leave_one_speaker_out_measures_the_objective_on_every_training_speaker(ray_cluster, dataset, tmp_path,
                                                                              tracking_uri, monkeypatch):
    from report.build import analyse, collect

    monkeypatch.setenv("MSER_CACHE_DIR", str(tmp_path / "cache"))
    options = _options(tmp_path, tracking_uri, "cnn_features", trials=2, folds="speakers", epochs=2, top=1,
                       experiment="loso")
    result = run_study(dataset, options)
    client = MlflowClient(tracking_uri)
    finished = [r for r in _children(client, result.parent_run_id) if r.info.status == "FINISHED"]
    assert finished
    for run in finished:
        pool = f"{run.data.tags['speakers.train']} {run.data.tags['speakers.validation']}".split()
        assert not set(pool) & set(run.data.tags["speakers.test"].split())
        folds = client.get_metric_history(run.info.run_id, "cv_val_kappa_fold")
        assert len(folds) == len(pool) >= 2  # one fold per training speaker
        assert run.data.metrics["cv_val_kappa"] == pytest.approx(np.mean([m.value for m in folds]))
    # The objective the choice rests on is that mean (K speaker-grouped folds take the same path,
    # with K folds of training speakers; their split is tested in tests/test_splits.py).
    assert result.best[0]["val_kappa"] == max(r.data.metrics["cv_val_kappa"] for r in finished)
    _, [study] = collect(client, options.experiment)
    choice = analyse(study, resamples=100)["best"]["choice"]
    assert choice["objective"] == "leave one speaker out" and choice["speakers"] == len(pool)


def test_fixed_parameters_hold_in_every_trial_and_the_sampler_searches_the_rest(ray_cluster, dataset, tmp_path,
                                                                              tracking_uri):
    import json

    from report.build import analyse, collect

    fixed = {"functionals.feature_set": "eGeMAPSv02", "functionals.normalisation": "speaker"}
    options = _options(tmp_path, tracking_uri, "smile_logreg", trials=3, folds=0, top=1, refit=False, fixed=fixed,
                       experiment="fixed")
    result = run_study(dataset, options)
    client = MlflowClient(tracking_uri)
    runs = _children(client, result.parent_run_id)
    assert len(runs) == 3
    for run in runs:
        assert {k: run.data.params[k] for k in fixed} == fixed
    # The first trial is the baseline at the fixed values (ComParE's baseline no longer: not the paper point).
    assert len({r.data.params["classifier.C"] for r in runs}) == 3
    assert [r.data.tags[PAPER_TAG] for r in runs].count("true") == 0
    parent = client.get_run(result.parent_run_id)
    assert json.loads(parent.data.tags["fixed_params"]) == fixed
    # The sampler's study holds the searched parameters only.
    sampled = optuna.load_study(study_name=parent.data.tags[OPTUNA_STUDY_TAG],
                                storage=parent.data.tags[OPTUNA_STORAGE_TAG]).trials
    assert {name for t in sampled for name in t.params} == {"functionals/select", "classifier/C",
                                                            "training/class_weighting"}
    _, [study] = collect(client, options.experiment)
    assert analyse(study, resamples=100)["fixed"] == fixed


def test_a_trial_that_completes_its_epochs_is_never_pruned(ray_cluster, dataset, tmp_path, tracking_uri):
    # ASHA's only rung is at the last epoch: a trial stopped there has trained to its end.
    # With --no-refit: the tree of trials alone, and the chosen trial is the study's result.
    result = run_study(dataset, _options(tmp_path, tracking_uri, "cnn_features", trials=4, epochs=3, grace_period=3,
                                         patience=10, top=1, refit=False))
    client = MlflowClient(tracking_uri)
    runs = _children(client, result.parent_run_id, refit=True)
    assert len(runs) == 4 and result.trials["pruned"] == 0 and result.trials["finished"] == 4
    assert result.refit is None and not any(REFIT_OF_TAG in r.data.tags for r in runs)
    parent = client.get_run(result.parent_run_id)
    assert parent.data.tags[RESULT_RUN_TAG] == result.best[0]["run_id"] and parent.data.params["refit"] == "false"
    assert all(r.info.status == "FINISHED" and MODEL_URI_TAG in r.data.tags and outcome(r) is Outcome.FINISHED
               for r in runs)
    assert all(r.data.tags[OUTCOME_TAG] == "finished" for r in runs)  # written by the driver


def test_a_search_whose_every_trial_fails_says_so_and_exits_non_zero(ray_cluster, tiny_demo, tmp_path, tracking_uri,
                                                                     monkeypatch, capfd):
    from cli.search import main

    # An unknown class weighting fails every trial before it can open its MLflow run.
    space = {**SPACES["cnn_features"], "training": {"class_weighting": tune.choice(["bogus"])}}
    monkeypatch.setattr(study_module, "pinned_space", lambda name, fixed=None: space)
    monkeypatch.setattr(study_module, "sampled_point", lambda name, fixed=None: {
        **PAPER_POINTS["cnn_features"], "training": {"class_weighting": "bogus"}})
    status = main(["--space", "cnn_features", "--language", "de", "--trials", "2", "--max-epochs", "2",
                   "--data-root", str(tiny_demo), "--tracking-uri", tracking_uri, "--experiment", "all-fail",
                   "--cache-dir", str(tmp_path / "cache")])
    out, err = capfd.readouterr()
    assert status == 1
    assert "cnn_features on de: 2 trials" in out and "0 finished, 0 pruned by ASHA, 2 failed" in out
    assert "no trial of cnn_features on de finished" in err.strip().splitlines()[-1]


def test_repeats_train_the_study_result_with_other_seeds(ray_cluster, dataset, tmp_path, tracking_uri):
    from report.build import analyse, collect
    from report.page import render

    options = _options(tmp_path, tracking_uri, "cnn_features", trials=2, epochs=3, patience=10, top=1, repeats=2)
    result = run_study(dataset, options)
    client = MlflowClient(tracking_uri)
    runs = _children(client, result.parent_run_id, refit=True)
    chosen = _check_refit(client, result, "cnn_features")  # the repeats are of the study's result, its refit
    repeats = [r for r in runs if REPEAT_OF_TAG in r.data.tags]
    assert len(runs) == 5 and result.trials["runs"] == 2  # neither the refit nor the repeats are trials
    assert {r.data.tags[REPEAT_OF_TAG] for r in repeats} == {chosen.info.run_id}
    assert sorted(r.data.params["seed"] for r in repeats) == ["1", "2"] and chosen.data.params["seed"] == "0"
    for run in repeats:  # same configuration, same speakers, another seed
        assert run.info.status == "FINISHED" and "test_kappa" in run.data.metrics
        assert {k: v for k, v in run.data.params.items() if k != "seed"} == {
            k: v for k, v in chosen.data.params.items() if k != "seed"}
        assert all(run.data.tags[f"speakers.{side}"] == chosen.data.tags[f"speakers.{side}"]
                   for side in ("train", "validation", "test"))
    tests = [r.data.metrics["test_kappa"] for r in repeats]
    parent = client.get_run(result.parent_run_id)
    assert parent.data.metrics["repeats_test_kappa_mean"] == pytest.approx(np.mean(tests))
    assert parent.data.metrics["repeats_test_kappa_sd"] == pytest.approx(np.std(tests, ddof=1))
    assert result.repeats["seeds"] == [1, 2]
    _, [study] = collect(client, options.experiment)
    numbers = analyse(study, resamples=100)
    assert numbers["best"]["refit"]["run_id"] == chosen.info.run_id  # a repeat is never the study's result
    assert numbers["repeats"]["test_kappa"]["mean"] == pytest.approx(np.mean(tests))
    page = render(options.experiment, tracking_uri, [numbers], {}, {"confusions": [], "importance": [], "curves": []},
                  languages=["de"])
    assert 'data-repeats="cnn_features-de"' in page
    assert result.repeats["val_kappa"] is None  # repeats of a refit have no validation speakers: a dash


def test_aggressive_asha_still_finishes_the_paper_configuration_and_the_report_compares(
        ray_cluster, dataset, tmp_path, tracking_uri):
    from report.build import analyse, collect

    # A rung after every epoch from the first: ASHA stops most trials early.
    options = _options(tmp_path, tracking_uri, "cnn_features", trials=8, epochs=6, grace_period=1, patience=10,
                       top=1, experiment="aggressive")
    result = run_study(dataset, options)
    runs = _children(MlflowClient(tracking_uri), result.parent_run_id)
    assert result.trials["pruned"] >= 1
    [paper] = [r for r in runs if r.data.tags.get(PAPER_TAG) == "true"]
    assert paper.info.status == "FINISHED" and outcome(paper) is Outcome.FINISHED and MODEL_URI_TAG in paper.data.tags
    assert "test_kappa" in paper.data.metrics
    _, [study] = collect(MlflowClient(tracking_uri), options.experiment)
    numbers = analyse(study, resamples=100)
    assert numbers["paper"]["run_id"] == paper.info.run_id and not numbers["paper"]["pruned"]
    assert numbers["comparison"]["same_run"] or numbers["comparison"]["verdict"]


def test_asha_stops_weak_encoders_while_they_train(ray_cluster, dataset, tmp_path, tracking_uri, monkeypatch):
    """With encoder rungs, a trial that trains an autoencoder reports a linear probe of its code
    after each encoder epoch; ASHA stops weak encoders there, before any classifier is trained,
    and a stopped encoder is not cached."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MSER_CACHE_DIR", str(cache))
    options = _options(tmp_path, tracking_uri, "sae_cnn", trials=8, sae_epochs=4, epochs=3, grace_period=1,
                       cache_dir=str(cache))
    result = run_study(dataset, options)
    client = MlflowClient(tracking_uri)
    runs = _children(client, result.parent_run_id)
    curves = {run.info.run_id: {name: [m.value for m in client.get_metric_history(run.info.run_id, f"epoch/{name}")]
                                for name in ("sae_probe_kappa", "sae_loss", "val_kappa")} for run in runs}
    trained = [r for r in runs if curves[r.info.run_id]["sae_loss"] and r.data.tags.get("encoder_cache") != "hit"]
    assert trained and all(len(curves[r.info.run_id]["sae_probe_kappa"]) == len(curves[r.info.run_id]["sae_loss"])
                           for r in trained)
    in_encoder = [r for r in runs if outcome(r) is Outcome.PRUNED and not curves[r.info.run_id]["val_kappa"]]
    assert in_encoder, "no trial was stopped while its encoder trained"
    for run in in_encoder:
        assert run.info.status == "KILLED" and len(curves[run.info.run_id]["sae_probe_kappa"]) < 4
        assert "encoder_cache" not in run.data.tags
    stored = [p for p in (cache / "encoders").iterdir() if p.is_dir()]
    # The trials' encoders that trained to their end, and the refit's (on every training speaker).
    assert len(stored) == len([r for r in runs if r.data.tags.get("encoder_cache") == "miss"]) + 1
    paper = [r for r in runs if r.data.tags[PAPER_TAG] == "true"]
    assert [r.info.status for r in paper] == ["FINISHED"]
