"""mser-search against the loop a user would write instead (issue 18, part 1).

    python bench/peer.py [--trials 50] [--space sae_cnn] [--language all] [--scale small] [--work-dir DIR] [--out FILE]

The peer is a bare Optuna loop on one machine, as Optuna's documentation writes it:
``study.optimize(objective, n_trials=N, n_jobs=2, callbacks=[MLflowCallback(...)])`` with
TPE (same seed, the paper's configuration enqueued first, as mser-search evaluates it
first), each trial an MLflow run nested under one parent run, and Optuna's
``MedianPruner`` (the pruning Optuna offers beside ASHA, warm-up = mser-search's grace
period) fed the best validation kappa so far after each classifier epoch. Its objective
is the project's: the same prepared data, the same space (Ray Tune's domains converted
to Optuna's distributions by ``OptunaSearch.convert_search_space``), the same
``mser.train.train`` with the same epochs, patience and seed. It has no encoder cache: a
user's loop trains each trial's autoencoder.

Against it, ``mser-search`` with the same N and its defaults (ASHA, encoder cache, two
trials at once on two cores). Measured from one run of each: trials per hour, the best
validation kappa reached and when, and MLflow completeness (runs, runs with curves, runs
with a logged model, parameters and metrics per run). Figures into
``bench/results.json`` under ``peer``. Needs the dev extra (psutil, optuna-integration).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import performance  # bench/ is first on sys.path
from performance import search_arguments

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    search_arguments(parser)
    parser.add_argument("--jobs", type=int, default=2, help="trials at once, both sides (default: 2)")
    parser.add_argument("--out", type=Path, default=HERE / "results.json",
                        help="JSON file to add the figures to, under peer (default: bench/results.json)")
    parser.add_argument("--peer-only", type=Path, metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer_only:
        return run_peer(args, args.peer_only)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="mser-bench-peer-"))
    work.mkdir(parents=True, exist_ok=True)

    from mser.demo import write_demo_corpus

    root = work / "demo"
    write_demo_corpus(root, scale=args.scale)
    cache = work / "base-cache"
    performance.bench_dataset_cache(root, cache)
    args.max_concurrent = args.jobs
    ours = performance._search("mser_search", ["--max-concurrent", str(args.jobs)], root, cache, work, args)
    peer = _peer(args, root, cache, work)
    result = {"date": time.strftime("%Y-%m-%d"), "machine": performance._machine(), "scale": args.scale,
              "space": args.space, "language": args.language, "trials": args.trials, "jobs": args.jobs,
              "mser_search": _summary(ours, ours["search_s"]), "peer": _summary(peer, peer["search_s"]),
              "mser_search_completeness": _completeness(work / "search-mser_search" / "mlflow.db", ours["parent"]),
              "peer_completeness": _completeness(work / "peer" / "mlflow.db", peer["parent"])}
    result["trials_per_hour_ratio"] = round(result["mser_search"]["trials_per_hour"]
                                            / result["peer"]["trials_per_hour"], 2)
    result["goal"] = {"goal": "mser-search at least matches the peer's trials per hour",
                      "met": result["trials_per_hour_ratio"] >= 1.0}
    stored = json.loads(args.out.read_text()) if args.out.is_file() else {}
    stored["peer"] = result
    args.out.write_text(json.dumps(stored, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def _summary(search: dict, seconds: float) -> dict:
    finished = [t for t in search["trials"] if t["status"] == "FINISHED" and t["val_kappa"] is not None]
    best = max((t["val_kappa"] for t in finished), default=float("nan"))
    reached = min((t["ended_s"] for t in finished if t["val_kappa"] >= best), default=float("nan"))
    return {"search_s": round(seconds, 1), "trials": len(search["trials"]), "finished": len(finished),
            "pruned": sum(t["pruned"] for t in search["trials"]),
            "trials_per_hour": round(len(search["trials"]) / seconds * 3600, 1),
            "best_val_kappa": round(best, 4), "best_reached_s": round(reached, 1),
            "sum_train_s": round(sum(t["train_seconds"] for t in search["trials"]), 1)}


def _completeness(db: Path, parent: str) -> dict:
    """What the store holds of a search: runs under the parent, and per run its parameters,
    metrics, curves (a metric with more than one step) and logged model."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    experiment = client.get_run(parent).info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=5000)
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
    (folder / "demo").symlink_to(root)
    done = subprocess.run(command, capture_output=True, text=True)
    (folder / "stderr.txt").write_text(done.stderr)
    if done.returncode != 0:
        raise SystemExit(f"the peer failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def run_peer(args, folder: Path) -> None:
    """The user's loop, in this process: Optuna's study.optimize with MLflowCallback."""
    import mlflow
    import optuna
    from optuna_integration.mlflow import MLflowCallback
    from ray.tune.search.optuna import OptunaSearch
    from ray.tune.utils import flatten_dict

    from mser.dataset import load_dataset
    from mser.metrics import VAL_KAPPA
    from mser.models._keras import set_threads
    from mser.train import TrainConfig, train
    from search.spaces import PAPER_POINTS, get_space

    set_threads(1)  # as mser-search's trials: one thread each, two at once
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    dataset = load_dataset(folder / "demo", cache_dir=folder / "cache")
    distributions = OptunaSearch.convert_search_space(dict(get_space(args.space)))

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
        train_config = TrainConfig(model=args.space, language=args.language, sae=config.get("sae", {}),
                                   classifier=config.get("classifier", {}), sae_epochs=10, epochs=30, patience=8,
                                   seed=0, **config.get("training", {}))
        best = [float("-inf")]

        def on_epoch(stage: str, epoch: int, values: dict) -> None:
            if stage == "classifier":
                best[0] = max(best[0], values[VAL_KAPPA])
                trial.report(best[0], epoch + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        started = time.perf_counter()
        try:
            result = train(dataset, train_config, on_epoch=on_epoch, score_test=False)
        finally:
            trial.set_user_attr("train_seconds", time.perf_counter() - started)
        return result.validation.utterances["kappa"]

    study = optuna.create_study(study_name="peer", direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=0),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=args.jobs, n_warmup_steps=3))
    study.enqueue_trial(flatten_dict(dict(PAPER_POINTS[args.space]), delimiter="/"))
    experiment = mlflow.set_experiment("peer")
    with mlflow.start_run(run_name="peer") as parent:
        callback = MLflowCallback(tracking_uri=uri, metric_name=VAL_KAPPA, create_experiment=False,
                                  mlflow_kwargs={"experiment_id": experiment.experiment_id, "nested": True,
                                                 # trials run in Optuna's threads, where the parent run is not
                                                 # active: name it, as a user would
                                                 "tags": {"mlflow.parentRunId": parent.info.run_id}})
        started = time.time()
        study.optimize(objective, n_trials=args.trials, n_jobs=args.jobs, callbacks=[callback])
        seconds = time.time() - started
    trials = [{"status": {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(t.state.name, t.state.name),
               "pruned": t.state.name == "PRUNED", "val_kappa": t.value,
               "train_seconds": t.user_attrs.get("train_seconds", 0.0),
               "ended_s": t.datetime_complete.timestamp() - started if t.datetime_complete else seconds}
              for t in study.trials]
    print(json.dumps({"search_s": seconds, "trials": trials, "parent": parent.info.run_id}))


if __name__ == "__main__":
    main()
