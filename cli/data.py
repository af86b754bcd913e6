"""``mser-data``: write the demo corpus, and see what a data root holds.

    mser-data demo --out DIR [--seed N] [--scale tiny|small|full]
    mser-data inspect [--data-root DIR] [--corpus FILE.csv] [--emotions LIST] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from cli.common import add_data_options, prepare, progress_bar, run
from mser.audio import LONG_FACTOR, LONG_SECONDS, MAX_UTTERANCE_WINDOWS
from mser.errors import DataError
from mser.splits import Split

if TYPE_CHECKING:  # the data libraries load after the arguments are parsed
    import pandas as pd

    from mser.dataset import Dataset

PROG = "mser-data"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description="Prepare and inspect the speech emotion corpora (EMOVO, EmoDB, RAVDESS, and your "
                               "own, described by a CSV index).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo", help="write the synthetic demo corpus in the three corpora's exact layouts",
        description="Write a synthetic EMOVO, EmoDB and RAVDESS in their original layouts, names, "
                    "rates and channels. Deterministic for a seed.")
    demo.add_argument("--out", type=Path, required=True, metavar="DIR",
                      help="folder to write to (new or empty, or an earlier demo copy of the same seed and scale)")
    demo.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    demo.add_argument("--scale", default="small", choices=("tiny", "small", "full"),
                      help="tiny: for tests; small: the default, all protocol speakers, fewer sentences; "
                           "full: the complete corpora's file counts (default: small)")

    inspect = commands.add_parser(
        "inspect", help="table of utterances and windows per corpus, speaker, emotion and split",
        description="Find the corpora under a data root and in corpus indexes, prepare them (cached), and print "
                    "what they hold under the protocol (the paper's split, an index's, or test speakers drawn for "
                    "an index without one), plus every file skipped and why, and every "
                    f"very long file (over {LONG_FACTOR:g}x its corpus's median duration and over "
                    f"{LONG_SECONDS:g} s).")
    add_data_options(inspect)
    inspect.add_argument("--json", action="store_true", help="print the same as JSON, for scripts")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _demo(args)
    return _inspect(args)


def _demo(args: argparse.Namespace) -> int:
    from mser.demo import write_demo_corpus

    try:
        with progress_bar("writing the demo corpus", "files") as progress:
            summary = write_demo_corpus(args.out, seed=args.seed, scale=args.scale, progress=progress)
    except ValueError as error:
        raise DataError(str(error)) from None
    counts = ", ".join(f"{corpus} {n}" for corpus, n in summary.files.items())
    print(f"demo corpus (scale {summary.scale}, seed {summary.seed}) at {summary.root}: {counts} files "
          f"in {summary.seconds:.1f} s")
    print(f"next: {PROG} inspect --data-root {summary.root}")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    dataset = prepare(args, every_emotion=False)  # what is missing is what inspection tells
    if args.json:
        json.dump(_as_json(dataset), sys.stdout, indent=2)
        print()
    else:
        print(_as_text(dataset))
    return 0


def _records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def dataset_split(dataset: Dataset) -> Split:
    """The corpora's own split of every speaker of ``dataset`` (no validation drawn)."""
    table = dataset.speakers_table
    return Split("paper" if set(dataset.corpora["split"]) <= {"paper"} else "corpora",
                 tuple(table.loc[table["split"] == "train", "speaker"]),
                 tuple(table.loc[table["split"] == "test", "speaker"]))


def _as_json(dataset: Dataset) -> dict:
    from mser import tables
    from mser.dataset import long_utterances

    return {
        "root": str(dataset.root),
        "dataset_key": dataset.key,
        "labels": list(dataset.emotions),
        "lacking": tables.missing_emotions(dataset),
        "corpora": _records(tables.by_corpus(dataset)),
        "emotions": _records(tables.by_emotion(dataset)),
        "speakers": _records(tables.by_speaker(dataset)),
        "counts": _records(tables.counts(dataset)),
        "split": dataset_split(dataset).as_dict(),
        "drawn": list(dataset.corpora.loc[dataset.corpora["split"] == "drawn", "corpus"]),
        "excluded": _records(tables.excluded_summary(dataset)),
        "skipped": _records(dataset.skipped),
        "long_files": _records(long_utterances(dataset.utterances)),
    }


def _as_text(dataset: Dataset) -> str:
    from mser import tables
    from mser.dataset import long_utterances

    split = dataset_split(dataset)
    emotions, languages = dataset.meta["emotion"].nunique(), len(dataset.languages)
    parts = [
        f"Data root {dataset.root}: {len(dataset.utterances)} utterances, {len(dataset)} windows of 1 s "
        f"at {dataset.params.target_rate} Hz, {emotions} emotion{'s' * (emotions != 1)}, "
        f"{languages} language{'s' * (languages != 1)} ({', '.join(dataset.languages)}).",
        f"Label set: {', '.join(dataset.emotions)}.",
        "", "Per corpus (speaker-held-out split: paper = the paper's, index = the CSV's split column, "
            "drawn = test speakers drawn, --split-seed):",
        tables.by_corpus(dataset).to_string(index=False),
        "", "Per emotion:", tables.by_emotion(dataset).to_string(index=False),
        "", "Per speaker (utterances per emotion):", tables.by_speaker(dataset).to_string(index=False),
        "", "Split: train " + " ".join(split.train), "       test  " + " ".join(split.test),
    ]
    for title, missing in tables.missing_emotions(dataset).items():
        parts.append(f"{title} has no {', '.join(missing)}: it is used with the emotions it has")
    drawn = dataset.speakers_table[dataset.speakers_table["corpus"].isin(
        dataset.corpora.loc[dataset.corpora["split"] == "drawn", "corpus"])]
    for corpus, part in drawn.groupby("corpus", sort=False):
        parts.append(f"{corpus}: test speakers drawn (about 30%, genders alternating): "
                     + " ".join(part.loc[part["split"] == "test", "speaker"]))
    excluded = tables.excluded_summary(dataset)
    if len(excluded):
        parts += ["", "Left out by the protocol:", excluded.to_string(index=False)]
    parts += ["", f"Skipped files: {len(dataset.skipped)}"]
    parts += [f"  {row.path}: {row.reason}" for row in dataset.skipped.itertuples()]
    long = long_utterances(dataset.utterances)
    parts += ["", f"Very long files (over {LONG_FACTOR:g}x their corpus's median duration and over "
                  f"{LONG_SECONDS:g} s): {len(long)}"]
    titles = dict(zip(dataset.corpora["corpus"], dataset.corpora["title"]))
    parts += [_long_line(row, titles[row.corpus]) for row in long.itertuples()]
    return "\n".join(parts)


def _long_line(row: Any, title: str) -> str:
    kept = min(row.windows, MAX_UTTERANCE_WINDOWS)
    return (f"  {row.path}: {row.duration:.1f} s ({title} median {row.corpus_median:.1f} s), "
            f"{row.windows} windows of {row.speaker} {row.emotion} ({row.split}); training keeps {kept} "
            "evenly spread (TrainConfig.max_windows_per_utterance); split the file if it holds several utterances")


if __name__ == "__main__":
    sys.exit(main())
