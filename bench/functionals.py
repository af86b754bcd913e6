"""openSMILE functionals: extraction speed, the cached reload, and a smile search's pace.

    python bench/functionals.py [--scale small] [--trials 40] [--only extraction,reload,search] [--out FILE]

Three measurements, each in fresh processes on a demo corpus written here:

1. extraction: files per second of ``load_functionals`` for each feature set, with one
   thread and with one thread per core (the default), from an empty cache;
2. reload: a second ``load_dataset(..., feature_sets=both)`` in a new process, against
   the first build (windows, features and both sets of functionals);
3. search: a ``--trials``-trial ``mser-search --space smile_svm`` with its workers reused
   between trials (as every space runs) and with a fresh worker per trial (as the
   sklearn spaces ran until their trials ended cleanly, see ``search.study.REUSE_WORKERS``),
   in trials per hour and the share of the slots' time spent training.

Needs the dev extra (opensmile, psutil). Results go to stdout and, with ``--out``, to a
JSON file (docs/benchmarks.md and the README quote ``bench/functionals.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from performance import _machine, _say  # bench/ is the script's folder, first on sys.path

BENCHES = ("extraction", "reload", "search")
FEATURE_SETS = ("eGeMAPSv02", "ComParE_2016")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "full"),
                        help="demo corpus size (default: small, as mser-search)")
    parser.add_argument("--trials", type=int, default=40, help="trials of each search (default: 40)")
    parser.add_argument("--only", default=",".join(BENCHES), help=f"comma-separated subset of {', '.join(BENCHES)}")
    parser.add_argument("--work-dir", type=Path,
                        help="keep corpora, caches and stores here (default: a temporary folder)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON to this file")
    args = parser.parse_args()
    only = set(args.only.split(","))
    if only - set(BENCHES):
        parser.error(f"unknown benchmark(s) {', '.join(sorted(only - set(BENCHES)))}: choose from {', '.join(BENCHES)}")
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="mser-bench-functionals-"))
    work.mkdir(parents=True, exist_ok=True)

    from mser.demo import write_demo_corpus

    root = work / "demo"
    write_demo_corpus(root, scale=args.scale)
    results: dict = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "scale": args.scale}
    if "extraction" in only:
        results["extraction"] = {name: bench_extraction(root, work, name) for name in FEATURE_SETS}
    if "reload" in only:
        results["reload"] = bench_reload(root, work)
    if "search" in only:
        results["search"] = bench_search(root, work, args.trials)
    text = json.dumps(results, indent=2) + "\n"
    if args.out:
        args.out.write_text(text)
    print(text)


def _python(code: str, *argv: str, env: dict | None = None) -> str:
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})}).stdout


_EXTRACT = """
import sys, time
from mser.dataset import load_dataset, load_functionals
data = load_dataset(sys.argv[1], cache_dir=sys.argv[2])
started = time.perf_counter()
load_functionals(data, sys.argv[3], cache_dir=sys.argv[2], use_cache=False, threads=int(sys.argv[4]))
print(time.perf_counter() - started, len(data.utterances))
"""


def bench_extraction(root: Path, work: Path, feature_set: str) -> dict:
    """Files per second from the audio, on one thread and on every core."""
    cache = work / "extraction-cache"
    result = {}
    for label, threads in (("one_thread", 1), ("all_cores", os.cpu_count() or 1)):
        seconds, files = map(float, _python(_EXTRACT, str(root), str(cache), feature_set, str(threads)).split())
        result[f"{label}_files_per_s"] = round(files / seconds, 1)
        _say(f"extraction {feature_set}, {label.replace('_', ' ')}: {files:.0f} files in {seconds:.1f} s")
    result["files"] = int(files)
    return result


_LOAD = """
import sys, time
from mser.dataset import load_dataset
started = time.perf_counter()
data = load_dataset(sys.argv[1], cache_dir=sys.argv[2], feature_sets=sys.argv[3].split(","))
print(time.perf_counter() - started, len(data.utterances))
"""


def bench_reload(root: Path, work: Path) -> dict:
    """First build (windows, features, both functional sets) against a second load, fresh processes."""
    cache = work / "reload-cache"
    shutil.rmtree(cache, ignore_errors=True)
    times = []
    for label in ("first build", "second load"):
        seconds, files = map(float, _python(_LOAD, str(root), str(cache), ",".join(FEATURE_SETS)).split())
        times.append(seconds)
        _say(f"reload: {label} of {files:.0f} utterances with both functional sets in {seconds:.2f} s")
    return {"utterances": int(files), "first_build_s": round(times[0], 2), "second_load_s": round(times[1], 3),
            "speedup": round(times[0] / times[1], 1)}


_SEARCH = """
import sys
import search.study
reuse = sys.argv[1] == "reused"
search.study.REUSE_WORKERS = reuse
from cli.search import main
sys.exit(main(sys.argv[2:]))
"""


def bench_search(root: Path, work: Path, trials: int) -> dict:
    """The same smile_svm search with reused workers and with a fresh worker per trial."""
    from mlflow.tracking import MlflowClient

    result = {}
    cache = work / "search-cache"
    _python(_LOAD, str(root), str(cache), ",".join(FEATURE_SETS))  # both searches start from the cached data
    for label in ("reused", "fresh"):
        folder = work / f"search-{label}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir()
        uri = f"sqlite:///{folder / 'mlflow.db'}"
        shutil.rmtree(cache / "searches", ignore_errors=True)
        out = subprocess.run([sys.executable, "-c", _SEARCH, label, "--space", "smile_svm", "--trials", str(trials),
                              "--data-root", str(root), "--cache-dir", str(cache), "--tracking-uri", uri,
                              "--experiment", "bench", "--json"], cwd=folder, capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"search ({label}) failed:\n{out.stderr[-3000:]}")
        study = json.loads(out.stdout)[0]
        client = MlflowClient(uri)
        parent = client.get_run(study["parent_run_id"])
        search_s = parent.data.metrics["search_seconds"]
        runs = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
                                  max_results=5000)
        trained = sum(r.data.metrics.get("train_seconds", 0.0) for r in runs)
        slots = 2
        result[label] = {"trials": len(runs), "search_s": round(search_s, 1),
                         "trials_per_hour": round(3600 * len(runs) / search_s),
                         "training_share": round(trained / (slots * search_s), 3),
                         "best_val_kappa": round(parent.data.metrics.get("best_val_kappa", float("nan")), 3),
                         "counts": study["trials"]}
        _say(f"search ({label} workers): {len(runs)} trials in {search_s:.0f} s")
    result["speedup"] = round(result["reused"]["trials_per_hour"] / result["fresh"]["trials_per_hour"], 2)
    return result


if __name__ == "__main__":
    main()
