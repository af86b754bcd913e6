"""From a real search to a served model, as the README runs it: search, promote (with its
gate), list, predict, serve over REST on loopback (slow; real Ray, MLflow, Keras)."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from cli.predict import main as predict_main
from cli.registry import models_main, promote_main
from mser.testing import tone, write_non_finite, write_one_sample, write_truncated, write_wav
from tracking.registry import CHALLENGER, CHAMPION
from tracking.testing import free_port, post_json, served_model
from tracking.testing.sqlite import copy_template

pytestmark = pytest.mark.slow
NAME = "mser-sae_cnn-de"
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def flow(tiny_demo, tmp_path_factory, shared_datasets):
    """A finished 4-trial search of sae_cnn on German, run by the real command."""
    root = tmp_path_factory.mktemp("lifecycle")
    shared_datasets(root / "cache")
    uri = copy_template(root / "mlruns" / "mlflow.db")
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MSER_CACHE_DIR": str(root / "cache")}
    search = subprocess.run(
        [sys.executable, "-m", "cli.search", "--space", "sae_cnn", "--language", "de", "--trials", "4",
         "--max-epochs", "4", "--sae-epochs", "1", "--grace-period", "2", "--top", "2", "--max-concurrent", "1",
         "--experiment", "e2e", "--data-root", str(tiny_demo), "--json"],
        env=env, cwd=root, capture_output=True, text=True, timeout=900)
    assert search.returncode == 0, search.stderr[-3000:]
    # The search ends by writing the study report, in the folder it ran from.
    assert (root / "reports" / "e2e" / "report.html").stat().st_size > 10_000
    return {"root": root, "uri": uri, "env": env, "search": json.loads(search.stdout)[0]}


@pytest.fixture
def store(flow, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", flow["uri"])
    return MlflowClient(flow["uri"])


def _finished_trials(client, parent):
    experiment = client.get_run(parent).info.experiment_id
    return client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}' and attributes.status = 'FINISHED'")


def _alias(store, alias: str) -> str:
    return str(store.get_model_version_by_alias(NAME, alias).version)


def _promote(capsys, *args) -> dict:
    assert promote_main([*args, "--json"]) == 0
    [promotion] = json.loads(capsys.readouterr().out)
    return promotion


def test_promotions_at_once_register_the_best_trial_once(flow, store, tmp_path):
    # Three promotions race; the lock lets one register the version and the others find it.
    # As a user runs it: the store named by --tracking-uri only, from another folder.
    env = {k: v for k, v in flow["env"].items() if k != "MLFLOW_TRACKING_URI"}
    command = [str(BIN / "mser-promote"), "--experiment", "e2e", "--tracking-uri", flow["uri"], "--json"]
    processes = [subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=300) for p in processes]
    assert all(p.returncode == 0 for p in processes), [err[-1000:] for _, err in outputs]
    promotions = [json.loads(out)[0] for out, _ in outputs]
    assert sorted(p["registered"] for p in promotions) == [False, False, True]
    assert not [p for p in tmp_path.iterdir() if p.name != "cache"]  # no stray store in the working folder
    assert {p["version"] for p in promotions} == {"1"}
    [version] = store.search_model_versions(f"name = '{NAME}'")
    assert version.status == "READY"
    assert _alias(store, CHAMPION) == str(version.version)

    # The study's result: the best finished trial by validation kappa, trained again on every
    # training speaker (its refit), with what a reader needs to trust it.
    runs = _finished_trials(store, flow["search"]["parent_run_id"])
    trials = [r for r in runs if "refit_of" not in r.data.tags]
    best = max(trials, key=lambda r: (r.data.metrics["val_kappa"], -r.info.start_time))
    [refit] = [r for r in runs if r.data.tags.get("refit_of") == best.info.run_id]
    assert version.run_id == refit.info.run_id == flow["search"]["refit"]["run_id"]
    tags = version.tags
    assert float(tags["val_kappa"]) == pytest.approx(best.data.metrics["val_kappa"])
    assert float(tags["test_kappa"]) == pytest.approx(refit.data.metrics["test_kappa"])
    assert tags["dataset_key"] == best.data.tags["dataset_key"]
    assert tags["labels"] == "neutral sad angry happy fear disgust"
    assert tags["speakers.test"] == best.data.tags["speakers.test"] == "emodb-08 emodb-03"
    assert set(tags["speakers.train"].split()) == set(
        f"{best.data.tags['speakers.train']} {best.data.tags['speakers.validation']}".split())
    assert tags["run_id"] == refit.info.run_id and tags["selected_by"] == "val_kappa"


def test_the_gate_keeps_the_champion_unless_beaten_or_forced(flow, store, tiny_demo, capsys):
    from cli.train import main as train_main

    # A second candidate for the same name: one model trained outside the search.
    assert train_main(["--model", "sae_cnn", "--language", "de", "--max-epochs", "2", "--experiment", "other",
                       "--data-root", str(tiny_demo), "--json"]) == 0
    capsys.readouterr()
    champion = _alias(store, CHAMPION)

    held = _promote(capsys, "--experiment", "other", "--margin", "2")  # no kappa gains 2
    assert held["alias"] == CHALLENGER and "does not beat" in held["reason"] and held["registered"]
    assert _alias(store, CHAMPION) == champion
    assert _alias(store, CHALLENGER) == held["version"]

    forced = _promote(capsys, "--experiment", "other", "--margin", "2", "--force")
    assert forced["alias"] == CHAMPION and forced["version"] == held["version"] and not forced["registered"]
    assert forced["reason"].startswith("--force")
    assert _alias(store, CHAMPION) == held["version"]
    assert CHALLENGER not in store.get_registered_model(NAME).aliases  # one version, one role

    back = _promote(capsys, "--experiment", "e2e", "--force")  # the search's model is champion again
    assert back["alias"] == CHAMPION and back["version"] == champion and not back["registered"]
    assert _alias(store, CHAMPION) == champion

    assert models_main(["--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["model"], r["version"], r["aliases"]) for r in rows] == [(NAME, "1", CHAMPION), (NAME, "2", "")]
    assert all(r["val_kappa"] is not None and r["status"] == "READY" for r in rows)
    assert models_main([]) == 0
    assert "champion" in capsys.readouterr().out


@pytest.fixture(scope="module")
def inputs(tiny_demo, tmp_path_factory):
    """Demo recordings, the same voice at 44.1 kHz stereo, and bad files."""
    folder = tmp_path_factory.mktemp("inputs")
    demo = sorted((Path(tiny_demo) / "EmoDB").rglob("*.wav"))[:3]
    for path in demo:
        (folder / path.name).write_bytes(path.read_bytes())
    write_wav(folder / "nested" / "stereo-44k.wav", tone(2.5, 44_100, channels=2), 44_100)
    write_wav(folder / "silent.wav", np.zeros(16_000 * 2), 16_000)
    write_wav(folder / "short.wav", tone(0.4, 16_000), 16_000)
    write_truncated(folder / "truncated.wav")
    (folder / "not-audio.wav").write_text("hello")
    write_non_finite(folder / "inf.wav")
    write_one_sample(folder / "one-sample.wav")
    return folder


def test_predict_classifies_good_files_and_names_each_bad_one(flow, store, inputs, capsys):
    status = predict_main([str(inputs), str(inputs / "missing.wav"), "--model", f"models:/{NAME}@{CHAMPION}",
                           "--json"])
    captured = capsys.readouterr()
    assert status == 1  # some files could not be classified
    result = json.loads(captured.out)
    version = store.get_model_version_by_alias(NAME, CHAMPION)
    assert result["model"] == {"uri": f"models:/{NAME}@{CHAMPION}", "name": NAME, "version": str(version.version),
                               "alias": CHAMPION, "run_id": version.run_id}
    by_name = {Path(r["path"]).name: r for r in result["predictions"]}
    good = [n for n, r in by_name.items() if not r["error"]]
    assert sorted(good) == sorted([p.name for p in inputs.glob("*.wav") if p.name[0].isdigit()] + ["stereo-44k.wav"])
    for name in good:
        record = by_name[name]
        probabilities = record["probabilities"]
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-4)
        assert record["emotion"] == max(probabilities, key=probabilities.get) and record["windows"] >= 1
    assert "silent" in by_name["silent.wav"]["error"]
    assert "too short" in by_name["short.wav"]["error"]
    assert "truncated" in by_name["truncated.wav"]["error"]
    assert "unreadable" in by_name["not-audio.wav"]["error"]
    assert by_name["missing.wav"]["error"] == "no such file or folder"
    assert "not finite" in by_name["inf.wav"]["error"] and "too short" in by_name["one-sample.wav"]["error"]
    errors = [line for line in captured.err.splitlines() if line.startswith("mser-predict: ")]
    assert len(errors) == 7 and all(str(inputs) in line or "missing.wav" in line for line in errors)

    # The table for people names the version used and lists the classified files.
    assert predict_main([str(inputs / "nested")]) == 0  # the only champion is the default model
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith(f"model: {NAME} version {version.version} ({CHAMPION}), run ")
    assert "stereo-44k.wav" in out and "disgust" in out


def test_the_champion_served_over_rest_answers_as_predict_does(flow, store, inputs, capsys):
    wav = sorted(inputs.glob("[0-9]*.wav"))[0]
    assert predict_main([str(wav), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)["predictions"][0]

    with served_model(f"models:/{NAME}@{CHAMPION}", flow["env"]) as url:
        by_audio = post_json(url, {"dataframe_records": [{"audio": base64.b64encode(wav.read_bytes()).decode()}]})
        by_path = post_json(url, {"dataframe_split": {"columns": ["path"],
                                                      "data": [[str(wav)], [str(inputs / "short.wav")]]}})
        broken = post_json(url, {"dataframe_records": [{"audio": base64.b64encode(b"not a wav").decode()}]})
        # One request, a good row among bad ones: each row gets its own answer.
        mixed = post_json(url, {"dataframe_records": [
            {"audio": base64.b64encode((inputs / name).read_bytes()).decode()}
            for name in (wav.name, "one-sample.wav", "inf.wav")] + [{"path": str(inputs / "short.wav")}]})
    for row in (by_audio["predictions"][0], by_path["predictions"][0]):
        assert row["emotion"] == expected["emotion"] and row["error"] == ""
        for emotion, p in expected["probabilities"].items():
            assert row[f"p_{emotion}"] == pytest.approx(p, abs=1e-6)
    assert "too short" in by_path["predictions"][1]["error"]
    assert "not a readable wav" in broken["predictions"][0]["error"]
    good, one_sample, infinite, by_path_among_audio = mixed["predictions"]
    assert "too short" in by_path_among_audio["error"]
    assert good["emotion"] == expected["emotion"] and good["error"] == ""
    assert "too short" in one_sample["error"] and one_sample["emotion"] == ""
    assert "not finite" in infinite["error"] and infinite["emotion"] == ""


ARTIFACTS = Path(os.environ.get("MSER_TEST_ARTIFACTS", Path(__file__).parents[1] / "test-artifacts"))
NAME_CELL = '[role=gridcell][col-id="attributes.`Run Name`"]'
KAPPA_CELL = '[role=gridcell][col-id="metrics.`val_kappa`"]'


def test_the_ui_shows_the_trials_their_kappa_and_a_confusion_matrix(flow, store):
    """mser-ui on the search's store, looked at in headless Chromium; screenshots kept in test-artifacts/."""
    import shutil

    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "the browser test needs Debian's chromium: apt-get install chromium"
    experiment = store.get_experiment_by_name("e2e").experiment_id
    parent = store.get_run(flow["search"]["parent_run_id"])
    trials = store.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    scored = [t for t in trials if "val_kappa" in t.data.metrics]
    best = max(scored, key=lambda t: t.data.metrics["val_kappa"])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)

    port = free_port()
    ui = subprocess.Popen([str(BIN / "mser-ui"), "--port", str(port), "--experiment", "e2e"], env=flow["env"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = ui.stdout.readline().strip()  # printed once the UI answers
        assert url == f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs?workflowType=machine_learning"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
            page = browser.new_context(viewport={"width": 1920, "height": 1080}).new_page()
            page.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)
            page.goto(url)
            # Landed on the runs table of a model-training experiment, the search's parent run in it.
            expect(page.locator(NAME_CELL).get_by_role("link", name=parent.info.run_name, exact=True)).to_be_visible()
            expect(page.get_by_role("heading", name="Runs", level=2)).to_be_visible()  # not the GenAI overview
            close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
            if close.is_visible():
                close.click()
            # The trials sit under the parent: expand it and find each one.
            page.locator(f'[role=row][row-id="{parent.info.run_id}"] {NAME_CELL} button').click()
            for trial in trials:
                link = page.locator(NAME_CELL).get_by_role("link", name=trial.info.run_name, exact=True)
                expect(link).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "ui-trials.png"), full_page=True)
            # Sorting by val_kappa, highest first, adds its column: every scored trial shows its
            # value, and once the sorted runs arrive from the server the best is on top.
            page.get_by_test_id("sort-select-dropdown").click()
            page.get_by_test_id("sort-select-desc").click()
            if not page.get_by_test_id("sort-select-val_kappa").is_visible():
                page.get_by_test_id("sort-select-dropdown").click()
            page.get_by_test_id("sort-select-val_kappa").click()
            page.keyboard.press("Escape")
            expect(page).to_have_url(re.compile(r"orderByKey=metrics\.%60val_kappa%60.*orderByAsc=false"))
            expect(page.get_by_test_id("sort-header-val_kappa")).to_be_visible()
            for trial in scored:
                cell = page.locator(f'[role=row][row-id="{trial.info.run_id}"] {KAPPA_CELL}')
                expect(cell).to_be_visible()
                assert float(cell.inner_text()) == pytest.approx(trial.data.metrics["val_kappa"])
            best_text = page.locator(f'[role=row][row-id="{best.info.run_id}"] {KAPPA_CELL}').inner_text()
            # Rows sit in the DOM in any order; row-index is their place on screen.
            expect(page.locator(f'.ag-center-cols-container [role=row][row-index="0"] {KAPPA_CELL}')).to_have_text(
                best_text)
            page.screenshot(path=str(ARTIFACTS / "ui-runs-by-kappa.png"), full_page=True)
            # The best trial's confusion matrix, shown as a picture.
            page.goto(f"http://127.0.0.1:{port}/#/experiments/{experiment}/runs/{best.info.run_id}/artifacts/"
                      "confusion_validation.png?workflowType=machine_learning")
            image = page.locator('img[alt="confusion_validation.png"]')
            expect(image).to_be_visible()
            page.wait_for_function("() => { const i = document.querySelector('img[alt=\"confusion_validation.png\"]');"
                                   " return i && i.complete && i.naturalWidth > 0; }")
            assert image.evaluate("i => i.naturalWidth") > 300
            page.screenshot(path=str(ARTIFACTS / "ui-confusion.png"), full_page=True)
            browser.close()
    finally:
        ui.terminate()
        ui.wait(timeout=30)
