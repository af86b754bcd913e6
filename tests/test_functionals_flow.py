"""openSMILE functionals end to end, as the README runs them: a search of every language,
promotion, mser-predict and the REST server (slow; real Ray, MLflow, openSMILE)."""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli.predict import main as predict_main
from cli.registry import promote_main
from mser.corpora import EMOTIONS
from tracking.registry import CHAMPION
from tracking.testing import post_json, served_model
from tracking.testing.sqlite import copy_template

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
NAME = "mser-smile_svm-all"


@pytest.fixture(scope="module")
def flow(tiny_demo, tmp_path_factory, shared_datasets):
    """A finished 3-trial smile_svm search of every language and the joint one, by the real command."""
    root = tmp_path_factory.mktemp("smile")
    shared_datasets(root / "cache")
    uri = copy_template(root / "mlruns" / "mlflow.db")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MSER_CACHE_DIR": str(root / "cache")}
    search = subprocess.run(
        [sys.executable, "-m", "cli.search", "--space", "smile_svm", "--language", "each", "--trials", "3",
         "--top", "1", "--max-concurrent", "1", "--experiment", "smile", "--data-root", str(tiny_demo), "--json"],
        env=env, cwd=root, capture_output=True, text=True, timeout=900)
    assert search.returncode == 0, search.stderr[-3000:]
    return {"root": root, "uri": uri, "env": env, "studies": json.loads(search.stdout)}


@pytest.fixture
def store(flow, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", flow["uri"])
    mlflow.set_tracking_uri(flow["uri"])
    yield MlflowClient(flow["uri"])
    mlflow.set_tracking_uri(None)


def test_every_language_beats_chance_on_held_out_speakers(flow):
    studies = {s["language"]: s for s in flow["studies"]}
    assert set(studies) == {"it", "de", "en", "all"}
    for language, study in studies.items():
        # Chosen on speaker folds by default (ASHA may stop a trial between folds), then refit.
        trials = study["trials"]
        assert trials["finished"] >= 1 and trials["finished"] + trials["pruned"] == 3 and not trials["failed"], study
        assert study["refit"]["test_kappa"] > 0.2, (language, study)


def _speaker_files(store, run_id: str, tiny_demo: Path, speaker: str) -> tuple[list[Path], list[str]]:
    """A test speaker's utterances as the run scored them, and what it predicted for each."""
    run = store.get_run(run_id)
    scored = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/predictions_test.csv")))
    mine = scored[scored["utterance"].str.startswith(f"emodb/{speaker}")]
    return ([tiny_demo / "EmoDB" / "wav" / f"{u.split('/')[1]}.wav" for u in mine["utterance"]],
            [EMOTIONS[i] for i in mine["predicted"]])


def test_the_champion_classifies_a_speakers_files_as_the_test_scoring_did(flow, store, tiny_demo, capsys):
    assert promote_main(["--experiment", "smile", "--space", "smile_svm", "--language", "all", "--json"]) == 0
    [promotion] = json.loads(capsys.readouterr().out)
    assert (promotion["name"], promotion["version"], promotion["alias"]) == (NAME, "1", CHAMPION)
    version = store.get_model_version_by_alias(NAME, CHAMPION)
    files, scored = _speaker_files(store, version.run_id, tiny_demo, "03")
    assert len(files) >= 3
    # Named as one speaker, the files are normalised together, as that test speaker was.
    assert predict_main([*map(str, files), "--speaker", "emodb-03", "--json"]) == 0
    predictions = json.loads(capsys.readouterr().out)["predictions"]
    assert [p["emotion"] for p in predictions] == scored
    assert all(p["windows"] == 1 and abs(sum(p["probabilities"].values()) - 1) < 1e-4 for p in predictions)
    # Without a speaker each file is standardised alone, with the training speakers' statistics.
    assert predict_main([str(files[0]), "--json"]) == 0
    alone = json.loads(capsys.readouterr().out)["predictions"][0]
    assert alone["emotion"] in EMOTIONS and alone["error"] is None


def test_the_champion_served_over_rest_answers_as_predict_does(flow, store, tiny_demo, capsys):
    if not store.search_model_versions(f"name = '{NAME}'"):
        assert promote_main(["--experiment", "smile", "--space", "smile_svm", "--language", "all"]) == 0
    version = store.get_model_version_by_alias(NAME, CHAMPION)
    files, scored = _speaker_files(store, version.run_id, tiny_demo, "08")
    with served_model(f"models:/{NAME}@{CHAMPION}", flow["env"]) as url:
        records = [{"audio": base64.b64encode(f.read_bytes()).decode(), "speaker": "emodb-08"} for f in files]
        answer = post_json(url, {"dataframe_records": records})["predictions"]
        plain = post_json(url, {"dataframe_records": [{"audio": records[0]["audio"]}]})["predictions"][0]
    assert [row["emotion"] for row in answer] == scored and all(row["error"] == "" for row in answer)
    assert predict_main([str(files[0]), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)["predictions"][0]
    assert plain["emotion"] == expected["emotion"]
    for emotion, p in expected["probabilities"].items():
        assert plain[f"p_{emotion}"] == pytest.approx(p, abs=2e-6)


def test_a_warm_started_search_seeds_its_sampler_and_optuna_dashboard_opens_it(flow, store, tiny_demo):
    """--warm-start gives the new study's sampler the earlier search's finished trials (as
    Optuna trials of its study, with their values), and optuna-dashboard shows both studies."""
    import optuna

    from search.sampler import WARM_START_ATTR, open_storage
    from tracking.schema import OPTUNA_STORAGE_TAG, OPTUNA_STUDY_TAG, WARM_START_TAG
    from tracking.testing import free_port, get_json

    search = subprocess.run(
        [sys.executable, "-m", "cli.search", "--space", "smile_svm", "--language", "de", "--trials", "2", "--top", "1",
         "--no-refit", "--max-concurrent", "1", "--experiment", "smile-warm", "--warm-start", "smile",
         "--data-root", str(tiny_demo)],
        env=flow["env"], cwd=flow["root"], capture_output=True, text=True, timeout=600)
    assert search.returncode == 0, search.stderr[-3000:]
    [earlier] = [s for s in flow["studies"] if s["language"] == "de"]
    [parent] = store.search_runs([store.get_experiment_by_name("smile-warm").experiment_id], "tags.search = 'parent'")
    assert parent.data.tags[WARM_START_TAG] == earlier["parent_run_id"]
    url = parent.data.tags[OPTUNA_STORAGE_TAG]
    assert url == f"sqlite:///{flow['root'] / 'mlruns' / 'optuna.db'}"
    assert f"optuna-dashboard {url}" in search.stderr
    study = optuna.load_study(study_name=parent.data.tags[OPTUNA_STUDY_TAG], storage=open_storage(url))
    seeded = [t for t in study.trials if WARM_START_ATTR in t.user_attrs]
    before = optuna.load_study(study_name=store.get_run(earlier["parent_run_id"]).data.tags[OPTUNA_STUDY_TAG],
                               storage=open_storage(url))
    assert len(seeded) == 3 and [t.params for t in seeded] == [t.params for t in before.trials]
    assert [t.value for t in seeded] == [t.value for t in before.trials]
    assert len(study.trials) == 3 + 2  # and its own two

    port = free_port()
    dashboard = subprocess.Popen([str(BIN / "optuna-dashboard"), url, "--host", "127.0.0.1", "--port", str(port),
                                  "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        studies = get_json(f"http://127.0.0.1:{port}/api/studies", wait=60)["study_summaries"]
        names = {s["study_name"]: s["study_id"] for s in studies}
        assert parent.data.tags[OPTUNA_STUDY_TAG] in names and len(names) == 5  # four earlier studies, the new one
        detail = get_json(f"http://127.0.0.1:{port}/api/studies/{names[parent.data.tags[OPTUNA_STUDY_TAG]]}")
        assert len(detail["trials"]) == 5
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)
