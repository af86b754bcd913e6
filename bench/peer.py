"""mser-search against the loop a user would write instead (issue 18, part 1).

    python bench/peer.py [--trials 50] [--space sae_cnn] [--language all|each] [--scale small] [--data-root DIR]
                         [--work-dir DIR] [--out FILE]
    python bench/peer.py --space smile_svm --language each --trials 200 --out bench/peer_smile.json

The peer is a bare Optuna loop on one machine, as Optuna's documentation writes it:
``study.optimize(objective, n_trials=N, n_jobs=2, callbacks=[MLflowCallback(...)])`` with
TPE (same seed, the paper's configuration enqueued first, as mser-search evaluates it
first), each trial an MLflow run nested under one parent run, and Optuna's
``MedianPruner`` (the pruning Optuna offers beside ASHA, warm-up = mser-search's grace
period) fed the best validation kappa so far after each classifier epoch. Its objective
is the project's: the same prepared data, the same space (Ray Tune's domains converted
to Optuna's distributions by ``OptunaSearch.convert_search_space``), the same
``mser.train.train`` with the same epochs, patience and seed. It has no encoder cache: a
user's loop trains each trial's autoencoder. On a space of utterance functionals the
objective is mser-search's default for them, the mean validation kappa over speaker folds of
the training speakers (one per speaker up to 10, else 5), reported to the pruner after each
fold. With ``--language each``, one study per language and the joint one, one after the
other, on both sides.

Against it, ``mser-search`` with the same N and its defaults (ASHA, encoder cache, two
trials at once on two cores). Measured from one run of each: trials per hour, the best
validation kappa reached and when, the overhead (the share of the slots' time, jobs x wall
time, not spent in the trials' own fitting and scoring), where mser-search's slots' time went
(``mser_search_slot_time``: fitting, recording finished trials, other runs, between runs, the rest)
and MLflow completeness (runs, runs
with curves, runs with a logged model, parameters and metrics per run). Figures into
``bench/results.json`` under ``peer`` (or ``--out``). Needs the dev extra (psutil,
optuna-integration).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import performance  # bench/ is first on sys.path
from performance import search_arguments

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    search_arguments(parser)
    parser.add_argument("--jobs", type=int, default=2, help="trials at once, both sides (default: 2)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json",
                        help="JSON file to add the figures to, under peer (default: bench/results.json)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="measure on these corpora instead of a demo corpus written here")
    parser.add_argument("--peer-only", type=Path, metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_only:
        return run_peer(args, args.peer_only)
    if args.data_root is not None and not args.data_root.is_dir():
        raise SystemExit(f"--data-root {args.data_root}: no such folder; name the folder that holds your corpora")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="mser-bench-peer-"))
    work.mkdir(parents=True, exist_ok=True)

    from mser.demo import write_demo_corpus

    root = args.data_root or work / "demo"
    if args.data_root is None:
        write_demo_corpus(root, scale=args.scale)
    cache = work / "base-cache"
    performance.bench_dataset_cache(root, cache)
    args.max_concurrent = args.jobs
    ours = performance._search("mser_search", ["--max-concurrent", str(args.jobs)], root, cache, work, args)
    peer = _peer(args, root, cache, work)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": performance._machine(),
              "corpora": str(args.data_root) if args.data_root else f"demo ({args.scale})",
              "space": args.space, "language": args.language, "trials": args.trials, "jobs": args.jobs,
              "mser_search": {**_summary(ours, ours["search_s"], args.jobs), "command_s": round(ours["command_s"], 1)},
              "peer": {**_summary(peer, peer["search_s"], args.jobs), "command_s": round(peer["command_s"], 1)},
              "mser_search_completeness": _completeness(work / "search-mser_search" / "mlflow.db", ours["parents"]),
              "mser_search_slot_time": slot_time(_trial_spans(work / "search-mser_search" / "mlflow.db",
                                                              ours["parents"]), ours["search_s"], args.jobs),
              "peer_completeness": _completeness(work / "peer" / "mlflow.db", peer["parents"])}
    result["trials_per_hour_ratio"] = round(result["mser_search"]["trials_per_hour"]
                                            / result["peer"]["trials_per_hour"], 2)
    result["goal"] = {"goal": "mser-search at least matches the peer's trials per hour, overhead under 25%",
                      "met": result["trials_per_hour_ratio"] >= 1.0 and result["mser_search"]["overhead"] < 0.25}
    stored = json.loads(args.out.read_text()) if args.out.is_file() else {}
    stored["peer"] = result
    args.out.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _summary(search: dict, seconds: float, jobs: int) -> dict:
    """Trials per hour over the searches' own time (the studies' wall times added), the
    overhead (1 - the trials' own fitting and scoring time / (jobs x that time)), and the
    best validation kappa (per study with ``--language each``) and when a trial first reached it."""
    trials = search["trials"]
    train = sum(t["train_seconds"] for t in trials)
    out = {"search_s": round(seconds, 1), "trials": len(trials),
           "finished": sum(t["status"] == "FINISHED" for t in trials),
           "pruned": sum(t["pruned"] for t in trials),
           "trials_per_hour": round(len(trials) / seconds * 3600, 1),
           "sum_train_s": round(train, 1), "overhead": round(1 - train / (jobs * seconds), 3)}
    languages = sorted({t.get("language") for t in trials}, key=str)
    best = {}
    for language in languages:
        finished = [t for t in trials if t.get("language") == language and t["status"] == "FINISHED"
                    and t["val_kappa"] is not None]
        best[language] = round(max((t["val_kappa"] for t in finished), default=float("nan")), 4)
    out["best_val_kappa"] = best if len(best) > 1 else next(iter(best.values()))
    if len(best) == 1:
        finished = [t for t in trials if t["status"] == "FINISHED" and t["val_kappa"] is not None]
        top = max((t["val_kappa"] for t in finished), default=float("nan"))
        out["best_reached_s"] = round(min((t["ended_s"] for t in finished if t["val_kappa"] >= top),
                                          default=float("nan")), 1)
    return out


def _trial_spans(db: Path, parents: list[str]) -> list[dict]:
    """Each trial run of the searches under ``parents``: its start and end (s), its fitting and
    scoring seconds (``train_seconds``), whether it finished, and the worker that ran it."""
    from mlflow.tracking import MlflowClient

    from tracking.schema import NODE_TAG, PID_TAG, RETRIED_TAG, TRAIN_SECONDS, TRIAL_TAG

    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_run(parents[0]).info.experiment_id
    return [{"start": run.info.start_time / 1000, "end": run.info.end_time / 1000,
             "fit": run.data.metrics.get(TRAIN_SECONDS, 0.0), "finished": run.info.status == "FINISHED",
             "worker": (parent, run.data.tags.get(NODE_TAG), run.data.tags.get(PID_TAG))}
            for parent in parents
            for run in client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=5000)
            if TRIAL_TAG in run.data.tags and run.data.tags.get(RETRIED_TAG) != "true"]


def slot_time(spans: list[dict], seconds: float, jobs: int) -> dict:
    """Where the slots' time (``jobs`` x the searches' ``seconds``) went, from the trial runs'
    ``spans``: fitting and scoring; recording the finished trials (their runs' time besides
    fitting); the other (pruned) trials' runs besides fitting; between one run's end and the
    next run's start on the same worker (Tune); the rest (the studies' start and end, the
    workers' start). Also the overhead if the finished trials recorded nothing."""
    fit = sum(span["fit"] for span in spans)
    recording = [span["end"] - span["start"] - span["fit"] for span in spans if span["finished"]]
    others = [span["end"] - span["start"] - span["fit"] for span in spans if not span["finished"]]
    ordered = sorted(spans, key=lambda span: (str(span["worker"]), span["start"]))
    between = sum(later["start"] - earlier["end"] for earlier, later in zip(ordered, ordered[1:])
                  if earlier["worker"] == later["worker"])
    total = jobs * seconds
    return {"slot_s": round(total, 1), "fitting_s": round(fit, 1),
            "recording_finished_s": round(sum(recording), 1),
            "recording_finished_median_s": round(float(np.median(recording)), 3) if recording else None,
            "other_runs_s": round(sum(others), 1),
            "other_runs_median_s": round(float(np.median(others)), 3) if others else None,
            "between_runs_s": round(between, 1),
            "rest_s": round(total - fit - sum(recording) - sum(others) - between, 1),
            "overhead_if_finished_recorded_nothing": round(1 - fit / (total - sum(recording)), 3)}


def _completeness(db: Path, parents: list[str]) -> dict:
    """What the store holds of a search: runs under its parents (one per study), and per run
    its parameters, metrics, curves (a metric with more than one step) and logged model."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_run(parents[0]).info.experiment_id
    runs = [run for parent in parents
            for run in client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=5000)]
    curves = models = 0
    for run in runs:
        histories = [client.get_metric_history(run.info.run_id, name) for name in run.data.metrics]
        curves += any(len(h) > 1 for h in histories)
        models += bool(client.search_logged_models([experiment], filter_string=f"source_run_id = '{run.info.run_id}'"))
    return {"runs": len(runs), "runs_with_curves": curves, "runs_with_model": models,
            "params_per_run": round(sum(len(r.data.params) for r in runs) / max(1, len(runs)), 1),
            "metrics_per_run": round(sum(len(r.data.metrics) for r in runs) / max(1, len(runs)), 1),
            "artifacts_per_run": round(sum(len(client.list_artifacts(r.info.run_id)) for r in runs)
                                       / max(1, len(runs)), 1)}


def _peer(args, root: Path, cache: Path, work: Path) -> dict:
    import shutil

    folder = work / "peer"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    shutil.copytree(cache, folder / "cache", ignore=shutil.ignore_patterns("encoders", "searches"))
    command = [sys.executable, str(Path(__file__).resolve()), "--peer-only", str(folder), "--trials", str(args.trials),
               "--space", args.space, "--language", args.language, "--jobs", str(args.jobs), "--scale", args.scale]
    print(f"peer: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    (folder / "demo").symlink_to(root.resolve())
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    command_s = time.perf_counter() - started
    (folder / "stderr.txt").write_text(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"the peer failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return {**json.loads(done.stdout), "command_s": command_s}


def run_peer(args, folder: Path) -> None:
    """The user's loop, in this process: Optuna's study.optimize with MLflowCallback, one
    study (and parent run) per language."""
    import mlflow
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    from mser.corpora import study_languages
    from mser.dataset import load_dataset
    from mser.models._keras import set_threads
    from search.spaces import feature_sets, get_space

    set_threads(1)  # as mser-search's trials: one thread each, two at once
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    dataset = load_dataset(folder / "demo", cache_dir=folder / "cache", feature_sets=feature_sets(args.space))
    distributions = OptunaSearch.convert_search_space(dict(get_space(args.space)))
    languages = study_languages(dataset.languages) if args.language == "each" else (args.language,)
    experiment = mlflow.set_experiment("peer")
    studies = [_peer_study(args, uri, experiment.experiment_id, dataset, distributions, language)
               for language in languages]
    print(json.dumps({"search_s": sum(s["search_s"] for s in studies),
                      "trials": [t for s in studies for t in s["trials"]],
                      "parent": studies[0]["parent"], "parents": [s["parent"] for s in studies]}))


def _peer_study(args, uri: str, experiment_id: str, dataset, distributions: dict, language: str) -> dict:
    import mlflow
    import optuna
    from optuna_integration.mlflow import MLflowCallback
    from ray.tune.utils import flatten_dict

    from mser.metrics import VAL_KAPPA
    from mser.models import get_model
    from mser.splits import LOSO, validation_folds
    from mser.train import TrainConfig, make_split, train
    from search.options import GROUPED_FOLDS, LOSO_MAX_SPEAKERS
    from search.spaces import PAPER_POINTS

    functionals = get_model(args.space).uses_functionals

    def objective(trial: optuna.Trial) -> float:
        flat = {}
        for name, dist in distributions.items():
            if isinstance(dist, optuna.distributions.CategoricalDistribution):
                flat[name] = trial.suggest_categorical(name, dist.choices)
            else:
                flat[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
        config: dict = {}
        for name, value in flat.items():  # "sae/depth" -> {"sae": {"depth": ...}}
            group, key = name.split("/", 1)
            config.setdefault(group, {})[key] = value
        train_config = TrainConfig(model=args.space, language=language, sae=config.get("sae", {}),
                                   functionals=config.get("functionals", {}),
                                   classifier=config.get("classifier", {}), sae_epochs=10, epochs=30, patience=8,
                                   seed=0, **config.get("training", {}))
        started = time.perf_counter()
        try:
            if functionals:  # mser-search's default objective for them: speaker folds
                split = make_split(dataset, train_config)
                folds = LOSO if len(split.train + split.validation) <= LOSO_MAX_SPEAKERS else GROUPED_FOLDS
                scores = []
                for index, fold in enumerate(validation_folds(split, folds, seed=0)):
                    scores.append(train(dataset, train_config, split=fold, score_test=False)
                                  .validation.utterances["kappa"])
                    trial.report(float(np.mean(scores)), index + 1)
                    if trial.should_prune():
                        raise optuna.TrialPruned()
                return float(np.mean(scores))
            best = [float("-inf")]

            def on_epoch(stage: str, epoch: int, values: dict) -> None:
                if stage == "classifier":
                    best[0] = max(best[0], values[VAL_KAPPA])
                    trial.report(best[0], epoch + 1)
                    if trial.should_prune():
                        raise optuna.TrialPruned()

            result = train(dataset, train_config, on_epoch=on_epoch, score_test=False)
            return result.validation.utterances["kappa"]
        finally:
            trial.set_user_attr("train_seconds", time.perf_counter() - started)

    study = optuna.create_study(study_name=f"peer-{language}", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=args.jobs, n_warmup_steps=3))
    study.enqueue_trial(flatten_dict(dict(PAPER_POINTS[args.space]), delimiter="/"))
    with mlflow.start_run(run_name=f"peer-{language}", experiment_id=experiment_id) as parent:
        callback = MLflowCallback(tracking_uri=uri, metric_name=VAL_KAPPA, create_experiment=False,
                                  mlflow_kwargs={"experiment_id": experiment_id, "nested": True,
                                                 # trials run in Optuna's threads, where the parent run is not
                                                 # active: name it, as a user would
                                                 "tags": {"mlflow.parentRunId": parent.info.run_id}})
        started = time.time()
        study.optimize(objective, n_trials=args.trials, n_jobs=args.jobs, callbacks=[callback])
        seconds = time.time() - started
    trials = [{"status": {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(t.state.name, t.state.name),
               "pruned": t.state.name == "PRUNED", "val_kappa": t.value, "language": language,
               "train_seconds": t.user_attrs.get("train_seconds", 0.0),
               "ended_s": t.datetime_complete.timestamp() - started if t.datetime_complete else seconds}
              for t in study.trials]
    return {"search_s": seconds, "trials": trials, "parent": parent.info.run_id}


if __name__ == "__main__":
    main()
