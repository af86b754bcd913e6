"""A fourth corpus in a new language, brought as a CSV index, through the whole chain as a
user runs it: inspect, a search on it alone (with a label set of its own) and jointly with
the demo corpora, the report (commands in processes of their own), then promotion and
mser-predict (in this process) (slow; real Ray, MLflow, Keras)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from cli.predict import main as predict_main
from cli.registry import promote_main
from mser.corpora import EMOTIONS
from mser.demo import write_index_corpus
from tracking.schema import LABELS_TAG, speakers_tag
from tracking.testing.sqlite import copy_template

pytestmark = pytest.mark.slow
LABELS = "neutral,angry,happy,sad,surprise"


def _run(module: str, *args: str, env: dict, cwd) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", module, *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_a_corpus_index_in_a_new_language_goes_from_inspect_to_prediction(tiny_demo, tmp_path, monkeypatch, capsys):
    index = write_index_corpus(tmp_path / "urdu", speakers=6, takes=2)
    uri = copy_template(tmp_path / "mlruns" / "mlflow.db")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MSER_CACHE_DIR": str(tmp_path / "cache")}
    # No augmentation (--fix): its audio for two new datasets would be made for this test alone.
    search = ["--space", "cnn_features", "--trials", "2", "--max-epochs", "3", "--grace-period", "1",
              "--max-concurrent", "1", "--experiment", "fourth", "--json", "--fix", "augment.speed=false",
              "--fix", "augment.noise_snr=0"]

    inspect = json.loads(_run("cli.data", "inspect", "--corpus", str(index), "--emotions", LABELS, "--json",
                              env=env, cwd=tmp_path).stdout)
    assert inspect["labels"] == LABELS.split(",") and inspect["drawn"] == ["urdu"]
    assert [row["language"] for row in inspect["corpora"]] == ["ur", ""]

    alone = _run("cli.search", *search, "--language", "ur", "--corpus", str(index), "--emotions", LABELS,
                 env=env, cwd=tmp_path)
    [study] = json.loads(alone.stdout)
    trials = study["trials"]  # ASHA may stop the second trial at its first rung: pruned, not failed
    assert study["language"] == "ur" and trials["finished"] >= 1 and trials["finished"] + trials["pruned"] == 2
    assert not trials["failed"]
    client = MlflowClient(uri)
    best = client.get_run(study["best"][0]["run_id"])
    # The drawn test speakers, as inspect printed them; the labels and the model follow the label set.
    assert set(best.data.tags[speakers_tag("test")].split()) == set(inspect["split"]["test"])
    assert best.data.tags[LABELS_TAG] == LABELS.replace(",", " ")

    joint = _run("cli.search", *search, "--language", "all", "--data-root", str(tiny_demo), "--corpus", str(index),
                 env=env, cwd=tmp_path)
    [together] = json.loads(joint.stdout)
    best = client.get_run(together["best"][0]["run_id"])
    tested = best.data.tags[speakers_tag("test")].split()
    assert {s.split("-")[0] for s in tested} == {"emovo", "emodb", "ravdess", "urdu"}
    assert "test_kappa_ur" in best.data.metrics and best.data.tags[LABELS_TAG] == " ".join(EMOTIONS)

    page = (tmp_path / "reports" / "fourth" / "report.html").read_text()
    assert ">ur<" in page and "surprise" in page

    # Promotion and prediction in this process (as the other flows run them): the store is the search's.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    try:
        assert promote_main(["--experiment", "fourth", "--language", "ur", "--json"]) == 0
        [promoted] = json.loads(capsys.readouterr().out)
        assert promoted["name"] == "mser-cnn_features-ur"
        files = pd.read_csv(index)["file"].head(3).map(lambda f: str(index.parent / f)).tolist()
        assert predict_main([*files, "--model", "models:/mser-cnn_features-ur@champion", "--json"]) == 0
        records = json.loads(capsys.readouterr().out)["predictions"]
    finally:
        mlflow.set_tracking_uri(None)  # as the commands left it, for the next test of this worker
    assert len(records) == 3 and all(r["emotion"] in LABELS.split(",") for r in records)
    assert all(sorted(r["probabilities"]) == sorted(LABELS.split(",")) for r in records)
