"""Seconds per epoch of the autoencoder and of each classifier, on the demo corpus.

    python bench/epochs.py [--scale small] [--epochs 5] [--json]

Trains each model of the paper for a few epochs on the paper's split (all languages
jointly) and reports the wall time of an epoch (first epoch, which includes graph
building, left out) and the fit time of the sklearn classifiers. Not a test: it
prints figures for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np

from mser.dataset import load_dataset
from mser.demo import write_demo_corpus
from mser.models import MODELS
from mser.train import TrainConfig, train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = os.path.join(tempfile.gettempdir(), f"mser-bench-demo-{args.scale}")
    write_demo_corpus(root, scale=args.scale)
    dataset = load_dataset(root)
    rows, sae_done = [], False
    for name, spec in MODELS.items():
        stamps: dict[str, list[float]] = {"sae": [], "classifier": []}
        started = time.perf_counter()
        config = TrainConfig(model=name, sae_epochs=args.epochs, epochs=args.epochs, patience=args.epochs)
        result = train(dataset, config,
                       on_epoch=lambda stage, epoch, values, stamps=stamps: stamps[stage].append(time.perf_counter()))
        total = time.perf_counter() - started
        if spec.uses_code and not sae_done:
            rows.append({"part": "autoencoder (paper's Table 3)", "seconds_per_epoch": _per_epoch(stamps["sae"])})
            sae_done = True
        if spec.keras:
            rows.append({"part": f"{name} classifier", "seconds_per_epoch": _per_epoch(stamps["classifier"])})
        else:
            rows.append({"part": f"{name} classifier (sklearn fit)",
                         "fit_seconds": round(result.seconds["classifier"], 2)})
        rows[-1]["total_seconds"] = round(total, 1)
    train_windows = int((dataset.meta["split"] == "train").sum())
    report = {"scale": args.scale, "windows": len(dataset), "train_windows": train_windows,
              "cpus": os.cpu_count(), "rows": rows}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"demo scale {args.scale}: {len(dataset)} windows, {train_windows} of the paper's training speakers "
          f"(train + validation), {os.cpu_count()} CPUs, {args.epochs} epochs each")
    for row in rows:
        figure = (f"{row['seconds_per_epoch']:.2f} s/epoch" if "seconds_per_epoch" in row
                  else f"{row['fit_seconds']:.2f} s to fit")
        total = f"   (whole run {row['total_seconds']} s)" if "total_seconds" in row else ""
        print(f"  {row['part']:42s} {figure:>16s}{total}")


def _per_epoch(stamps: list[float]) -> float:
    return round(float(np.mean(np.diff(stamps))), 3) if len(stamps) > 2 else float("nan")


if __name__ == "__main__":
    main()
