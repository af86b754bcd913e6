"""The promotion gate, model URIs that name nothing, and the commands' bad input (fast)."""

import json

import pytest
from mlflow.tracking import MlflowClient

from cli.predict import collect
from cli.predict import main as predict_main
from cli.registry import models_main, promote_main
from mser.errors import MserError
from tracking.registry import (
    CHALLENGER,
    CHAMPION,
    ENSEMBLE,
    ModelNotFound,
    best_candidates,
    decide,
    ensembles,
    load,
    registered_name,
    resolve_model,
)
from tracking.store import ensure_store


def test_the_gate_needs_a_margin_unless_forced():
    assert decide(0.30, None, margin=0.01, force=False)[0] == CHAMPION
    assert decide(0.32, 0.30, margin=0.01, force=False)[0] == CHAMPION
    alias, reason = decide(0.305, 0.30, margin=0.01, force=False)
    assert alias == CHALLENGER and "0.305" in reason and "0.300" in reason and "--force" in reason
    assert decide(0.30, 0.30, margin=0.0, force=False)[0] == CHALLENGER  # a tie is no improvement
    assert decide(0.10, 0.30, margin=0.01, force=True)[0] == CHAMPION
    assert decide(0.10, 0.30, margin=-0.5, force=False)[0] == CHAMPION


def test_registered_names_are_one_per_space_and_language():
    assert registered_name("sae_cnn", "de") == "mser-sae_cnn-de"


def test_model_uris_that_name_nothing_say_what_exists(tracking_uri):
    client = MlflowClient(tracking_uri)
    with pytest.raises(ModelNotFound, match="no registered model 'mser-sae_cnn-de'.*registered: none.*mser-promote"):
        resolve_model(client, "models:/mser-sae_cnn-de@champion")
    client.create_registered_model("mser-sae_cnn-de")
    with pytest.raises(ModelNotFound,
                       match="has no alias 'champion'.*aliases: none.*models:/mser-sae_cnn-de/<version>"):
        resolve_model(client, "models:/mser-sae_cnn-de@champion")
    with pytest.raises(ModelNotFound, match="has no version 7"):
        resolve_model(client, "models:/mser-sae_cnn-de/7")
    with pytest.raises(ModelNotFound, match="no registered model has a champion"):
        resolve_model(client, None)
    passthrough = resolve_model(client, "runs:/0123/model")
    assert passthrough.load_uri == "runs:/0123/model" and passthrough.label == "runs:/0123/model"
    with pytest.raises(Exception, match="cannot load model runs:/0123/model.*mser-models"):
        load(passthrough)


def test_predict_with_a_missing_alias_is_one_line_and_status_2(tracking_uri, tmp_path, capsys):
    MlflowClient(tracking_uri).create_registered_model("mser-sae_svm-it")
    (tmp_path / "a.wav").write_bytes(b"")
    status = predict_main([str(tmp_path / "a.wav"), "--model", "models:/mser-sae_svm-it@champion"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2
    assert err[-1].startswith("mser-predict: error: model 'mser-sae_svm-it' has no alias 'champion'")


def test_predict_refuses_a_bad_uri_and_a_bad_option(tracking_uri, tmp_path, capsys):
    (tmp_path / "a.wav").write_bytes(b"")
    assert predict_main([str(tmp_path / "a.wav"), "--model", "not-a-model-uri"]) == 2
    assert "cannot load model not-a-model-uri" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        predict_main([])
    assert exit_info.value.code == 2


def test_collect_walks_folders_once_and_names_what_is_missing(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/x.wav", "a/b/y.WAV", "a/notes.txt"):
        (tmp_path / name).write_bytes(b"RIFF")
    (tmp_path / "empty").mkdir()
    files, missing = collect([tmp_path / "a", tmp_path / "a" / "x.wav", tmp_path / "empty", tmp_path / "nope.wav"])
    assert files == [tmp_path / "a" / "b" / "y.WAV", tmp_path / "a" / "x.wav"]
    assert [(p.name, reason) for p, reason in missing] == [
        ("empty", "no .wav files in this folder"), ("nope.wav", "no such file or folder")]


def test_promote_without_runs_and_models_without_models_say_what_to_do(tracking_uri, capsys):
    ensure_store(tracking_uri)  # an empty store
    assert promote_main(["--experiment", "nothing-here"]) == 2
    assert "no experiment 'nothing-here'" in capsys.readouterr().err
    assert models_main(["--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert models_main([]) == 0
    assert "no mser-* model is registered" in capsys.readouterr().err


def test_a_run_whose_model_does_not_load_is_not_promoted(tracking_uri, capsys):
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("broken")
    run = client.create_run(experiment, run_name="sae_cnn-de-broken", tags={
        "model": "sae_cnn", "language": "de", "model_uri": "models:/m-0123456789abcdef0123456789abcdef"})
    client.log_metric(run.info.run_id, "val_kappa", 0.5)
    client.set_terminated(run.info.run_id)
    assert promote_main(["--experiment", "broken"]) == 1
    err = capsys.readouterr().err
    assert "models:/m-0123456789abcdef0123456789abcdef does not load and predict" in err
    assert f"run sae_cnn-de-broken ({run.info.run_id}) was not promoted" in err
    [line] = [line for line in err.splitlines() if " INFO mlflow" not in line]  # one line, no traceback
    assert line.startswith("mser-sae_cnn-de: the model models:/m-") and "was not promoted" in line
    assert client.search_registered_models() == []


def test_an_ensemble_is_a_candidate_of_its_own_name(tracking_uri):
    """An mser-ensemble run (no model space of its own) registers as mser-ensemble-<language>,
    chosen by its validation kappa, beside the studies' candidates; --space ensemble asks for it alone."""
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("mixed")
    for name, tags, kappa in (("cnn_features-de-1", {"model": "cnn_features"}, 0.4),
                              ("ensemble-de-1", {"ensemble": "true"}, 0.5),
                              ("ensemble-de-2", {"ensemble": "true"}, 0.45)):
        run = client.create_run(experiment, run_name=name, tags={
            **tags, "language": "de", "model_uri": f"runs:/{name}/model", "speakers.validation": "03 08"})
        client.log_metric(run.info.run_id, "val_kappa", kappa)
        client.set_terminated(run.info.run_id)
    found = best_candidates(client, "mixed")
    assert set(found) == {"mser-cnn_features-de", f"mser-{ENSEMBLE}-de"}
    ensemble = found[f"mser-{ENSEMBLE}-de"]
    assert ensemble.space == ENSEMBLE and ensemble.run_name == "ensemble-de-1" and ensemble.val_kappa == 0.5
    assert set(best_candidates(client, "mixed", space=ENSEMBLE)) == {f"mser-{ENSEMBLE}-de"}
    assert set(ensembles(client, "mixed", "de")) == {f"mser-{ENSEMBLE}-de"} and ensembles(client, "mixed", "it") == {}
    with pytest.raises(MserError, match="run mser-ensemble --language it --experiment mixed first"):
        best_candidates(client, "mixed", space=ENSEMBLE, language="it")


@pytest.mark.parametrize("command", ["mser-promote", "mser-models", "mser-predict", "mser-report", "mser-ui"])
def test_read_only_commands_never_create_a_store(command, tmp_path, monkeypatch, capfd):
    from cli.report import main as report_main
    from cli.ui import main as ui_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    mains = {"mser-promote": (promote_main, []), "mser-models": (models_main, []),
             "mser-predict": (predict_main, ["x.wav"]), "mser-report": (report_main, []), "mser-ui": (ui_main, [])}
    main, argv = mains[command]
    assert main(argv) == 2
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{command}: error: no tracking store at ") and "mser-search" in err
    assert "Traceback" not in err and not out
    assert not (tmp_path / "mlruns").exists()


def test_a_store_that_cannot_be_reached_is_one_line_within_seconds(tmp_path, capfd):
    import time

    started = time.monotonic()
    assert predict_main([str(tmp_path / "x.wav"), "--tracking-uri", "http://127.0.0.1:9"]) == 2
    assert models_main(["--tracking-uri", "sqlite:////proc/x.db"]) == 2
    assert time.monotonic() - started < 20
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert len(lines) == 2 and not out and "Traceback" not in err
    assert lines[0].startswith("mser-predict: error: cannot reach the tracking server http://127.0.0.1:9")
    assert lines[1].startswith("mser-models: error: no tracking store at /proc/x.db")


def test_a_missing_alias_or_version_lists_what_exists(tracking_uri, monkeypatch):
    """Versions are numbers in MLflow's answer: the message lists them (it once raised a TypeError)."""
    from mlflow.entities.model_registry import ModelVersion

    from tracking import registry

    client = MlflowClient(tracking_uri)
    client.create_registered_model("mser-x-de")
    monkeypatch.setattr(registry, "_versions",
                        lambda client, name: [ModelVersion(name, 1, 0), ModelVersion(name, 2, 0)])
    for uri, what in (("models:/mser-x-de@nope", "alias 'nope'"), ("models:/mser-x-de/7", "version 7")):
        with pytest.raises(ModelNotFound, match=f"has no {what} .aliases: none; versions: 1, 2"):
            resolve_model(client, uri)


def test_a_file_that_breaks_the_model_costs_only_its_own_answer(tmp_path):
    import pandas as pd

    from cli.predict import _predict

    class Model:  # answers like the logged model, but fails on a whole batch holding "bad"
        def predict(self, table):
            if any("bad" in p for p in table["path"]):
                raise ValueError("boom")
            return pd.DataFrame([{"emotion": "sad", "p_sad": 1.0, "windows": 1, "error": ""} for _ in table["path"]])

    batch = [tmp_path / name for name in ("a.wav", "bad.wav", "c.wav")]
    records = _predict(Model(), pd.DataFrame({"path": [str(p) for p in batch]}), batch)
    assert [r["emotion"] for r in records] == ["sad", None, "sad"]
    assert records[1]["error"] == "the model could not classify it (ValueError: boom)"
