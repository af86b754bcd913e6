"""The study report: what the searches of one experiment found, in one self-contained HTML page.

:func:`collect` reads the latest finished study of each space and language from MLflow
(parent run, trials, the best trial's and the paper configuration's test predictions);
:func:`analyse` turns them into numbers (kappa with bootstrap intervals, the paired
comparison with the paper's configuration, fANOVA importance); :func:`write_report`
draws the pictures with matplotlib and writes ``report.html`` (pictures embedded, no
network needed) with the PNG files beside it, and logs both to every study's parent run.
Every number comes from the runs; the test speakers chose nothing (the best trial is
the best by validation kappa).
"""

from __future__ import annotations

import base64
import html
import io
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import matplotlib.pyplot as plt
import mlflow
import optuna
import pandas as pd
from mlflow.tracking import MlflowClient
from ray.tune.search.optuna import OptunaSearch
from sklearn.metrics import confusion_matrix

from mser.corpora import EMOTIONS
from mser.errors import MserError
from mser.metrics import LABELS, TEST_KAPPA, VAL_KAPPA, kappa
from mser.paper import TABLE4
from mser.plots import confusion_figure, curves_figure, importance_figure, parallel_figure
from mser.stats import compare_paired, holm, kappa_interval
from search.spaces import SPACES, param_name, point_label
from search.trial import CV_VAL_KAPPA, PAPER_TAG, RETRIED_TAG

LANGUAGES = ("it", "de", "en", "all")
REPORT_FILE = "report.html"
#: Fewer finished trials than this and fANOVA has nothing to say.
MIN_TRIALS_FOR_IMPORTANCE = 4


@dataclass
class Study:
    """One study's runs, as read from MLflow."""

    space: str
    language: str
    parent: object
    trials: list
    objective: str
    best: object | None = None
    paper: object | None = None
    predictions: dict[str, pd.DataFrame] = field(default_factory=dict)  # run id -> test predictions

    @property
    def finished(self) -> list:
        return [t for t in self.trials if t.info.status == "FINISHED" and self.objective in t.data.metrics]


def collect(client: MlflowClient, experiment: str) -> tuple[str, list[Study]]:
    """The latest finished study of each space and language in ``experiment``.

    Raises:
        MserError: No such experiment, or no finished search in it.
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise MserError(f"no experiment {experiment!r} in {client.tracking_uri}: run mser-search first, "
                        "or name the experiment with --experiment")
    parents = client.search_runs([found.experiment_id], "tags.search = 'parent' and attributes.status = 'FINISHED'",
                                 order_by=["attributes.start_time DESC"], max_results=1000)
    latest: dict[tuple[str, str], object] = {}
    for parent in parents:
        latest.setdefault((parent.data.tags["space"], parent.data.tags["language"]), parent)
    if not latest:
        raise MserError(f"no finished search in experiment {experiment!r}: run mser-search first "
                        "(an interrupted one continues with --resume)")
    studies = []
    for (space, language), parent in sorted(latest.items(), key=lambda item: (list(SPACES).index(item[0][0]),
                                                                             LANGUAGES.index(item[0][1]))):
        trials = client.search_runs([found.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                    max_results=5000, order_by=["attributes.start_time ASC"])
        objective = CV_VAL_KAPPA if any(CV_VAL_KAPPA in t.data.metrics for t in trials) else VAL_KAPPA
        study = Study(space, language, parent, trials, objective)
        scored = [t for t in study.finished if TEST_KAPPA in t.data.metrics]
        # Ties go to the earlier trial, as everywhere else (the sort is stable).
        study.best = max(scored, key=lambda t: t.data.metrics[objective], default=None)
        study.paper = next((t for t in trials if t.data.tags.get(PAPER_TAG) == "true"
                            and t.data.tags.get(RETRIED_TAG) != "true"), None)  # not an attempt whose worker died
        for run in (study.best, study.paper):
            if run is not None and TEST_KAPPA in run.data.metrics:
                study.predictions[run.info.run_id] = pd.read_csv(io.StringIO(mlflow.artifacts.load_text(
                    f"{run.info.artifact_uri}/predictions_test.csv")))
        studies.append(study)
    return found.experiment_id, studies


def kappa_with_interval(predictions: pd.DataFrame, *, resamples: int) -> dict:
    truth, predicted = predictions["label"].to_numpy(), predictions["predicted"].to_numpy()
    low, high = kappa_interval(truth, predicted, resamples=resamples)
    return {"kappa": kappa(truth, predicted), "low": low, "high": high, "n": len(predictions)}


def importance(study: Study) -> dict[str, float] | None:
    """fANOVA importance of each searched hyperparameter for the objective, over finished trials."""
    finished = study.finished
    if len(finished) < MIN_TRIALS_FOR_IMPORTANCE:
        return None
    distributions = {param_name(k): d for k, d in OptunaSearch.convert_search_space(dict(SPACES[study.space])).items()}
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna_study = optuna.create_study(direction="maximize")
    for trial in finished:
        params = {}
        for name, distribution in distributions.items():
            raw = trial.data.params[name]
            if isinstance(distribution, optuna.distributions.CategoricalDistribution):
                params[name] = next(c for c in distribution.choices if str(c) == raw)
            else:
                params[name] = float(raw)
        optuna_study.add_trial(optuna.trial.create_trial(params=params, distributions=distributions,
                                                         value=trial.data.metrics[study.objective]))
    return optuna.importance.get_param_importances(
        optuna_study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))


@dataclass
class Figures:
    """PNG files written for the report, each also embedded in the page."""

    folder: Path
    files: list[Path] = field(default_factory=list)

    def add(self, figure, name: str) -> str:
        path = self.folder / f"{name}.png"
        figure.savefig(path, format="png")
        plt.close(figure)
        self.files.append(path)
        encoded = base64.b64encode(path.read_bytes()).decode()
        return f'<img alt="{html.escape(name)}" src="data:image/png;base64,{encoded}">'


def analyse(study: Study, *, resamples: int) -> dict:
    """The numbers of one study, as the report prints them and as its JSON holds them."""
    best, paper = study.best, study.paper
    result = {"space": study.space, "language": study.language, "parent_run_id": study.parent.info.run_id,
              "objective": study.objective, "trials": len(study.trials), "finished": len(study.finished),
              "dataset_key": study.parent.data.tags.get("dataset_key", ""),
              "command": study.parent.data.tags.get("mser.command", ""),
              "paper_table4": TABLE4.get(study.space, {}).get(study.language), "best": None, "paper": None,
              "comparison": None, "languages": {}}
    if best is not None:
        predictions = study.predictions[best.info.run_id]
        result["best"] = {"run_id": best.info.run_id, "run_name": best.info.run_name,
                          VAL_KAPPA: best.data.metrics[study.objective], TEST_KAPPA: best.data.metrics[TEST_KAPPA],
                          "test": kappa_with_interval(predictions, resamples=resamples),
                          "params": dict(best.data.params),
                          "speakers": {side: best.data.tags.get(f"speakers.{side}", "")
                                       for side in ("train", "validation", "test")}}
        if study.language == "all":
            result["languages"] = {lang: kappa_with_interval(part, resamples=resamples)
                                   for lang, part in predictions.groupby("language")}
    if paper is not None:
        result["paper"] = {"run_id": paper.info.run_id, "run_name": paper.info.run_name, "status": paper.info.status,
                           "pruned": paper.data.tags.get("pruned") == "true",
                           VAL_KAPPA: paper.data.metrics.get(study.objective),
                           TEST_KAPPA: paper.data.metrics.get(TEST_KAPPA)}
    if best is not None and paper is not None and paper.info.run_id in study.predictions:
        if paper.info.run_id == best.info.run_id:
            result["comparison"] = {"same_run": True}
        else:
            both = study.predictions[best.info.run_id].merge(study.predictions[paper.info.run_id], on="utterance",
                                                             suffixes=("_best", "_paper"))
            comparison = compare_paired(both["label_best"], both["predicted_best"], both["predicted_paper"],
                                        resamples=resamples)
            result["comparison"] = {"same_run": False, "n": comparison.n, "kappa_best": comparison.kappa_a,
                                    "kappa_paper": comparison.kappa_b, "difference": comparison.difference,
                                    "interval": list(comparison.interval), "mcnemar_p": comparison.mcnemar_p,
                                    "only_best_right": comparison.only_a_right,
                                    "only_paper_right": comparison.only_b_right, "verdict": comparison.verdict()}
    return result


def write_report(client: MlflowClient, experiment: str, out: Path, *, resamples: int = 2000,
                 log: bool = True) -> Path:
    """Build the report of ``experiment`` into ``out`` and log it to each study's parent run."""
    mlflow.set_tracking_uri(client.tracking_uri)  # artifacts are read through MLflow's global URI
    experiment_id, studies = collect(client, experiment)
    out.mkdir(parents=True, exist_ok=True)
    figures = Figures(out / "figures")
    figures.folder.mkdir(exist_ok=True)
    numbers = [analyse(study, resamples=resamples) for study in studies]
    families = across_families(studies, numbers, resamples=resamples)
    page = _page(experiment, client.tracking_uri, studies, numbers, families, figures)
    path = out / REPORT_FILE
    path.write_text(page, encoding="utf-8")
    if log:
        for study in studies:
            client.log_artifact(study.parent.info.run_id, str(path), "report")
            client.log_artifacts(study.parent.info.run_id, str(figures.folder), "report/figures")
    return path


def across_families(studies: list[Study], numbers: list[dict], *, resamples: int) -> dict[str, dict]:
    """Per language with two spaces or more: the space whose best trial has the highest
    validation kappa (the choice a user would make; ties to the space listed first), and
    each other space's best trial against it on the same test utterances, with McNemar's
    p adjusted by Holm's method over that language's comparisons."""
    result = {}
    for lang in LANGUAGES:
        pairs = [(s, n) for s, n in zip(studies, numbers) if s.language == lang and n["best"] is not None]
        if len(pairs) < 2:
            continue
        leader, lead = max(pairs, key=lambda pair: pair[1]["best"][VAL_KAPPA])
        ahead = leader.predictions[leader.best.info.run_id]
        rows = []
        for study, n in pairs:
            if study is leader:
                continue
            both = ahead.merge(study.predictions[study.best.info.run_id], on="utterance", suffixes=("_a", "_b"))
            rows.append((n, compare_paired(both["label_a"], both["predicted_a"], both["predicted_b"],
                                           resamples=resamples)))
        adjusted = holm([c.mcnemar_p for _, c in rows])
        result[lang] = {"leader": _family_row(lead), "others": [
            {**_family_row(n), "n": c.n, "difference": -c.difference, "interval": [-c.interval[1], -c.interval[0]],
             "mcnemar_p": c.mcnemar_p, "holm_p": p, "significant": replace(c, mcnemar_p=p).significant(),
             "verdict": replace(c, mcnemar_p=p).verdict()}
            for (n, c), p in zip(rows, adjusted)]}
    return result


def _family_row(numbers: dict) -> dict:
    best = numbers["best"]
    return {"space": numbers["space"], "run_name": best["run_name"], VAL_KAPPA: best[VAL_KAPPA],
            TEST_KAPPA: best["test"]["kappa"], "low": best["test"]["low"], "high": best["test"]["high"]}


# ---------------------------------------------------------------------------------------------- page
def _page(experiment: str, uri: str, studies: list[Study], numbers: list[dict], families: dict,
          figures: Figures) -> str:
    sections = [
        ("kappa-table", "Kappa per model and language", _kappa_table(numbers)),
        ("families", "Across model families: the best space per language against the others", _families(families)),
        ("joint-model", "The joint model, per language", _joint(numbers)),
        ("vs-paper", "The best model against the paper's (or the baseline) configuration", _versus_paper(numbers)),
        ("confusion", "Confusion matrices of the best model per language", _confusions(studies, numbers, figures)),
        ("importance", "Which hyperparameters mattered", _importance(studies, figures)),
        ("curves", "Learning curves of the best trials", _curves(studies, figures)),
        ("data", "Data, speakers and how to reproduce", _data(experiment, numbers)),
    ]
    body = "\n".join(f'<section id="{key}"><h2>{html.escape(title)}</h2>\n{content}</section>'
                     for key, title, content in sections)
    data = json.dumps({"experiment": experiment, "tracking_uri": uri, "studies": numbers, "families": families},
                      default=float).replace("</", "<\\/")  # nothing in it may close the script element
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>mser-search report: {html.escape(experiment)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 1200px; color: #222; line-height: 1.45; }}
table {{ border-collapse: collapse; margin: 0.8em 0; }} th, td {{ border: 1px solid #ccc; padding: 0.3em 0.6em; }}
th {{ background: #f2f4f7; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
.note {{ color: #555; font-size: 0.92em; }} img {{ max-width: 100%; margin: 0.4em 0.6em 0.4em 0; }}
.figures {{ display: flex; flex-wrap: wrap; align-items: flex-start; }} .figures.small img {{ width: 32%; }} code {{ background: #f4f4f4; padding: 0 0.2em; }}
</style></head><body>
<h1>mser-search report: experiment <code>{html.escape(experiment)}</code></h1>
<p class="note">Built {time.strftime("%Y-%m-%d %H:%M")} from {html.escape(uri)}: {len(studies)} studies. Every choice
(trial, epoch, hyperparameter) was made on validation speakers; test speakers were scored once, afterwards. Test kappas
come with a 95% bootstrap interval over test utterances.</p>
{body}
<script type="application/json" id="report-data">{data}</script>
</body></html>
"""


def _fmt(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _kappa_table(numbers: list[dict]) -> str:
    cells = {(n["space"], n["language"]): n for n in numbers}
    head = "".join(f'<th colspan="3">{lang}</th>' for lang in LANGUAGES)
    sub = "<th>val</th><th>test [95% CI]</th><th>paper</th>" * len(LANGUAGES)
    rows = []
    for space in SPACES:
        if not any((space, lang) in cells for lang in LANGUAGES):
            continue
        row = [f"<th>{space}</th>"]
        for lang in LANGUAGES:
            n = cells.get((space, lang))
            paper = TABLE4.get(space, {}).get(lang)
            if n is None or n["best"] is None:
                row += ['<td class="num">–</td>', '<td class="num">–</td>', f'<td class="num">{_fmt(paper)}</td>']
                continue
            test = n["best"]["test"]
            row += [f'<td class="num" data-cell="{space}-{lang}-val">{_fmt(n["best"][VAL_KAPPA])}</td>',
                    f'<td class="num" data-cell="{space}-{lang}-test">{_fmt(test["kappa"])} '
                    f'[{_fmt(test["low"], 2)}, {_fmt(test["high"], 2)}]</td>',
                    f'<td class="num">{_fmt(paper)}</td>']
        rows.append("<tr>" + "".join(row) + "</tr>")
    return (f"<table><tr><th rowspan=2>model space</th>{head}</tr><tr>{sub}</tr>{''.join(rows)}</table>"
            '<p class="note">Best trial of each study by validation kappa; its test kappa per utterance. "paper": '
            "the paper's Table 4 (test speakers), where the paper ran that cell.</p>")


def _families(families: dict) -> str:
    if not families:
        return ('<p class="note">Only one model space per language in this experiment: search another space '
                "(e.g. <code>--space smile_svm</code>) into the same experiment to compare families.</p>")
    parts = []
    for lang, family in families.items():
        lead = family["leader"]
        rows = [f'<tr data-family="{lang}-{html.escape(lead["space"])}"><th>{html.escape(lead["space"])}</th>'
                f'<td class="num">{_fmt(lead[VAL_KAPPA])}</td><td class="num">{_fmt(lead[TEST_KAPPA])} '
                f'[{_fmt(lead["low"], 2)}, {_fmt(lead["high"], 2)}]</td><td colspan="3">chosen by validation kappa'
                "</td></tr>"]
        for other in family["others"]:
            low, high = other["interval"]
            significant = "significant" if other["significant"] else "not significant"
            rows.append(f'<tr data-family="{lang}-{html.escape(other["space"])}"><th>{html.escape(other["space"])}</th>'
                        f'<td class="num">{_fmt(other[VAL_KAPPA])}</td><td class="num">{_fmt(other[TEST_KAPPA])} '
                        f'[{_fmt(other["low"], 2)}, {_fmt(other["high"], 2)}]</td>'
                        f'<td class="num">{_signed(other["difference"], 3)} [{_signed(low, 2)}, {_signed(high, 2)}]</td>'
                        f'<td class="num">{other["holm_p"]:.3g}</td><td>{significant}</td></tr>')
        parts.append(f"<h3>{lang}</h3><table><tr><th>model space</th><th>val</th><th>test [95% CI]</th>"
                     "<th>test kappa minus the chosen space's [95% CI]</th><th>McNemar p (Holm)</th><th>at 5%</th>"
                     f"</tr>{''.join(rows)}</table>")
    return "".join(parts) + (
        '<p class="note">Each space\'s best trial by validation kappa; the space chosen is the one whose best trial '
        "has the highest validation kappa, as a user would choose; the others are compared with it on the same test "
        "utterances: paired bootstrap interval of the kappa difference, McNemar's exact test adjusted by Holm's "
        "method over the comparisons of that language. Test speakers chose nothing.</p>")


def _signed(value: float, digits: int) -> str:
    """``+0.050``, with a difference that rounds to zero shown as ``+0.000``, not ``-0.000``."""
    return f"{round(value, digits) + 0.0:+.{digits}f}"


def _joint(numbers: list[dict]) -> str:
    joint = [n for n in numbers if n["language"] == "all" and n["best"] is not None]
    if not joint:
        return '<p class="note">No joint (all-language) study in this experiment.</p>'
    rows = "".join(f"<tr><th>{n['space']}</th>" + "".join(
        f'<td class="num" data-cell="{n["space"]}-all-{lang}">{_fmt(v["kappa"])} [{_fmt(v["low"], 2)}, '
        f'{_fmt(v["high"], 2)}] (n={v["n"]})</td>' for lang, v in _in_order(n["languages"])) + "</tr>"
                   for n in joint)
    langs = [lang for lang in LANGUAGES if any(lang in n["languages"] for n in joint)]
    return (f"<table><tr><th>model space</th>{''.join(f'<th>{lang}</th>' for lang in langs)}</tr>{rows}</table>"
            '<p class="note">The model trained on all languages, scored on each language\'s test speakers.</p>')


def _in_order(by_language: dict) -> list:
    return [(lang, by_language[lang]) for lang in LANGUAGES if lang in by_language]


def _versus_paper(numbers: list[dict]) -> str:
    items = []
    for n in numbers:
        label = f"<b>{n['space']}, {n['language']}</b>: "
        comparison, paper = n["comparison"], n["paper"]
        point = point_label(n["space"]) if n["space"] in SPACES else "the paper's configuration"
        if paper is None:
            items.append(label + f"{point} was not among the trials.")
        elif comparison is None:
            state = "stopped early by ASHA" if paper["pruned"] else paper["status"].lower()
            items.append(label + f"{point} ({paper['run_name']}) was {state}, with validation "
                                 f"kappa {_fmt(paper[VAL_KAPPA])}; it has no test predictions to compare.")
        elif comparison["same_run"]:
            items.append(label + f"the best trial is {point} itself.")
        else:
            items.append(label + f"best trial {n['best']['run_name']} (validation kappa "
                                 f"{_fmt(n['best'][VAL_KAPPA])}) against {point} {paper['run_name']} "
                                 f"(validation kappa {_fmt(paper[VAL_KAPPA])}): {html.escape(comparison['verdict'])}")
    return ("<ul>" + "".join(f'<li data-study="{n["space"]}-{n["language"]}">{item}</li>'
                             for n, item in zip(numbers, items)) + "</ul>"
            '<p class="note">Both models scored on the same test utterances; McNemar\'s exact test counts the '
            "utterances only one of them got right; the interval is a paired bootstrap of the kappa difference.</p>")


def _confusions(studies: list[Study], numbers: list[dict], figures: Figures) -> str:
    images = []
    for lang in LANGUAGES:
        candidates = [(s, n) for s, n in zip(studies, numbers) if s.language == lang and n["best"] is not None]
        if not candidates:
            continue
        study, n = max(candidates, key=lambda c: c[1]["best"][VAL_KAPPA])
        predictions = study.predictions[study.best.info.run_id]
        matrix = confusion_matrix(predictions["label"], predictions["predicted"], labels=LABELS)
        images.append(figures.add(confusion_figure(matrix, title=(
            f"{lang}: {study.space}, test speakers (kappa {n['best']['test']['kappa']:.3f})")), f"confusion-{lang}"))
    return (f'<div class="figures small">{"".join(images)}</div><p class="note">The best study per language by validation '
            "kappa; rows are the true emotion, colour the share of each predicted class (columns sum to 1), "
            f"as in the paper; counts of test utterances in the cells. Labels: {', '.join(EMOTIONS)}.</p>")


def _importance(studies: list[Study], figures: Figures) -> str:
    parts = []
    for study in studies:
        name = f"{study.space}-{study.language}"
        finished = study.finished
        values = importance(study)
        if values is None:
            parts.append(f'<p data-study="{name}"><b>{name}</b>: {len(finished)} finished trials, too few for '
                         f"fANOVA (it needs {MIN_TRIALS_FOR_IMPORTANCE}).</p>")
            continue
        searched = list(values)
        columns = {p: [_number(t.data.params[p]) for t in finished] for p in searched}
        scores = [t.data.metrics[study.objective] for t in finished]
        parts.append(f'<div class="figures" data-study="{name}">'
                     + figures.add(importance_figure(values, title=f"{name}: importance ({len(finished)} trials)"),
                                   f"importance-{name}")
                     + figures.add(parallel_figure(columns, scores, title=f"{name}: finished trials"),
                                   f"parallel-{name}") + "</div>")
    return "".join(parts) + ('<p class="note">fANOVA (Optuna) over the finished trials of each study; trials stopped '
                             "early by ASHA are left out, their kappas being measured after fewer epochs.</p>")


def _number(raw: str):
    try:
        value = float(raw)
    except ValueError:
        return raw
    return int(value) if value.is_integer() and "." not in raw and "e" not in raw else value


def _curves(studies: list[Study], figures: Figures) -> str:
    images = []
    for study in studies:
        if study.best is None:
            continue
        history = mlflow.artifacts.load_dict(f"{study.best.info.artifact_uri}/history.json")
        if history:
            best_epoch = study.best.data.tags.get("best_epoch")
            images.append(figures.add(curves_figure(history, title=f"{study.space}, {study.language}: "
                                                                   f"{study.best.info.run_name}",
                                                    best_epoch=int(best_epoch) if best_epoch else None),
                                      f"curves-{study.space}-{study.language}"))
    return f'<div class="figures">{"".join(images)}</div>' if images else '<p class="note">No curves logged.</p>'


def _data(experiment: str, numbers: list[dict]) -> str:
    keys = sorted({n["dataset_key"] for n in numbers})
    rows = "".join(
        f"<tr><th>{n['space']}, {n['language']}</th>"
        + "".join(f"<td>{html.escape(n['best']['speakers'][side]) if n['best'] else '–'}</td>"
                  for side in ("train", "validation", "test")) + "</tr>" for n in numbers)
    commands = sorted({n["command"] for n in numbers if n["command"]})
    return (f"<p>Data fingerprint{'s' if len(keys) > 1 else ''}: "
            + ", ".join(f"<code>{k}</code>" for k in keys)
            + " (the dataset key: the audio files' contents, the preparation settings and library versions).</p>"
            f"<table><tr><th>study</th><th>train speakers</th><th>validation speakers</th><th>test speakers</th></tr>"
            f"{rows}</table><p>To reproduce (same data, same seeds):</p><pre>"
            + html.escape("\n".join([*commands, f"mser-report --experiment {experiment}"])) + "</pre>")
