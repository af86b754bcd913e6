"""Where does one search trial spend its time? cProfile of a trial's training, on the demo corpus.

    python bench/profile_trial.py [--space sae_cnn] [--language all] [--top 25] [--encoder cached|trained]

Trains the paper's configuration of a space as a search trial does (search defaults:
10 autoencoder epochs, 30 classifier epochs, patience 8; one TensorFlow thread) under
cProfile, and prints the seconds of each stage and the functions with the most
cumulative time. ``--encoder cached`` first trains the encoder into a cache, then
profiles a trial that loads it, as most trials of a search do. Not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", default="sae_cnn")
    parser.add_argument("--language", default="all")
    parser.add_argument("--scale", default="small", choices=("tiny", "small", "full"))
    parser.add_argument("--encoder", default="cached", choices=("cached", "trained"),
                        help="profile a trial that loads its encoder from the cache, or one that trains it")
    parser.add_argument("--top", type=int, default=25, help="functions listed (default: 25)")
    parser.add_argument("--out", type=Path, help="also save the raw profile here (for snakeviz and the like)")
    args = parser.parse_args()

    from mser.models._keras import set_threads

    set_threads(1)
    from mser.dataset import load_dataset
    from mser.demo import write_demo_corpus
    from mser.encoders import EncoderCache
    from mser.train import TrainConfig, train
    from search.spaces import PAPER_POINTS

    work = Path(tempfile.mkdtemp(prefix="mser-profile-"))
    write_demo_corpus(work / "demo", scale=args.scale)
    dataset = load_dataset(work / "demo", cache_dir=work / "cache")
    point = PAPER_POINTS[args.space]
    config = TrainConfig(model=args.space, language=args.language, sae=dict(point.get("sae", {})),
                         classifier=dict(point.get("classifier", {})), sae_epochs=10, epochs=30, patience=8,
                         **dict(point.get("training", {})))
    cache = EncoderCache(work / "cache") if args.encoder == "cached" else None
    if cache is not None:
        train(dataset, config, encoder_cache=cache, score_test=False)  # fills the cache (and warms up TF)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    result = train(dataset, config, encoder_cache=cache, score_test=False)
    profiler.disable()
    total = time.perf_counter() - started
    epochs = len(result.history.get("val_kappa", []))
    print(f"{args.space} on {args.language}, encoder {args.encoder}: {total:.1f} s in all; autoencoder stage "
          f"{result.seconds['sae']:.1f} s, classifier {result.seconds['classifier']:.1f} s for {epochs} epochs "
          f"({result.seconds['classifier'] / max(epochs, 1):.2f} s/epoch)")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(args.top)
    print(text.getvalue())
    if args.out:
        profiler.dump_stats(args.out)


if __name__ == "__main__":
    main()
