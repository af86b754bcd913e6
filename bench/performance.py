"""How fast is a search, and where does its time go? Ratios measured in one run on the demo corpus.

    python bench/performance.py [--trials 50] [--language all] [--scale small] [--only NAME,...] [--json]

Seven measurements, each a ratio of two things measured here, on this machine, now:

1. features: the project's extractor (one STFT per batch) vs four plain librosa calls
   per window, in windows per second, with the largest difference between their values;
2. dataset cache: first build of the prepared dataset vs a second load;
3. trial overhead: 1 - (sum of the trials' own training time) / (slots x search wall
   time), from the default search (ASHA, encoder cache): what Ray, MLflow, data loading
   and idle slots add;
4. encoder cache: trials per hour of that search vs the same search with
   ``--no-encoder-cache``, and whether configurations that ran in both scored the same;
5. ASHA: time until a finished trial reaches the best validation kappa both searches
   reach, the default search vs ``--scheduler fifo`` with patience as long as the
   budget (every trial to its end); at the default 30 classifier epochs, at the
   paper's 100, and with ASHA's first rung at 9 epochs instead of 3 (``--grace-period 9``);
6. parallel efficiency: one trial alone on one thread vs two at once on one thread
   each, and what one trial on two threads does with the same two cores;
7. memory: peak resident memory of the search's driver and of its busiest worker.

Searches run the real ``mser-search`` command with a fresh MLflow store and a cold
encoder cache each. Results go to stdout and, with ``--out``, to a JSON file (docs/benchmarks.md
quotes ``bench/results.json``). A 50-trial run takes about 40 minutes on 2 cores.
Needs the dev extra (psutil).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

BENCHES = ("features", "dataset_cache", "parallel", "searches")
TARGETS = {"features_speedup": 3.0, "dataset_cache_speedup": 20.0, "overhead_fraction": 0.10,
           "encoder_cache_speedup": 2.0, "asha_speedup": 2.0, "asha_100_epochs_speedup": 2.0,
           "asha_grace_9_speedup": 2.0,
           "parallel_efficiency": 0.8}


def corpus_arguments(parser: argparse.ArgumentParser, *, out: Path, scale: str = "full") -> None:
    """The options of a benchmark that measures on a demo corpus written here, or on the user's own."""
    parser.add_argument("--scale", default=scale, choices=("tiny", "small", "full"),
                        help=f"demo corpus size (default: {scale})")
    parser.add_argument("--work", type=Path, default=None, help="folder for the corpus and store (default: temp)")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="measure on these corpora instead of a demo corpus written here")
    parser.add_argument("--out", type=Path, default=out, help=f"results file (default: {out})")


def corpus_root(args: argparse.Namespace, prefix: str) -> tuple[Path, Path]:
    """The benchmark's work folder and the corpora it measures on (a demo corpus written there
    unless ``--data-root`` names the user's own)."""
    from mser.demo import write_demo_corpus

    if args.data_root is not None and not args.data_root.is_dir():
        raise SystemExit(f"--data-root {args.data_root}: no such folder; name the folder that holds your corpora")
    work = args.work or Path(tempfile.mkdtemp(prefix=prefix))
    work.mkdir(parents=True, exist_ok=True)
    root = args.data_root or work / f"demo-{args.scale}"
    if args.data_root is None:
        write_demo_corpus(root, scale=args.scale)
    return work, root


def search_arguments(parser: argparse.ArgumentParser, *, trials: int = 50, scale: str = "small") -> None:
    """The options every search benchmark takes: what to search, on which demo corpus, where."""
    parser.add_argument("--trials", type=int, default=trials, help=f"trials of each search (default: {trials})")
    parser.add_argument("--space", default="sae_cnn", help="space searched (default: sae_cnn)")
    parser.add_argument("--language", default="all", help="language searched (default: all)")
    parser.add_argument("--scale", default=scale, choices=("tiny", "small", "full"),
                        help=f"demo corpus size (default: {scale}; small is mser-search's, full the paper's)")
    parser.add_argument("--work-dir", type=Path, help="keep stores and caches here (default: a temporary folder)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    search_arguments(parser)
    parser.add_argument("--only", default=",".join(BENCHES),
                        help=f"comma-separated subset of {', '.join(BENCHES)} (default: all)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(BENCHES):
        parser.error(f"unknown benchmark(s) {', '.join(sorted(only - set(BENCHES)))}: choose from {', '.join(BENCHES)}")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="mser-bench-"))
    work.mkdir(parents=True, exist_ok=True)

    from mser.demo import write_demo_corpus

    root = work / "demo"
    write_demo_corpus(root, scale=args.scale)
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "scale": args.scale}
    _say(f"bench: demo corpus ({args.scale}) at {root}, work folder {work}")
    dataset_cache = work / "base-cache"
    if "dataset_cache" in only or "searches" in only or "parallel" in only:
        results["dataset_cache"] = bench_dataset_cache(root, dataset_cache)
    if "features" in only:
        results["features"] = bench_features(root, dataset_cache)
    if "parallel" in only:
        results["parallel"] = bench_parallel(root, dataset_cache, args.space)
    if "searches" in only:
        results.update(bench_searches(root, dataset_cache, work, args))
    results["targets"] = _verdicts(results)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2) if args.json else _tables(results))


# 1. features ------------------------------------------------------------------------------

def bench_features(root: Path, cache_dir: Path, windows: int = 400) -> dict:
    from mser.dataset import load_dataset
    from mser.features import reference_features, window_features

    dataset = load_dataset(root, cache_dir=cache_dir)
    batch = np.asarray(dataset.windows[:windows], dtype=np.float32)
    rate = dataset.params.target_rate
    _say(f"features: {len(batch)} windows, project extractor vs four plain librosa calls per window")
    ours, fast = _best_of(3, lambda: window_features(batch, rate, params=dataset.params.features))
    plain_seconds, plain = _best_of(1, lambda: np.stack([reference_features(w, rate, params=dataset.params.features)
                                                         for w in batch]))
    return {"windows": len(batch), "ours_windows_per_s": round(len(batch) / ours, 1),
            "plain_windows_per_s": round(len(batch) / plain_seconds, 1),
            "speedup": round(plain_seconds / ours, 2), "max_abs_difference": float(np.max(np.abs(fast - plain)))}


# 2. dataset cache -------------------------------------------------------------------------

def bench_dataset_cache(root: Path, cache_dir: Path) -> dict:
    """Build the dataset into an empty cache, then load it again, each in a fresh process."""
    shutil.rmtree(cache_dir, ignore_errors=True)
    code = ("import sys, time; from mser.dataset import load_dataset; t = time.perf_counter(); "
            "d = load_dataset(sys.argv[1], cache_dir=sys.argv[2]); print(time.perf_counter() - t, len(d))")
    times = []
    for label in ("first build", "second load"):
        out = subprocess.run([sys.executable, "-c", code, str(root), str(cache_dir)], capture_output=True,
                             text=True, check=True).stdout.split()
        times.append(float(out[0]))
        _say(f"dataset cache: {label} of {out[1]} windows in {times[-1]:.2f} s")
    return {"windows": int(out[1]), "first_build_s": round(times[0], 2), "second_load_s": round(times[1], 3),
            "speedup": round(times[0] / times[1], 1)}


# 6. parallel efficiency -------------------------------------------------------------------

def _parallel_worker(args) -> float:
    root, cache_dir, space, threads, barrier = args
    from mser.models._keras import set_threads

    set_threads(threads)
    from mser.dataset import load_dataset
    from mser.train import TrainConfig, train
    from search.spaces import PAPER_POINTS

    dataset = load_dataset(root, cache_dir=cache_dir)
    point = PAPER_POINTS[space]
    config = TrainConfig(model=space, language="all", sae=dict(point.get("sae", {})),
                         classifier=dict(point.get("classifier", {})), sae_epochs=5, epochs=10, patience=100,
                         **dict(point.get("training", {})))
    if barrier is not None:
        barrier.wait()
    started = time.perf_counter()
    train(dataset, config, score_test=False)
    return time.perf_counter() - started


def bench_parallel(root: Path, cache_dir: Path, space: str) -> dict:
    """The same fixed-length training (5 autoencoder + 10 classifier epochs, all languages) alone
    on one thread, alone on two threads, and twice at once on one thread each."""
    context = multiprocessing.get_context("spawn")
    job = (str(root), str(cache_dir), space)
    _say("parallel: one trial on one thread")
    with context.Pool(1) as pool:
        one = pool.map(_parallel_worker, [(*job, 1, None)])[0]
    _say("parallel: one trial on two threads")
    with context.Pool(1) as pool:
        two_threads = pool.map(_parallel_worker, [(*job, 2, None)])[0]
    _say("parallel: two trials at once, one thread each")
    with context.Manager() as manager, context.Pool(2) as pool:
        barrier = manager.Barrier(2)
        both = pool.map(_parallel_worker, [(*job, 1, barrier)] * 2)
    return {"one_trial_one_thread_s": round(one, 1), "one_trial_two_threads_s": round(two_threads, 1),
            "two_trials_at_once_s": [round(t, 1) for t in both],
            "efficiency": round(one / max(both), 2),
            "threads_efficiency": round(one / (2 * two_threads), 2),
            "trials_per_hour_2x1_vs_1x2": round((2 / max(both)) / (1 / two_threads), 2)}


# 3, 4, 5, 7. searches ---------------------------------------------------------------------

#: The searches, by name: extra options of ``mser-search``. "fifo" runs every trial to its
#: end: no scheduler, and patience as long as the budget, so nothing stops a trial early.
SEARCHES = {"default": [], "no_encoder_cache": ["--no-encoder-cache"],
            "fifo": ["--scheduler", "fifo", "--patience", "30"],
            "default_100_epochs": ["--max-epochs", "100"],
            "fifo_100_epochs": ["--scheduler", "fifo", "--max-epochs", "100", "--patience", "100"],
            # ASHA's first rung at 9 epochs instead of 3, where kappa ranks trials better
            "default_grace_9": ["--grace-period", "9"]}


def bench_searches(root: Path, dataset_cache: Path, work: Path, args) -> dict:
    runs = {name: _search(name, extra, root, dataset_cache, work, args) for name, extra in SEARCHES.items()}
    default = runs["default"]
    overhead = {**_overhead(default), "trials": len(default["trials"]), "slots": default["max_concurrent"],
                "search_s": round(default["search_s"], 1), "command_s": round(default["command_s"], 1)}
    return {"overhead": overhead, "encoder_cache": _encoder_cache(runs), "asha": _asha(runs["default"], runs["fifo"]),
            "asha_100_epochs": _asha(runs["default_100_epochs"], runs["fifo_100_epochs"]),
            "asha_grace_9": _asha(runs["default_grace_9"], runs["fifo"]),
            "early_ranking": {name: _early_ranking(runs[name]) for name in ("fifo", "fifo_100_epochs")},
            "memory": default["memory"],
            "searches": {name: {**{k: v for k, v in r.items() if k != "trials"}, "overhead": _overhead(r)}
                         for name, r in runs.items()}}


def _overhead(search: dict) -> dict:
    """1 - (trials' own training time) / (slots x search wall time), and where the rest went:
    inside a trial's MLflow run but not training (logging, the model, reporting to Tune),
    and outside any run (Ray scheduling, worker start-up, idle slots)."""
    slots = search["max_concurrent"]
    train = sum(t["train_seconds"] for t in search["trials"])
    in_runs = sum(t["run_seconds"] for t in search["trials"])
    return {"fraction": round(1 - train / (slots * search["search_s"]), 3), "sum_train_s": round(train, 1),
            "in_run_not_training_s": round(in_runs - train, 1),
            "outside_runs_s": round(slots * search["search_s"] - in_runs, 1)}


def _search(name: str, extra: list[str], root: Path, dataset_cache: Path, work: Path, args) -> dict:
    folder = work / f"search-{name}"
    shutil.rmtree(folder, ignore_errors=True)
    cache = folder / "cache"
    shutil.copytree(dataset_cache, cache, ignore=shutil.ignore_patterns("encoders", "searches"))
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    command = [str(Path(sys.executable).parent / "mser-search"), "--space", args.space, "--language", args.language,
               "--trials", str(args.trials), "--data-root", str(root), "--cache-dir", str(cache),
               "--tracking-uri", uri, "--experiment", "bench", "--json", *extra]
    _say(f"search {name}: {' '.join(command[1:])}")
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    monitor = _MemoryMonitor(process.pid)
    monitor.start()
    out, err = process.communicate()
    monitor.stop()
    command_s = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"search {name} failed ({process.returncode}):\n{err[-3000:]}")
    (folder / "stderr.txt").write_text(err)
    studies = json.loads(out)
    result = {"command": " ".join(["mser-search", *command[1:]]), "command_s": command_s,
              "memory": monitor.peaks(), **_studies(uri, studies)}
    _say(f"search {name}: {result['search_s']:.0f} s for {len(result['trials'])} trials, "
         f"best val kappa {result['best_val_kappa']}")
    return result


def _studies(uri: str, studies: list[dict]) -> dict:
    """A command's studies (one, or one per language with ``--language each``) as one search:
    their trials together, their search times added (studies run one after the other); the
    first study's parent run and figures as before under their own names."""
    first = studies[0]
    measured = [_trials(uri, study["parent_run_id"]) for study in studies]
    merged = {**measured[0], "study_s": sum(s["seconds"] for s in studies), "counts": first["trials"],
              "parent": first["parent_run_id"], "parents": [s["parent_run_id"] for s in studies],
              "trials": [t for m in measured for t in m["trials"]],
              "search_s": sum(m["search_s"] for m in measured),
              "best_val_kappa": {s["language"]: m["best_val_kappa"] for s, m in zip(studies, measured)}}
    if len(studies) == 1:
        merged["best_val_kappa"] = measured[0]["best_val_kappa"]
    return merged


def _trials(uri: str, parent: str) -> dict:
    from mlflow.tracking import MlflowClient

    from tracking.query import outcome
    from tracking.schema import Outcome

    client = MlflowClient(uri)
    parent_run = client.get_run(parent)
    experiment = parent_run.info.experiment_id
    runs = client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'", max_results=5000)
    start = parent_run.info.start_time
    trials = []
    for run in runs:
        if run.data.tags.get("retried") == "true" or "trial_id" not in run.data.tags:
            continue  # a retried trial's first run, or not a trial (the study's refit, its repeats)
        trials.append({
            "params": {k: v for k, v in run.data.params.items() if k != "dataset_key"},
            "status": run.info.status, "pruned": outcome(run) is Outcome.PRUNED,
            "language": run.data.tags.get("language"),
            "encoder_cache": run.data.tags.get("encoder_cache"),
            "train_seconds": run.data.metrics.get("train_seconds", 0.0),
            "run_seconds": (run.info.end_time - run.info.start_time) / 1000,
            "ended_s": (run.info.end_time - start) / 1000,
            "val_kappa": run.data.metrics.get("val_kappa"),
            "curve": _curve(client, run.info.run_id, "epoch/val_kappa"),
            "probe": _curve(client, run.info.run_id, "epoch/sae_probe_kappa"),
            "encoder_epochs": _encoder_epochs(run.data.tags, len(_curve(client, run.info.run_id, "epoch/sae_loss"))),
            "encoder_replayed": int(run.data.tags.get("encoder_replayed_epochs", 0)),
        })
    finished = [t for t in trials if t["status"] == "FINISHED" and t["val_kappa"] is not None]
    return {"trials": trials, "search_s": parent_run.data.metrics["search_seconds"],
            "max_concurrent": int(parent_run.data.params["max_concurrent"]),
            "best_val_kappa": round(max((t["val_kappa"] for t in finished), default=float("nan")), 4),
            "encoders_trained": sum(t["encoder_cache"] == "miss" for t in trials)}


def _encoder_epochs(tags: dict, logged: int) -> int:
    """The encoder epochs a trial trained: none for an encoder from the cache (it shows its
    maker's curve) or for one stopped while it replayed a stopped training's epochs; else
    all it logged (after a replay the training starts again from its first epoch)."""
    replayed = int(tags.get("encoder_replayed_epochs", 0))
    return 0 if tags.get("encoder_cache") == "hit" or (replayed and logged <= replayed) else logged


def _curve(client, run_id: str, name: str) -> list[float]:
    return [m.value for m in sorted(client.get_metric_history(run_id, name), key=lambda m: m.step)]


def _encoder_cache(runs: dict) -> dict:
    """Trials per hour with and without the cache, and whether the same configuration scored the
    same in both searches (the cache must change the time only)."""
    with_cache, without = runs["default"], runs["no_encoder_cache"]
    rate = {name: len(r["trials"]) / r["search_s"] * 3600 for name, r in (("with", with_cache), ("without", without))}
    shared, same = 0, 0
    others = {json.dumps(t["params"], sort_keys=True): t for t in without["trials"]}
    for trial in with_cache["trials"]:
        other = others.get(json.dumps(trial["params"], sort_keys=True))
        if other is None:
            continue
        common = min(len(trial["curve"]), len(other["curve"]))
        shared += 1
        same += bool(common) and np.allclose(trial["curve"][:common], other["curve"][:common])
    return {"trials_per_hour_with": round(rate["with"], 1), "trials_per_hour_without": round(rate["without"], 1),
            "speedup": round(rate["with"] / rate["without"], 2),
            "encoders_trained_with": with_cache["encoders_trained"],
            "encoders_trained_without": without["encoders_trained"],
            "best_val_kappa_with": with_cache["best_val_kappa"], "best_val_kappa_without": without["best_val_kappa"],
            "configurations_in_both": shared, "same_curves": int(same)}


def _asha(asha: dict, fifo: dict) -> dict:
    """Time until a finished trial first reaches the best validation kappa both searches reach."""
    target = min(asha["best_val_kappa"], fifo["best_val_kappa"])

    def reached(search: dict) -> float:
        return min(t["ended_s"] for t in search["trials"]
                   if t["status"] == "FINISHED" and t["val_kappa"] is not None and round(t["val_kappa"], 4) >= target)

    asha_s, fifo_s = reached(asha), reached(fifo)
    return {"target_val_kappa": target, "asha_s": round(asha_s, 1), "fifo_s": round(fifo_s, 1),
            "speedup": round(fifo_s / asha_s, 2), "asha_search_s": round(asha["search_s"], 1),
            "fifo_search_s": round(fifo["search_s"], 1), "asha_pruned": asha["counts"]["pruned"],
            "best_val_kappa_asha": asha["best_val_kappa"], "best_val_kappa_fifo": fifo["best_val_kappa"]}


def _early_ranking(search: dict) -> dict:
    """How well a trial's validation kappa after k epochs ranks the trials by their final one
    (Spearman's rho over the trials of a search that ran every trial to its end): what ASHA
    relies on when it stops trials at its rungs (3, 9, 27 epochs by default)."""
    from scipy.stats import spearmanr

    trials = [t for t in search["trials"] if t["val_kappa"] is not None and t["curve"]]
    final = [t["val_kappa"] for t in trials]
    return {f"epoch_{k}": round(float(spearmanr([t["curve"][min(k, len(t["curve"])) - 1] for t in trials],
                                                 final)[0]), 2) for k in (3, 9, 27)}


class _MemoryMonitor:
    """Peak resident memory of a process (the driver) and of its Ray workers, sampled every 0.2 s."""

    def __init__(self, pid: int) -> None:
        import psutil

        self.process = psutil.Process(pid)
        self.driver = self.worker = self.total = 0
        self.worker_name = ""
        self.samples: dict[int, list[int]] = {}  # worker pid -> its RSS, sample after sample
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psutil

        while not self._stop.wait(0.2):
            try:
                driver = self.process.memory_info().rss
                children = self.process.children(recursive=True)
            except psutil.Error:
                return
            total = driver
            for child in children:
                try:
                    rss, title = child.memory_info().rss, " ".join(child.cmdline())[:60]
                except psutil.Error:
                    continue
                total += rss
                if title.startswith("ray::ImplicitFunc"):  # a trial worker
                    self.samples.setdefault(child.pid, []).append(rss)
                if title.startswith("ray::") and rss > self.worker:
                    self.worker, self.worker_name = rss, title.strip()
            self.driver, self.total = max(self.driver, driver), max(self.total, total)

    def peaks(self) -> dict:
        mib = 1 << 20
        # A reused worker runs trial after trial: its memory after the first tenth of its
        # life vs at its end shows whether trials leave memory behind.
        growth = {pid: (rss[-1] - rss[len(rss) // 10]) / mib for pid, rss in self.samples.items() if len(rss) >= 20}
        return {"driver_peak_mib": round(self.driver / mib), "worker_peak_mib": round(self.worker / mib),
                "worker_process": self.worker_name, "all_processes_peak_mib": round(self.total / mib),
                "trial_workers": len(self.samples),
                "worker_growth_mib": round(max(growth.values()), 1) if growth else None}


# output -----------------------------------------------------------------------------------

def _verdicts(results: dict) -> dict:
    found = {"features_speedup": results.get("features", {}).get("speedup"),
             "dataset_cache_speedup": results.get("dataset_cache", {}).get("speedup"),
             "overhead_fraction": results.get("overhead", {}).get("fraction"),
             "encoder_cache_speedup": results.get("encoder_cache", {}).get("speedup"),
             "asha_speedup": results.get("asha", {}).get("speedup"),
             "asha_100_epochs_speedup": results.get("asha_100_epochs", {}).get("speedup"),
             "asha_grace_9_speedup": results.get("asha_grace_9", {}).get("speedup"),
             "parallel_efficiency": results.get("parallel", {}).get("efficiency")}
    verdicts = {}
    for name, value in found.items():
        if value is None:
            continue
        target = TARGETS[name]
        met = value < target if name == "overhead_fraction" else value >= target
        verdicts[name] = {"measured": value, "target": target, "met": bool(met)}
    return verdicts


def _tables(results: dict) -> str:
    lines = [f"mser-search benchmarks, {results['date']}, {results['machine']}, demo corpus {results['scale']}"]
    names = {"features_speedup": "feature extraction vs plain librosa (x)",
             "dataset_cache_speedup": "dataset cache, second load vs first build (x)",
             "overhead_fraction": "trial overhead (share of slot time)",
             "encoder_cache_speedup": "encoder cache, trials per hour (x)",
             "asha_speedup": "ASHA vs every trial to its end, time to the same best (x)",
             "asha_100_epochs_speedup": "the same with 100 classifier epochs (x)",
             "asha_grace_9_speedup": "the same with ASHA's first rung at 9 epochs (x)",
             "parallel_efficiency": "parallel efficiency, 2 trials x 1 thread"}
    for name, verdict in results["targets"].items():
        sign = "<" if name == "overhead_fraction" else ">="
        lines.append(f"  {names[name]:<58} {verdict['measured']:>8}   target {sign} {verdict['target']}  "
                     f"{'met' if verdict['met'] else 'MISSED'}")
    if "memory" in results:
        memory = results["memory"]
        lines.append(f"  peak memory: driver {memory['driver_peak_mib']} MiB, worker {memory['worker_peak_mib']} MiB, "
                     f"all processes {memory['all_processes_peak_mib']} MiB; {memory.get('trial_workers')} trial "
                     f"workers, the most grown by {memory.get('worker_growth_mib')} MiB from early on to the end")
    for section in ("features", "dataset_cache", "parallel", "overhead", "encoder_cache", "asha", "asha_100_epochs",
                    "asha_grace_9", "early_ranking"):
        if section in results:
            lines.append(f"{section}: " + ", ".join(f"{k}={v}" for k, v in results[section].items()))
    return "\n".join(lines)


def _best_of(times: int, function):
    best, value = float("inf"), None
    for _ in range(times):
        started = time.perf_counter()
        value = function()
        best = min(best, time.perf_counter() - started)
    return best, value


def _machine() -> str:
    import psutil

    return (f"{os.cpu_count()} CPUs, {psutil.virtual_memory().total / (1 << 30):.0f} GiB, "
            f"{platform.python_implementation()} {platform.python_version()}")


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_search(label: str, arguments: list[str], work: Path, uri: str) -> tuple[str, float]:
    """Run ``mser-search ARGUMENTS`` in ``work`` as a user would (its progress on stderr), and
    return its stdout and seconds; a failed search ends the benchmark in one line (the searches
    before it stay in the store at ``uri``)."""
    command = [str(Path(sys.executable).parent / "mser-search"), *arguments]
    _say(f"{label}: {' '.join(command[1:])}")
    started = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, cwd=work)
    if done.returncode != 0:  # mser-search said why on stderr
        raise SystemExit(f"{label}: mser-search ended with status {done.returncode} (its message is above); the "
                         f"finished searches are in {uri}")
    return done.stdout, time.perf_counter() - started


if __name__ == "__main__":
    main()
