"""How a reused worker's memory grows over a search, and what bounds it.

    python bench/worker_memory.py [--trials 50] [--space sae_cnn] [--scale small]
                                  [--variants today,lazy_optimizer] [--out bench/worker_memory.json]

One process plays one reused Ray worker: it runs ``--trials`` trials one after another,
as :func:`search.trial.run_trial` does (Keras session cleared, sampled configuration,
training with the encoder cache, the run and its model logged to a SQLite MLflow store),
and records its resident memory (RSS) after each trial. Each variant runs in a fresh
process with the same configurations:

* ``today``: what a worker does now (``keras.backend.clear_session(free_memory=False)``);
* ``collect``: and a full garbage collection after each trial;
* ``trim``: and glibc's ``malloc_trim(0)`` after it, handing freed heap back to the system;
* ``nolog``: as ``today`` without logging the run's results and model (training only);
* ``jemalloc`` / ``tcmalloc``: as ``today`` with that allocator in place of glibc's malloc
  (``LD_PRELOAD``; Debian's ``libjemalloc2`` / ``libtcmalloc-minimal4``), the usual remedy for
  TensorFlow processes whose heap fragments.
* ``lazy_optimizer``: as ``today`` before the fix of 2026-12-03: the optimizer's variables
  created inside the first training step, as Keras does when ``fit`` comes before
  ``optimizer.build`` (:func:`mser.models._keras.compile_model` builds them at compile time);
* ``traced``: as ``today``, with tracemalloc from trial 5 on, for the Python allocations that
  grew most to the last trial (tracing makes it several times slower: not in the default run).

Writes the JSON and a picture of the curves beside it.
Not a test: it writes figures for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil
from performance import _machine, _say  # bench/ is the script's folder, first on sys.path

VARIANTS = ("today", "lazy_optimizer", "collect", "trim", "nolog", "jemalloc", "tcmalloc")
#: How the picture names a variant (the others by their own name).
LABELS = {"today": "today: optimizer built when compiled", "lazy_optimizer": "before the fix: built in the first step"}
#: The allocator each variant preloads.
ALLOCATORS = {"jemalloc": "libjemalloc.so.2", "tcmalloc": "libtcmalloc_minimal.so.4"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--space", default="sae_cnn")
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--variants", default="today,lazy_optimizer",
                        help=f"comma-separated, of {', '.join(VARIANTS)} "
                             "(default: today,lazy_optimizer, the fix's after and before)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "worker_memory.json")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run one variant in this process
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    work = Path(tempfile.mkdtemp(prefix="mser-worker-memory-"))
    from mser.demo import write_demo_corpus

    write_demo_corpus(work / "demo", scale=args.scale)
    results = {"date": time.strftime("%Y-%m-%d"), "machine": _machine(), "space": args.space, "scale": args.scale,
               "trials": args.trials, "epochs": args.epochs, "variants": {}}
    for variant in args.variants.split(","):
        _say(f"{variant}: {args.trials} trials in one process")
        command = [sys.executable, __file__, "--worker", variant, "--work", str(work), "--trials", str(args.trials),
                   "--space", args.space, "--epochs", str(args.epochs)]
        env = dict(os.environ)
        if variant in ALLOCATORS:
            env["LD_PRELOAD"] = _library(ALLOCATORS[variant])
        answer = subprocess.run(command, check=True, capture_output=True, text=True,
                                env=env).stdout.strip().splitlines()[-1]
        results["variants"][variant] = summarise(json.loads(answer))
        _say(f"  {json.dumps({k: v for k, v in results['variants'][variant].items() if k != 'rss_mib'})}")
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    picture(results, args.out.with_suffix(".png"))
    _say(f"wrote {args.out} and {args.out.with_suffix('.png')}")


def worker(args) -> dict:
    """One variant: the trials of a reused worker, RSS after each (MiB)."""
    import mlflow

    from mser.dataset import load_dataset
    from mser.encoders import EncoderCache
    from mser.models._keras import keras, set_threads
    from mser.train import make_split, train
    from search.options import StudyOptions
    from search.spaces import get_space
    from search.trial import train_config
    from tracking.runs import EpochLogger, log_result, tracked_run
    from tracking.store import ensure_store, experiment_id

    set_threads(1)
    if args.worker == "lazy_optimizer":
        _compile_lazily()
    uri = f"sqlite:///{args.work / f'mlflow-{args.worker}.db'}"
    client = ensure_store(uri)
    mlflow.set_tracking_uri(uri)
    experiment = experiment_id(client, "worker-memory")
    dataset = load_dataset(args.work / "demo", cache_dir=args.work / "cache").for_languages(["de"])
    options = StudyOptions(space=args.space, language="de", trials=args.trials, tracking_uri=uri,
                           experiment="worker-memory", state_dir=args.work / "state", sae_epochs=args.epochs,
                           epochs=args.epochs, patience=args.epochs)
    cache = EncoderCache(args.work / f"cache-{args.worker}")
    configs = _configs(get_space(args.space), args.trials)
    process, rss, top, stages = psutil.Process(), [], None, {"train": 0.0, "log": 0.0}
    trim = ctypes.CDLL("libc.so.6").malloc_trim if args.worker == "trim" else None
    for index, config in enumerate(configs):
        if index == 5 and args.worker == "traced":
            tracemalloc.start(1)
            snapshot = tracemalloc.take_snapshot()
        keras.backend.clear_session(free_memory=False)
        trial = train_config(config, options)
        split = make_split(dataset, trial)
        with tracked_run(client, experiment, run_name=f"trial-{index}") as run_id:
            before = process.memory_info().rss
            result = train(dataset, trial, split=split, on_epoch=EpochLogger(client, run_id), encoder_cache=cache,
                           score_test=False)
            trained = process.memory_info().rss
            if args.worker != "nolog":
                log_result(client, run_id, result, dataset=dataset)
            if index:  # the first trial's growth is imports and first allocations
                stages["train"] += (trained - before) / 2**20
                stages["log"] += (process.memory_info().rss - trained) / 2**20
        del result
        if args.worker in ("collect", "trim"):  # "today" and "traced" do what run_trial does
            gc.collect()
        if trim is not None:
            trim(0)
        rss.append(process.memory_info().rss / 2**20)
    if args.worker == "traced" and len(configs) > 6:
        after = tracemalloc.take_snapshot()
        top = [{"where": str(stat.traceback[-1]), "mib": stat.size_diff / 2**20, "blocks": stat.count_diff}
               for stat in after.compare_to(snapshot, "traceback")[:8]]
    return {"rss_mib": rss, "python_growth": top, "growth_by_stage_mib": stages}


def _compile_lazily() -> None:
    """Make the models compile as before the fix: no ``optimizer.build`` before ``fit``."""
    from mser.models import classifiers, sae
    from mser.models._keras import make_optimizer

    def compile_model(model, optimizer, learning_rate, loss):
        model.compile(optimizer=make_optimizer(optimizer, learning_rate), loss=loss)
        return model

    classifiers.compile_model = sae.compile_model = compile_model


def _library(name: str) -> str:
    """The path of a shared library, or exit with the package that provides it."""
    for folder in ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib"):
        if (Path(folder) / name).is_file():
            return str(Path(folder) / name)
    sys.exit(f"{name} not found: apt-get install libjemalloc2 libtcmalloc-minimal4, or leave its variant out")


def _configs(space, count: int) -> list[dict]:
    """``count`` configurations sampled from ``space`` with a fixed seed (the same in every variant)."""
    np.random.seed(0)
    import random

    random.seed(0)

    def sample(node):
        if isinstance(node, dict):
            return {k: sample(v) for k, v in node.items()}
        return node.sample() if hasattr(node, "sample") else node

    return [sample(space) for _ in range(count)]


def summarise(answer: dict) -> dict:
    """Growth after the first trial (imports and first allocations done) to the last, and its pace."""
    rss = answer["rss_mib"]
    later = rss[len(rss) // 2:]
    slope = float(np.polyfit(range(len(later)), later, 1)[0]) if len(later) >= 2 else None
    return {"first_mib": rss[0], "last_mib": rss[-1], "peak_mib": max(rss), "growth_mib": rss[-1] - rss[0],
            "mib_per_trial_second_half": slope, "growth_by_stage_mib": answer.get("growth_by_stage_mib"),
            "rss_mib": rss, "python_growth": answer.get("python_growth")}


def picture(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 3.8), dpi=110)
    for variant, numbers in results["variants"].items():
        axes.plot(range(1, len(numbers["rss_mib"]) + 1), numbers["rss_mib"],
                  label=f"{LABELS.get(variant, variant)} ({numbers['growth_mib']:+.0f} MiB)")
    axes.set_xlabel("trials run by the worker")
    axes.set_ylabel("resident memory (MiB)")
    axes.set_title(f"One reused worker, {results['space']} on the {results['scale']} demo corpus", fontsize=10)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path)


if __name__ == "__main__":
    main()
