"""The report page escapes what anyone can edit in the MLflow UI: run names, tags, the experiment name.

The runs are logged directly (no training): the report reads only what a search logs.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from mser.metrics import TEST_KAPPA, VAL_KAPPA
from report.build import write_report
from tracking import schema
from tracking.store import ensure_store, experiment_id

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
CLOSE = "</script><script>alert(2)</script>"
AMP = "&amp;"
#: Would put the JSON's script element in the escaped state, where "</script>" no longer ends it.
COMMENT = "<!--<script>"
EXPERIMENT = f"{SCRIPT} {IMG} {AMP}"
TAGS = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "code", "section", "table", "tr",
        "th", "td", "ul", "li", "b", "div", "img", "pre", "script"}
ATTRIBUTES = {"lang", "charset", "id", "class", "colspan", "rowspan", "data-cell", "data-family", "data-study",
              "data-choice", "data-repeats", "data-transfer", "data-held-out", "data-result", "data-serving", "alt",
              "src", "type"}


def _utterances(language: str, seed: int) -> pd.DataFrame:
    """Test predictions of 36 utterances, most of them right."""
    rng = np.random.default_rng(seed)
    labels = np.arange(36) % 6
    predicted = np.where(rng.random(36) < 0.7, labels, rng.integers(0, 6, 36))
    languages = ["it", "de", "en"] * 12 if language == "all" else [language] * 36
    return pd.DataFrame({"utterance": [f"u{i}" for i in range(36)], "label": labels, "predicted": predicted,
                         "language": languages})


def _trial(client: MlflowClient, experiment: str, parent: str, name: str, *, val: float, seed: int | None = None,
           status: str = "FINISHED", tags: dict[str, str] | None = None, params: dict[str, str] | None = None,
           language: str = "de") -> None:
    """A trial's run: its validation kappa and, when ``seed`` is given, test predictions and curves."""
    run = client.create_run(experiment, run_name=name, tags={schema.PARENT_TAG: parent, **(tags or {})}).info.run_id
    client.log_metric(run, VAL_KAPPA, val)
    for key, value in (params or {}).items():
        client.log_param(run, key, value)
    if seed is not None:
        client.log_metric(run, TEST_KAPPA, 0.5)
        client.log_text(run, _utterances(language, seed).to_csv(index=False), schema.predictions_file("test"))
        client.log_dict(run, {"loss": [1.2, 0.9, 0.8], "val_kappa": [0.1, 0.3, 0.25]}, schema.HISTORY_FILE)
        client.set_tag(run, schema.BEST_EPOCH_TAG, "1")
    client.set_terminated(run, status)


def _study(client: MlflowClient, experiment: str, space: str, language: str, *, command: str, key: str) -> str:
    """A finished search's parent run; its trials go under the id returned."""
    tags = {schema.SEARCH_TAG: schema.PARENT_ROLE, schema.SPACE_TAG: space, schema.LANGUAGE_TAG: language,
            schema.COMMAND_TAG: command, schema.DATASET_KEY_TAG: key}
    parent = client.create_run(experiment, run_name=f"{space}-{language}", tags=tags).info.run_id
    client.set_terminated(parent)
    return parent


def _cnn_params(index: int) -> dict[str, str]:
    """A point of the cnn_features space, different for each ``index``."""
    return {"classifier.filters": str((8, 16, 32)[index % 3]), "classifier.dropout": str(0.1 + 0.1 * index),
            "classifier.pool": str((2, 3, 4)[index % 3]), "classifier.learning_rate": str(10 ** (-4 + index / 2)),
            "classifier.kernel": str((2, 3, 5)[index % 3]), "class_weighting": ("none", "balanced", "sqrt")[index % 3]}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A report of three studies whose names and tags are markup, in a store of its own."""
    root = tmp_path_factory.mktemp("hostile")
    client = ensure_store(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    experiment = experiment_id(client, EXPERIMENT)
    parent = _study(client, experiment, "cnn_features", "de", command=CLOSE, key=IMG)
    speakers = {schema.speakers_tag(side): value for side, value in zip(schema.SPEAKER_SIDES, (AMP, SCRIPT, IMG))}
    _trial(client, experiment, parent, IMG, val=0.3, seed=1, tags={schema.PAPER_TAG: "true"}, params=_cnn_params(0))
    _trial(client, experiment, parent, SCRIPT, val=0.6, seed=2, tags=speakers, params=_cnn_params(1))
    for index in (2, 3):
        _trial(client, experiment, parent, f"{COMMENT} {index}", val=0.1 * index, params=_cnn_params(index))
    parent = _study(client, experiment, "smile_logreg", "de", command=SCRIPT, key=AMP)
    _trial(client, experiment, parent, CLOSE, val=0.2, status="KILLED",
           tags={schema.PAPER_TAG: "true", schema.OUTCOME_TAG: schema.Outcome.PRUNED.value})
    _trial(client, experiment, parent, f"{COMMENT} best", val=0.5, seed=3)
    parent = _study(client, experiment, "cnn_features", "all", command=COMMENT, key=IMG)
    _trial(client, experiment, parent, AMP, val=0.4, seed=4, tags={schema.PAPER_TAG: "true"}, language="all")
    # A parent whose language tag was edited into markup (in the MLflow UI, say): not one of the report's studies.
    _study(client, experiment, "cnn_features", SCRIPT, command=AMP, key=IMG)
    try:
        return write_report(client, EXPERIMENT, root / "report", resamples=20, log=False).read_text(encoding="utf-8")
    finally:
        mlflow.set_tracking_uri(None)  # write_report pointed MLflow's global URI at this store


class _Page(HTMLParser):
    """Every element of a page with its attributes, the text of each section, and the scripts' text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: dict[str, str] = {}
        self.scripts: list[str] = []
        self._section = "top"
        self._raw: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag == "section":
            self._section = dict(attrs)["id"]
        if tag in ("script", "style"):
            self._raw = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self.scripts.append(self._raw)
        if tag in ("script", "style"):
            self._raw = None

    def handle_data(self, data: str) -> None:
        if self._raw is not None:
            self._raw += data
        else:
            self.text[self._section] = self.text.get(self._section, "") + data


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    page.close()
    return page


def _visible(page: _Page, section: str) -> str:
    return " ".join(page.text[section].split())


def test_names_and_tags_are_text_never_markup(hostile: str):
    page = _parse(hostile)
    assert {tag for tag, _ in page.elements} <= TAGS
    assert {name for _, attrs in page.elements for name in attrs} <= ATTRIBUTES
    assert [attrs for tag, attrs in page.elements if tag == "script"] == [{"type": "application/json",
                                                                           "id": "report-data"}]
    images = [attrs for tag, attrs in page.elements if tag == "img"]
    assert sorted(attrs["alt"] for attrs in images) == sorted([
        "confusion-de", "confusion-all", "importance-cnn_features-de", "parallel-cnn_features-de",
        "curves-cnn_features-de", "curves-cnn_features-all", "curves-smile_logreg-de"])
    assert all(attrs["src"].startswith("data:image/png;base64,") and set(attrs) == {"alt", "src"} for attrs in images)
    assert "<!--" not in hostile and "</script><script>" not in hostile
    assert hostile.count("</script>") == 1
    [script] = page.scripts  # as Django's json_script: HTML's special characters as JSON escapes
    assert not set("<>&") & set(script) and "\\u003cscript\\u003e" in script


def test_names_and_tags_read_as_they_were_written(hostile: str):
    page = _parse(hostile)
    assert EXPERIMENT in _visible(page, "top")
    versus = _visible(page, "vs-paper")
    assert f"best trial {SCRIPT} (validation kappa 0.600) against the paper's configuration {IMG}" in versus
    assert f"the baseline configuration ({CLOSE}) was stopped early by ASHA" in versus
    data = _visible(page, "data")
    assert f"Data fingerprints: {IMG}, {AMP} (the dataset key" in data
    assert f"cnn_features, de{AMP}{SCRIPT}{IMG}" in data  # the row of speakers of the best trial, cell by cell
    assert "\n".join([COMMENT, CLOSE, SCRIPT, f"mser-report --experiment {EXPERIMENT}"]) in page.text["data"]
    [script] = page.scripts
    numbers = json.loads(script)
    assert numbers["experiment"] == EXPERIMENT
    assert [(n["best"]["run_name"], n["paper"]["run_name"]) for n in numbers["studies"]] == [
        (SCRIPT, IMG), (AMP, AMP), (f"{COMMENT} best", CLOSE)]
