"""The study report, built from small real searches (slow) and checked against the MLflow runs."""

import base64
import io
import json
import os
import re
import shutil
from pathlib import Path

import mlflow
import pandas as pd
import pytest
import ray
from mlflow.tracking import MlflowClient

from cli.report import main as report_main
from mser.dataset import load_dataset
from mser.functionals import FEATURE_SETS
from mser.metrics import kappa
from mser.paper import TABLE4
from mser.stats import compare_paired
from report.build import write_report
from search.options import StudyOptions
from search.study import run_study
from search.transfer import score_transfer
from tracking.store import ensure_store

SECTIONS = ["kappa-table", "results", "serving", "families", "joint-model", "across-languages", "vs-paper",
            "confusion", "importance", "curves", "data"]
ARTIFACTS = Path(os.environ.get("MSER_TEST_ARTIFACTS", Path(__file__).parents[2] / "test-artifacts"))


def test_a_report_of_nothing_says_what_to_run(tracking_uri, capsys):
    assert report_main(["--experiment", "never-searched"]) == 2
    assert "no tracking store at" in capsys.readouterr().err  # and none was created
    ensure_store(tracking_uri)
    assert report_main(["--experiment", "never-searched"]) == 2
    assert "no experiment 'never-searched'" in capsys.readouterr().err


HELD = {"cnn_features": {"augment.speed": False}}


@pytest.fixture(scope="module")
def searched(tiny_demo, tmp_path_factory, shared_datasets):
    """Five studies of one experiment on a real local Ray cluster: cnn_features on German,
    Italian, jointly and without Italian (all-but-it), and smile_logreg (another model
    family) on German; then the transfer scores, as mser-search computes them."""
    root = tmp_path_factory.mktemp("report")
    shared_datasets(root / "cache")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}})
    try:
        dataset = load_dataset(tiny_demo, cache_dir=root / "cache", feature_sets=FEATURE_SETS)
        for space, language, trials in (("cnn_features", "de", 4), ("cnn_features", "all", 2),
                                        ("cnn_features", "it", 2), ("cnn_features", "all-but-it", 2),
                                        ("smile_logreg", "de", 3)):
            # The window models without speed perturbation (--fix): its three copies of the audio
            # triple a trial's training and prove nothing here; the report shows the held value.
            run_study(dataset, StudyOptions(space=space, language=language, trials=trials, tracking_uri=uri,
                                            experiment="report", state_dir=root / "state", epochs=4, grace_period=2,
                                            patience=3, top=2, max_concurrent=1, fixed=HELD.get(space, {}),
                                            command=f"mser-search --space {space} --language {language}",
                                            cache_dir=str(root / "cache")))
    finally:
        ray.shutdown()
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("report").experiment_id
    transfer = score_transfer(client, experiment, "cnn_features", dataset)
    path = write_report(client, "report", root / "out", resamples=300)
    return {"client": client, "path": path, "html": path.read_text(), "transfer": transfer, "dataset": dataset}


def _data(html: str) -> dict:
    return json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', html, re.S)[1])


def _predictions(run) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/predictions_test.csv")))


def _result(client, numbers):
    """A study's result as the report names it: the refit of its chosen trial."""
    assert numbers["best"]["refit"] is not None
    run = client.get_run(numbers["best"]["refit"]["run_id"])
    assert run.data.tags["refit_of"] == numbers["best"]["run_id"]
    return run


def _trials(client, parent):
    """A study's trials: its child runs but the refit."""
    runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    return [r for r in runs if "refit_of" not in r.data.tags]


@pytest.mark.slow
def test_every_section_is_there_and_its_numbers_are_the_runs(searched):
    client, html = searched["client"], searched["html"]
    for section in SECTIONS:
        assert f'<section id="{section}">' in html
    studies = {(s["space"], s["language"]): s for s in _data(html)["studies"]}
    assert set(studies) == {("cnn_features", "de"), ("cnn_features", "all"), ("cnn_features", "it"),
                            ("cnn_features", "all-but-it"), ("smile_logreg", "de")}
    for (space, language), numbers in studies.items():
        parent = client.get_run(numbers["parent_run_id"])
        trials = _trials(client, parent)
        finished = [t for t in trials if t.info.status == "FINISHED"]
        # The best trial is the best by validation kappa (the earlier on a tie), never by test kappa.
        best = sorted(finished, key=lambda t: (-t.data.metrics["val_kappa"], t.info.start_time))[0]
        assert numbers["best"]["run_id"] == best.info.run_id
        assert numbers["best"]["val_kappa"] == best.data.metrics["val_kappa"]
        # Its test kappa is the study's result's: the refit on every training speaker.
        result = _result(client, numbers)
        assert numbers["best"]["test"]["kappa"] == pytest.approx(result.data.metrics["test_kappa"])
        assert numbers["best"]["chosen_test"]["kappa"] == pytest.approx(best.data.metrics["test_kappa"])
        assert f'data-result="{space}-{language}"' in html
        assert numbers["fixed"] == HELD.get(space, {})
        assert numbers["best"]["test"]["low"] <= numbers["best"]["test"]["kappa"] <= numbers["best"]["test"]["high"]
        assert numbers["paper_table4"] == TABLE4.get(space, {}).get(language)
        assert numbers["dataset_key"] == parent.data.tags["dataset_key"]
        assert numbers["best"]["speakers"]["test"] == best.data.tags["speakers.test"]
        # What the choice rested on: the validation speakers and utterances, and the val - test gap.
        choice = numbers["best"]["choice"]
        validation = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
            f"{best.info.artifact_uri}/predictions_validation.csv")))
        assert choice["speakers"] == len(best.data.tags["speakers.validation"].split())
        assert choice["utterances"] == len(validation)
        assert choice["gap"] == pytest.approx(best.data.metrics["val_kappa"] - best.data.metrics["test_kappa"])
        assert f'data-choice="{space}-{language}"' in html
        assert f'data-cell="{space}-{language}-val">{best.data.metrics["val_kappa"]:.3f}<' in html
        assert f'data-cell="{space}-{language}-test">{result.data.metrics["test_kappa"]:.3f} [' in html
        assert f"mser-search --space {space} --language {language}" in html
        # The paired comparison with the paper's configuration, recomputed from the logged predictions.
        [paper] = [t for t in trials if t.data.tags.get("paper_point") == "true"]
        assert numbers["paper"]["run_id"] == paper.info.run_id
        comparison = numbers["comparison"]
        if paper.info.run_id == best.info.run_id:
            assert comparison == {"same_run": True}
        elif paper.info.status == "FINISHED":
            both = _predictions(best).merge(_predictions(paper), on="utterance", suffixes=("_b", "_p"))
            expected = compare_paired(both["label_b"], both["predicted_b"], both["predicted_p"], resamples=300)
            assert comparison["difference"] == pytest.approx(expected.difference)
            assert comparison["mcnemar_p"] == pytest.approx(expected.mcnemar_p)
            assert comparison["interval"] == pytest.approx(list(expected.interval))
            assert comparison["kappa_paper"] == pytest.approx(paper.data.metrics["test_kappa"])
        else:
            assert comparison is None and "stopped early by ASHA" in html
    assert "<small>fixed:\naugment.speed=False</small>" in html  # beside the held studies' results
    # The joint model per language: the kappas logged for its result, one per language.
    joint = studies[("cnn_features", "all")]
    best_joint = _result(client, joint)
    assert set(joint["languages"]) == {"it", "de", "en"}
    for language, numbers in joint["languages"].items():
        assert numbers["kappa"] == pytest.approx(best_joint.data.metrics[f"test_kappa_{language}"])
        part = _predictions(best_joint).query("language == @language")
        assert numbers["n"] == len(part) and numbers["kappa"] == pytest.approx(kappa(part["label"], part["predicted"]))


def _artifact(run, name) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{name}")))


@pytest.mark.slow
def test_the_transfer_matrix_is_the_logged_predictions(searched):
    client, html = searched["client"], searched["html"]
    data = _data(html)
    studies = {(s["space"], s["language"]): s for s in data["studies"]}
    best = {lang: _result(client, studies[("cnn_features", lang)]) for lang in ("it", "de", "all", "all-but-it")}
    # Scored once each way, logged on the results with names that say train and test language.
    assert sorted((r["train"], r["test"]) for r in searched["transfer"]) == [("de", "it"), ("it", "de")]
    assert score_transfer(client, best["it"].info.experiment_id, "cnn_features", searched["dataset"]) == []
    matrix = data["transfer"]["cnn_features"]
    assert "smile_logreg" not in data["transfer"]  # one language only: nothing across languages
    assert matrix["columns"] == ["it", "de", "en"]
    rows = {row["train"]: row for row in matrix["rows"]}
    assert list(rows) == ["it", "de", "all", "all-but-it"]
    for train, test in (("it", "de"), ("de", "it")):
        run = best[train]
        logged = _artifact(run, f"predictions_transfer_{test}.csv")
        cell = rows[train]["cells"][test]
        assert cell["kappa"] == pytest.approx(kappa(logged["label"], logged["predicted"]))
        assert cell["kappa"] == pytest.approx(run.data.metrics[f"transfer_kappa_{train}_to_{test}"])
        assert not cell["within"] and cell["n"] == len(logged)
        # The other language's test speakers: the same utterances its own model was tested on.
        assert set(logged["utterance"]) == set(_predictions(best[test])["utterance"])
        assert f'data-cell="cnn_features-{train}-{test}">{cell["kappa"]:.3f} [' in html
    for lang in ("it", "de"):
        own = rows[lang]["cells"][lang]
        assert own["within"] and own["kappa"] == pytest.approx(best[lang].data.metrics["test_kappa"])
    for lang in ("it", "de", "en"):
        assert rows["all"]["cells"][lang]["kappa"] == pytest.approx(best["all"].data.metrics[f"test_kappa_{lang}"])
    held = rows["all-but-it"]
    assert list(held["cells"]) == ["it"] and held["kind"] == "held-out"
    assert held["cells"]["it"]["kappa"] == pytest.approx(best["all-but-it"].data.metrics["test_kappa"])
    [compared] = matrix["held_out"]
    both = _predictions(best["all-but-it"]).merge(_predictions(best["it"]), on="utterance", suffixes=("_a", "_b"))
    expected = compare_paired(both["label_a"], both["predicted_a"], both["predicted_b"], resamples=300)
    assert compared["language"] == "it" and compared["n"] == expected.n
    assert compared["difference"] == pytest.approx(expected.difference)
    assert compared["holm_p"] == pytest.approx(expected.mcnemar_p)
    assert 'data-held-out="cnn_features-it"' in html


@pytest.mark.slow
def test_a_held_out_language_study_never_received_that_language(searched):
    client = searched["client"]
    [numbers] = [s for s in _data(searched["html"])["studies"] if s["language"] == "all-but-it"]
    parent = client.get_run(numbers["parent_run_id"])
    trials = _trials(client, parent)
    assert trials
    for trial in trials:
        # What the trial's data held, recorded by the trial itself: no Italian at all.
        assert trial.data.tags["data.languages"] == "de,en"
    finished = [t for t in trials if t.info.status == "FINISHED"]  # a pruned trial logs no split
    assert finished
    for trial in finished:
        assert not any(s.startswith("emovo-") for side in ("train", "validation")
                       for s in trial.data.tags[f"speakers.{side}"].split())
        assert all(s.startswith("emovo-") for s in trial.data.tags["speakers.test"].split())
    result = _result(client, numbers)
    assert not any(s.startswith("emovo-") for s in result.data.tags["speakers.train"].split())
    tested = _predictions(result)
    assert set(tested["language"]) == {"it"}


@pytest.mark.slow
def test_the_families_are_compared_on_the_same_test_utterances(searched):
    client, html = searched["client"], searched["html"]
    data = _data(html)
    studies = {(s["space"], s["language"]): s for s in data["studies"]}
    assert set(data["families"]) == {"de"}  # the joint study has one space only
    family = data["families"]["de"]
    german = [studies[("cnn_features", "de")], studies[("smile_logreg", "de")]]
    # The space chosen is the one whose best trial has the higher validation kappa, not test kappa.
    leader = max(german, key=lambda n: n["best"]["val_kappa"])
    [other] = [n for n in german if n is not leader]
    assert family["leader"]["space"] == leader["space"]
    assert family["leader"]["test_kappa"] == leader["best"]["test"]["kappa"]
    [row] = family["others"]
    assert row["space"] == other["space"]
    ahead, behind = (_predictions(_result(client, n)) for n in (leader, other))
    both = ahead.merge(behind, on="utterance", suffixes=("_a", "_b"))
    expected = compare_paired(both["label_a"], both["predicted_b"], both["predicted_a"], resamples=300)
    assert row["n"] == expected.n == len(ahead)
    assert row["difference"] == pytest.approx(expected.difference)
    # One comparison: Holm changes nothing.
    assert row["mcnemar_p"] == row["holm_p"] == pytest.approx(expected.mcnemar_p)
    assert row["significant"] == expected.significant()
    assert f'data-family="de-{other["space"]}"' in html


@pytest.mark.slow
def test_each_language_is_served_by_a_study_chosen_on_its_validation_speakers(searched):
    client, html = searched["client"], searched["html"]
    data = _data(html)
    studies = {(s["space"], s["language"]): s for s in data["studies"]}
    serving = {row["language"]: row for row in data["serving"]}
    assert set(serving) == {"it", "de"}
    for language, row in serving.items():
        # Every study that can serve the language, own and joint, best first by its validation figure.
        options = {(o["space"], o["study"]): o for o in row["options"]}
        assert ("cnn_features", language) in options and ("cnn_features", "all") in options
        assert [o["val"] for o in row["options"]] == sorted((o["val"] for o in row["options"]), reverse=True)
        own = client.get_run(studies[("cnn_features", language)]["best"]["run_id"])
        joint = client.get_run(studies[("cnn_features", "all")]["best"]["run_id"])
        assert options[("cnn_features", language)]["val"] == pytest.approx(own.data.metrics["val_kappa"])
        assert options[("cnn_features", "all")]["val"] == pytest.approx(joint.data.metrics[f"val_kappa_{language}"])
        # The same voices of that language validated both.
        voices = {s for s in joint.data.tags["speakers.validation"].split() if s.split("-")[0] ==
                  own.data.tags["speakers.validation"].split()[0].split("-")[0]}
        assert voices == set(own.data.tags["speakers.validation"].split())
        assert f'data-serving="{language}"' in html


@pytest.mark.slow
def test_pictures_are_embedded_pngs_and_the_report_is_logged(searched):
    html, path, client = searched["html"], searched["path"], searched["client"]
    images = re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,([^"]+)">', html)
    names = {name for name, _ in images}
    assert {"confusion-de", "confusion-all", "curves-cnn_features-de", "curves-cnn_features-all",
            "transfer-cnn_features"} <= names
    assert "importance-cnn_features-de" in names or "too few for fANOVA" in html
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for _, data in images)
    assert sorted(p.stem for p in (path.parent / "figures").glob("*.png")) == sorted(names)
    assert "http://" not in html and "https://" not in html  # opens from disk with no network
    for parent_id in (s["parent_run_id"] for s in _data(html)["studies"]):
        logged = {a.path for a in client.list_artifacts(parent_id, "report")}
        assert "report/report.html" in logged


@pytest.mark.slow
def test_the_report_renders_in_a_real_browser(searched):
    from playwright.sync_api import expect, sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "the browser test needs Debian's chromium: apt-get install chromium"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True,
                                             args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        page = browser.new_page(viewport={"width": 1300, "height": 900})
        requests = []
        page.on("request", lambda request: requests.append(request.url))
        page.goto(searched["path"].resolve().as_uri())
        for section in SECTIONS:
            expect(page.locator(f"section#{section} h2")).to_be_visible()
        sizes = page.eval_on_selector_all("img", "images => images.map(i => i.complete && i.naturalWidth)")
        assert sizes and all(width and width > 100 for width in sizes)
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
        browser.close()
    assert all(url.startswith(("file:", "data:")) for url in requests), requests


def test_importance_finds_the_parameter_that_decides_the_score():
    """fANOVA over trials whose kappa depends on the kernel only: the kernel dominates."""
    from types import SimpleNamespace

    from report.build import Study, importance
    from search.spaces import PAPER_POINTS

    trials = []
    for index in range(24):
        kernel = (2, 3, 5)[index % 3]
        params = {"classifier.filters": str((8, 16, 32)[index // 3 % 3]),
                  "classifier.dropout": str(0.1 + 0.02 * index), "classifier.pool": str((2, 3, 4)[index // 9 % 3]),
                  "classifier.learning_rate": str(10 ** (-4 + index / 12)),
                  "classifier.kernel": str(kernel), "class_weighting": ("none", "balanced", "sqrt")[index // 2 % 3]}
        trials.append(SimpleNamespace(info=SimpleNamespace(status="FINISHED"),
                                      data=SimpleNamespace(params=params, metrics={"val_kappa": 0.1 * kernel})))
    assert PAPER_POINTS["cnn_features"]["classifier"].keys() == {k.split(".")[1] for k in params if "." in k}
    parent = SimpleNamespace(data=SimpleNamespace(tags={}))
    values = importance(Study("cnn_features", "de", parent=parent, trials=trials, objective="val_kappa"))
    assert set(values) == set(trials[0].data.params)
    assert max(values, key=values.get) == "classifier.kernel" and values["classifier.kernel"] > 0.5
    assert importance(Study("cnn_features", "de", parent=parent, trials=trials[:3], objective="val_kappa")) is None
    # A parameter a search held at a value (--fix) is not one of the searched ones it explains.
    pinned = SimpleNamespace(data=SimpleNamespace(tags={"fixed_params": '{"class_weighting": "none"}'}))
    values = importance(Study("cnn_features", "de", parent=pinned, trials=trials, objective="val_kappa"))
    assert set(values) == set(trials[0].data.params) - {"class_weighting"}


@pytest.mark.slow
def test_an_ensemble_of_the_best_trials_is_chosen_on_validation_recorded_and_served(searched, tiny_demo, capfd,
                                                                                   tmp_path_factory):
    """mser-ensemble on German: the CNN's and the functionals' best trials (two families) as candidates."""
    from cli.ensemble import main as ensemble_main
    from mser.ensemble import EnsemblePipeline
    from tracking.model import load_pipeline
    from tracking.schema import ENSEMBLE_FILE, ENSEMBLE_TAG, MODEL_URI_TAG, speakers_tag

    client, dataset = searched["client"], searched["dataset"]
    assert ensemble_main(["--language", "de", "--experiment", "report", "--tracking-uri", client.tracking_uri,
                          "--data-root", str(tiny_demo), "--top", "2", "--folds", "2", "--json"]) == 0
    said = capfd.readouterr()  # the results go to the process's stdout itself
    assert said.out.lstrip().startswith("{"), said.err[-3000:]
    built = json.loads(said.out)
    run = client.get_run(built["run_id"])
    assert run.info.status == "FINISHED" and run.data.tags[ENSEMBLE_TAG] == "true"
    recorded = mlflow.artifacts.load_dict(f"{run.info.artifact_uri}/{ENSEMBLE_FILE}")
    assert len(recorded["candidates"]) == 4  # the best two trials of each German study
    assert built["vs_best_single"]["verdict"] == recorded["comparison"]
    weights = [m["weight"] for m in recorded["members"]]
    assert weights == [m["weight"] for m in built["members"]] and sum(weights) == pytest.approx(1.0, abs=1e-3)
    # Selection and stacking were both fitted on the out-of-fold predictions, judged on validation, and the
    # better kept (selection on a tie): the validation kappa is an honest one, not what the weights were fitted on.
    assert recorded["selection_fitted_on"] == "out-of-fold"
    by_method = built["validation_by_method"]
    assert set(by_method) == {"selection", "stacking"} and recorded["method"] == built["method"] == max(
        ("selection", "stacking"), key=lambda m: (by_method[m], m == "selection"))
    assert run.data.metrics["val_kappa"] == pytest.approx(by_method[built["method"]])
    assert run.data.metrics["stacking_val_kappa"] == pytest.approx(by_method["stacking"])
    # Chosen on validation speakers only: the validation predictions hold no test speaker's utterance.
    validation, test = (set(run.data.tags[speakers_tag(side)].split()) for side in ("validation", "test"))
    assert validation and test and not validation & test
    speaker_of = dict(zip(dataset.utterances["utterance"], dataset.utterances["speaker"]))
    for side, speakers in (("validation", validation), ("test", test)):
        predictions = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
            f"{run.info.artifact_uri}/predictions_{side}.csv")))
        assert {speaker_of[u] for u in predictions["utterance"]} == speakers
    # Stacking's meta-learner read out-of-fold predictions of the training speakers only.
    out_of_fold = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
        f"{run.info.artifact_uri}/predictions_out_of_fold.csv")))
    trained = {speaker_of[u] for u in out_of_fold["utterance"]}
    assert trained == set(recorded["stacking"]["training_speakers"]) and not trained & (validation | test)
    assert sorted(set(out_of_fold["candidate"])) == sorted(recorded["candidates"])
    # The logged model is the ensemble: members and weights reloaded, and it answers as the
    # members' own models averaged with those weights.
    served = mlflow.pyfunc.load_model(run.data.tags[MODEL_URI_TAG])
    reloaded = served.unwrap_python_model().pipeline
    assert isinstance(reloaded, EnsemblePipeline) and list(reloaded.weights) == pytest.approx(weights, abs=1e-3)
    assert reloaded.method == built["method"]
    members = EnsemblePipeline(tuple(load_pipeline(client.get_run(m["run_id"]).data.tags[MODEL_URI_TAG])
                                     for m in recorded["members"]), tuple(reloaded.weights), (), reloaded.stacker)
    wavs = sorted(tiny_demo.rglob("*.wav"))[:4]
    answer = served.predict(pd.DataFrame({"path": [str(p) for p in wavs]}))
    for (_, row), path in zip(answer.iterrows(), wavs):
        expected = members.predict_signals([_signal(path)])[0]
        assert row["emotion"] == expected.emotion
        for emotion, p in expected.probabilities.items():
            assert row[f"p_{emotion}"] == pytest.approx(p, abs=1e-5)
    # The report's ensembles row: the run's figures, and the comparison with the best trial alone.
    page = write_report(client, "report", tmp_path_factory.mktemp("with-ensemble"), resamples=300, log=False)
    html = page.read_text()
    [row] = _data(html)["ensembles"]
    assert 'data-ensemble="de"' in html and row["run_id"] == run.info.run_id
    assert row["test"]["kappa"] == pytest.approx(run.data.metrics["test_kappa"])
    assert row["single_test"]["kappa"] == pytest.approx(run.data.metrics["best_single_test_kappa"])
    assert row["difference"] == pytest.approx(run.data.metrics["vs_best_single_kappa_difference"])
    # Promoted like any model, as mser-ensemble-de, and served from the registry as it was from its run.
    from cli.registry import promote_main

    capfd.readouterr()
    assert promote_main(["--experiment", "report", "--tracking-uri", client.tracking_uri, "--space", "ensemble",
                         "--language", "de", "--json"]) == 0
    [promoted] = json.loads(capfd.readouterr().out)
    assert promoted["name"] == "mser-ensemble-de" and promoted["run_id"] == run.info.run_id
    registered = mlflow.pyfunc.load_model("models:/mser-ensemble-de@champion")
    assert registered.predict(pd.DataFrame({"path": [str(p) for p in wavs]})).equals(answer)
    # A language without studies is refused in one line.
    assert ensemble_main(["--language", "en", "--experiment", "report", "--tracking-uri", client.tracking_uri,
                          "--data-root", str(tiny_demo)]) == 2
    assert "no finished study of language 'en'" in capfd.readouterr().err


def _signal(path):
    from mser.audio import read_wav

    samples, info = read_wav(path)
    return samples, info.rate


def test_importance_says_why_there_is_none_when_every_trial_scored_the_same(tmp_path):
    from types import SimpleNamespace

    from report.build import MIN_TRIALS_FOR_IMPORTANCE, Figures, Study, _importance

    trials = [SimpleNamespace(info=SimpleNamespace(status="FINISHED"), data=SimpleNamespace(
        params={"classifier.C": str(0.1 * (i + 1)), "class_weighting": "none"}, metrics={"val_kappa": 0.8}))
        for i in range(MIN_TRIALS_FOR_IMPORTANCE)]
    parent = SimpleNamespace(data=SimpleNamespace(tags={}))
    [entry] = _importance([Study("smile_logreg", "de", parent=parent, trials=trials, objective="val_kappa")],
                          Figures(tmp_path))
    assert entry["images"] == [] and entry["reason"].startswith("every finished trial scored the same validation kappa")
    [entry] = _importance([Study("smile_logreg", "de", parent=parent, trials=trials[:2], objective="val_kappa")],
                          Figures(tmp_path))
    assert entry["reason"] == f"2 finished trials, too few for fANOVA (it needs {MIN_TRIALS_FOR_IMPORTANCE})"
