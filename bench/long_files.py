"""Can one very long file dominate training? No remedy, a window cap, per-utterance weighting.

    python bench/long_files.py [--seeds 3] [--epochs 30] [--minutes 10] [--out bench/long_files.json]

Writes the small demo corpus, adds to one EmoDB training speaker (16, never a test
speaker) one angry file of ``--minutes`` minutes (that speaker's full-scale angry takes
end to end, repeated), and trains ``cnn_features`` on German for a few seeds where
speaker 16 trains (not validates), with balanced class weights (the default) and none:

* ``clean``: the corpus without the long file (the reference);
* ``none``: with it, every window (``max_windows_per_utterance=None``);
* ``cap``: with it, the default cap (:data:`mser.audio.MAX_UTTERANCE_WINDOWS` evenly
  spread windows per file);
* ``weight``: with it, every window, each file's windows sharing one unit of loss weight
  and the class weights counted in files. Not part of ``mser``: emulated here by
  turning Keras's ``class_weight`` into that ``sample_weight``.

Reports validation and test kappa per utterance, the long file's share of the angry
training windows and loss weight, and how often the test utterances are predicted angry against how often they
are. Not a test: it writes figures for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np
from sklearn.utils.class_weight import compute_class_weight

from mser.audio import MAX_UTTERANCE_WINDOWS
from mser.corpora import EMOTIONS
from mser.dataset import Dataset, capped_rows, load_dataset
from mser.demo import render_file, write_demo_corpus
from mser.demo.names import demo_names
from mser.models._keras import keras
from mser.testing import write_wav
from mser.train import TrainConfig, make_split, train

SPEAKER, EMOTION_CODE, EMOTION = "16", "W", "angry"
VARIANTS = ("clean", "none", "cap", "weight")
#: The default, and none: without class weights a dominant file shows as over-prediction.
WEIGHTINGS = ("balanced", "none")


def long_file(root: Path, minutes: float) -> str:
    """Write the long file under ``root`` and return its path relative to ``root``."""
    takes = [n for n in demo_names("full")["emodb"] if n.rsplit("/", 1)[1][:2] == SPEAKER
             and n[-6] == EMOTION_CODE]
    present = set(demo_names("small")["emodb"])
    name = next(n for n in takes if n not in present)
    signals = [render_file(n, scale="full") for n in takes]
    rate = signals[0][1]
    joined = np.concatenate([samples for samples, _ in signals])
    frames = int(minutes * 60 * rate)
    write_wav(root / name, np.resize(joined, (frames, joined.shape[1])), rate)
    return name


def utterance_sample_weights(dataset: Dataset, config: TrainConfig) -> np.ndarray:
    """Per training window: its class weight counted in files (``balanced``, or 1), over its file's windows."""
    data = dataset.for_languages(config.languages(dataset.languages))
    split = make_split(data, config)
    meta = data.meta.iloc[split.indices(data.meta["speaker"].to_numpy(), "train")]
    files = meta.groupby("utterance", sort=False)["label"].first()
    classes = np.unique(files.to_numpy())
    balanced = compute_class_weight("balanced", classes=classes, y=files.to_numpy())
    per_class = dict(zip(classes, balanced if config.class_weighting == "balanced" else np.ones(len(classes))))
    sizes = meta["utterance"].map(meta["utterance"].value_counts()).to_numpy()
    weights = meta["label"].map(per_class).to_numpy() / sizes
    return weights / weights.mean()


@contextmanager
def per_utterance_loss(weights: np.ndarray) -> Iterator[None]:
    """Within the block, a classifier's ``fit`` (one-hot targets) uses ``weights`` per sample, not ``class_weight``."""
    original = keras.Model.fit

    def fit(self, x=None, y=None, **kwargs):
        if y.ndim == 2 and y.shape[1] == len(EMOTIONS):
            assert len(x) == len(weights), (len(x), len(weights))
            kwargs["class_weight"], kwargs["sample_weight"] = None, weights
        return original(self, x, y, **kwargs)

    keras.Model.fit = fit
    try:
        yield
    finally:
        keras.Model.fit = original


def run(dataset: Dataset, variant: str, weighting: str, seed: int, epochs: int, long_id: str | None) -> dict:
    """Train one variant under one class weighting for one seed and return its figures."""
    cap = MAX_UTTERANCE_WINDOWS if variant == "cap" else None
    config = TrainConfig(model="cnn_features", language="de", epochs=epochs, patience=10, seed=seed,
                         class_weighting=weighting, max_windows_per_utterance=cap)
    data = dataset.for_languages(config.languages(dataset.languages))
    split = make_split(data, config)
    train_rows = capped_rows(data.meta, split.indices(data.meta["speaker"].to_numpy(), "train"), cap)
    train_meta = data.meta.iloc[train_rows]
    weights = utterance_sample_weights(dataset, config) if variant == "weight" else np.ones(len(train_meta))
    started = time.perf_counter()
    if variant == "weight":
        with per_utterance_loss(weights):
            result = train(dataset, config)
    else:
        result = train(dataset, config)
    predictions = result.test.predictions
    angry = EMOTIONS.index(EMOTION)
    in_class = train_meta["label"] == angry
    is_long = (train_meta["utterance"] == long_id).to_numpy()
    long_windows = int(is_long.sum())
    return {
        "variant": variant, "class_weighting": weighting, "seed": seed,
        "val_kappa": round(result.validation.utterances["kappa"], 3),
        "test_kappa": round(result.test.utterances["kappa"], 3),
        "test_predicted_angry": round(float((predictions["predicted"] == angry).mean()), 3),
        "test_true_angry": round(float((predictions["label"] == angry).mean()), 3),
        "test_angry_recall": round(float((predictions["predicted"][predictions["label"] == angry] == angry).mean()), 3),
        "train_windows": len(train_meta), "long_file_windows": long_windows,
        "long_file_share_of_angry_windows": round(long_windows / int(in_class.sum()), 3),
        "long_file_share_of_angry_loss_weight": round(float(weights[is_long].sum() / weights[in_class].sum()), 3),
        "best_epoch": result.best_epoch, "seconds": round(time.perf_counter() - started, 1),
    }


def summary(rows: list[dict]) -> dict:
    """Mean of each figure per class weighting and variant."""
    keys = ("val_kappa", "test_kappa", "test_predicted_angry", "test_true_angry", "test_angry_recall",
            "long_file_share_of_angry_windows", "long_file_share_of_angry_loss_weight")
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(f"{row['class_weighting']}/{row['variant']}", []).append(row)
    return {name: {key: round(float(np.mean([r[key] for r in group])), 3) for key in keys}
            for name, group in groups.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=3, help="seeds where speaker 16 trains (default: 3)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "mser-bench-long-files")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("long_files.json"))
    args = parser.parse_args()
    demo = write_demo_corpus(args.work / "demo", seed=0, scale="small").root
    roots = {"clean": args.work / "clean", "long": args.work / "long"}
    for root in roots.values():
        if not root.exists():
            shutil.copytree(demo / "EmoDB", root / "EmoDB")
    long_path = long_file(roots["long"], args.minutes)
    cache = args.work / "cache"
    datasets = {name: load_dataset(root, cache_dir=cache) for name, root in roots.items()}
    long_row = datasets["long"].utterances.set_index("path").loc[long_path]
    seeds = [s for s in range(50) if f"emodb-{SPEAKER}" in make_split(
        datasets["clean"], TrainConfig(model="cnn_features", language="de", seed=s)).train][:args.seeds]
    rows = []
    for weighting in WEIGHTINGS:
        for seed in seeds:
            for variant in VARIANTS:
                long_id = None if variant == "clean" else long_row["utterance"]
                rows.append(run(datasets["clean" if variant == "clean" else "long"], variant, weighting, seed,
                                args.epochs, long_id))
                print(json.dumps(rows[-1]), flush=True)
    report = {
        "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "model": "cnn_features", "language": "de",
        "demo_scale": "small", "epochs": args.epochs, "seeds": seeds, "cap": MAX_UTTERANCE_WINDOWS,
        "long_file": {"path": long_path, "speaker": f"emodb-{SPEAKER}", "emotion": EMOTION,
                      "seconds": float(long_row["duration"]), "windows": int(long_row["windows"])},
        "median_seconds": float(datasets["clean"].utterances["duration"].median()),
        "summary": summary(rows), "runs": rows,
    }
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["summary"], indent=2))


if __name__ == "__main__":
    main()
