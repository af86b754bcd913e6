"""Runs in MLflow: statuses, curves, artifacts and a model that predicts as in memory (slow)."""

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from cli.train import main
from mser.dataset import load_dataset
from mser.errors import MserError
from mser.train import TrainConfig, train
from tracking.model import check_model
from tracking.runs import CURVE_PREFIX, EpochLogger, log_result, tracked_run
from tracking.store import ensure_store, experiment_id


@pytest.fixture(scope="module")
def dataset(tiny_demo, tmp_path_factory, shared_datasets):
    return load_dataset(tiny_demo, cache_dir=shared_datasets(tmp_path_factory.mktemp("cache")))


def _client(uri):
    client = ensure_store(uri)
    return client, experiment_id(client, "test")


def test_a_failing_run_ends_failed_and_an_interrupted_one_killed(tracking_uri):
    client, experiment = _client(tracking_uri)
    with pytest.raises(RuntimeError):
        with tracked_run(client, experiment, run_name="boom") as run_id:
            raise RuntimeError("boom")
    assert client.get_run(run_id).info.status == "FAILED"
    with pytest.raises(KeyboardInterrupt):
        with tracked_run(client, experiment, run_name="stop") as run_id:
            raise KeyboardInterrupt
    assert client.get_run(run_id).info.status == "KILLED"


@pytest.mark.slow
def test_logged_model_predicts_what_the_pipeline_predicts(tracking_uri, dataset, tiny_demo):
    client, experiment = _client(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    config = TrainConfig(model="sae_cnn_features", language="all", sae_epochs=2, epochs=4, patience=3)
    with tracked_run(client, experiment, run_name="t") as run_id:
        result = train(dataset, config, on_epoch=EpochLogger(client, run_id))
        log_result(client, run_id, result, dataset=dataset)
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["val_kappa"] == pytest.approx(result.metrics()["val_kappa"])
    # The data each side saw, in MLflow's own terms: the dataset key as digest, a context per side.
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert set(inputs) == {"training", "validation", "test"}
    for context, side in (("training", "train"), ("validation", "validation"), ("test", "test")):
        logged = inputs[context]
        assert logged.digest == dataset.key[:32] and logged.name == f"mser-{dataset.key[:12]}-{side}"
        assert json.loads(logged.profile)["num_rows"] == int(dataset.utterances["speaker"].isin(
            getattr(result.split, side)).sum())
    steps = [m.step for m in client.get_metric_history(run_id, f"{CURVE_PREFIX}val_kappa")]
    assert steps == list(range(len(result.history["val_kappa"])))
    assert len(client.get_metric_history(run_id, f"{CURVE_PREFIX}sae_loss")) == len(result.history["sae_loss"])
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"confusion_test.png", "confusion_test.json", "confusion_validation.png", "curves.png",
            "split.json"} <= artifacts
    matrix = json.loads(open(client.download_artifacts(run_id, "confusion_test.json")).read())["matrix"]
    assert np.array_equal(matrix, result.test.confusion)

    [logged] = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list")
    assert logged.source_run_id == run_id
    model = mlflow.pyfunc.load_model(logged.model_uri)
    files = sorted((tiny_demo / "RAVDESS" / "Actor_09").glob("*.wav"))[:3]
    by_path = model.predict(pd.DataFrame({"path": [str(f) for f in files]}))
    by_bytes = model.predict(pd.DataFrame({"audio": [f.read_bytes() for f in files]}))
    for row, bytes_row, path in zip(by_path.itertuples(), by_bytes.itertuples(), files):
        expected = result.pipeline.predict_file(path)
        assert row.emotion == bytes_row.emotion == expected.emotion
        assert row.p_angry == pytest.approx(expected.probabilities["angry"], abs=1e-5)
    bad = model.predict(pd.DataFrame({"audio": [b"not a wav"]}))
    assert bad.loc[0, "emotion"] == "" and "not a readable wav" in bad.loc[0, "error"]
    assert model.metadata.signature.inputs.input_names() == ["audio", "path", "speaker"]


@pytest.mark.slow
def test_a_logged_model_is_checked_by_loading_it_and_predicting_its_example(tracking_uri, dataset, tmp_path):
    client, experiment = _client(tracking_uri)
    mlflow.set_tracking_uri(tracking_uri)
    config = TrainConfig(model="cnn_features", language="de", epochs=2, patience=2)
    with tracked_run(client, experiment, run_name="checked") as run_id:
        result = train(dataset, config, score_test=False)
        log_result(client, run_id, result, dataset=dataset)
    run = client.get_run(run_id)
    artifacts = {a.path for a in client.list_artifacts(run_id)}
    assert {"curves.png", "confusion_validation.png", "split.json"} <= artifacts
    assert run.data.tags["speakers.test"] == " ".join(result.split.test)
    assert run.data.tags["best_epoch"] == str(result.best_epoch)
    model_uri = run.data.tags["model_uri"]
    folder = mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path))
    assert (Path(folder) / "serving_input_example.json").is_file()
    check_model(model_uri)
    (Path(folder) / "artifacts" / "pipeline" / "pipeline.json").unlink()  # break a local copy
    with pytest.raises(MserError, match="does not load and predict"):
        check_model(folder)


@pytest.mark.slow
def test_mser_train_command_prints_json_and_records_the_run(tracking_uri, tiny_demo, capfd):
    assert main(["--model", "cnn_features", "--language", "de", "--data-root", str(tiny_demo),
                 "--max-epochs", "2", "--json", "--experiment", "cli"]) == 0
    out, err = capfd.readouterr()
    report = json.loads(out)  # stdout holds the results only, whatever the libraries print
    assert "browse the runs with: mser-ui --experiment cli" in err
    client, _ = _client(tracking_uri)
    run = client.get_run(report["run_id"])
    assert run.info.status == "FINISHED" and run.data.params["language"] == "de"
    assert run.data.metrics["test_kappa"] == pytest.approx(report["metrics"]["test_kappa"])
    assert report["speakers"]["test"] == ["emodb-08", "emodb-03"]


@pytest.mark.slow
def test_reproduce_prints_table4_beside_the_paper(tracking_uri, tiny_demo, capfd):
    assert main(["--reproduce", "--data-root", str(tiny_demo), "--max-epochs", "1", "--patience", "1",
                 "--experiment", "test"]) == 0
    out = capfd.readouterr().out
    assert "AE + CNN (encoded signal + features)" in out and "0.542" in out and "all here" in out
    client, experiment = _client(tracking_uri)
    assert len(client.search_runs([experiment])) == 20


def test_bad_options_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["--model", "svm"])
    assert "invalid choice: 'svm'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--max-epochs", "0"])
    assert "argument --max-epochs: 0 is too small: give 1 or more" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # no functionals is the code statistics' choice only
        main(["--model", "smile_svm", "--feature-set", "none"])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("mser-train: error: --feature-set none: smile_svm reads one of eGeMAPSv02, ComParE_2016")
    assert "is for the sae_stats_* models" in err


def test_a_language_without_data_is_refused_before_a_store_or_run_exists(tiny_demo, tmp_path, capfd):
    root = tmp_path / "only-emodb"
    root.mkdir()
    (root / "EmoDB").symlink_to(tiny_demo / "EmoDB")
    store = tmp_path / "m.db"
    for language in ("it", "all-but-it"):  # all-but-it trains on de and en, and tests Italian
        assert main(["--model", "cnn_features", "--language", language, "--data-root", str(root),
                     "--tracking-uri", f"sqlite:///{store}", "--cache-dir", str(tmp_path / "cache")]) == 2
        err = capfd.readouterr().err.strip().splitlines()
        assert err[-1].startswith("mser-train: error: no data for language") and "it" in err[-1]
        assert "Traceback" not in "\n".join(err) and not store.exists()


@pytest.mark.slow
def test_a_held_out_language_model_trains_with_the_joint_models_epochs(tracking_uri, tiny_demo, capfd):
    assert main(["--model", "cnn_features", "--language", "all-but-it", "--data-root", str(tiny_demo),
                 "--max-epochs", "2", "--json", "--experiment", "held-out"]) == 0
    report = json.loads(capfd.readouterr().out)
    assert all(s.startswith("emovo-") for s in report["speakers"]["test"])
    assert not any(s.startswith("emovo-") for s in report["speakers"]["validation"])
    assert set(report["metrics"]) >= {"val_kappa", "test_kappa"}
