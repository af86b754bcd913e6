"""``mser-predict``: classify wav files with a registered model (the champion by default).

    mser-predict FILE_OR_DIR... [--model models:/NAME@champion] [--speaker NAME | --speaker-per-folder] [--json]

Files of any rate and channel count; folders are walked for ``.wav`` files. A model on
openSMILE functionals with per-speaker normalisation reads who is speaking from
``--speaker`` (all files are one speaker) or ``--speaker-per-folder``; without either,
each file is standardised with the training speakers' statistics. A file that
cannot be classified gets one line on stderr saying why, and the others go on; the exit
status is then 1. The model is resolved to one version before loading, so the version
printed is the version used.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from cli.common import add_tracking_options, note, progress_bar, run
from tracking.registry import CHAMPION, load, resolve_model
from tracking.store import ensure_store, resolve_tracking_uri

if TYPE_CHECKING:  # MLflow and pandas load after the arguments are parsed
    import pandas as pd

PROG = "mser-predict"
#: Files per call of the model: large enough to amortise, small enough for a lively progress bar.
BATCH = 16


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Classify the emotion of wav files (any rate and channel count) with a registered model and "
                    "print the emotion, the probability of each emotion and the model version used.")
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE_OR_DIR",
                        help="wav files, or folders to walk for .wav files")
    parser.add_argument("--model", metavar="URI",
                        help=f"models:/NAME@ALIAS, models:/NAME/VERSION or runs:/RUN_ID/model (default: the "
                             f"{CHAMPION} of the only registered model that has one)")
    speakers = parser.add_mutually_exclusive_group()
    speakers.add_argument("--speaker", metavar="NAME",
                          help="all the files are recordings of one speaker: a model with per-speaker normalisation "
                               "(smile_*) standardises them with their own statistics (best with a dozen or more)")
    speakers.add_argument("--speaker-per-folder", action="store_true",
                          help="the files of each folder are one speaker (as --speaker, per folder)")
    parser.add_argument("--json", action="store_true", help="print the model and one record per file as JSON")
    add_tracking_options(parser, experiment=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    import mlflow
    import pandas as pd
    from mlflow.tracking import MlflowClient

    uri = resolve_tracking_uri(args.tracking_uri)
    # A model in a folder needs no store; the registry and runs:/ URIs do.
    needs_store = args.model is None or args.model.startswith(("models:/", "runs:/"))
    client = ensure_store(uri, create=False) if needs_store else MlflowClient(uri)
    mlflow.set_tracking_uri(uri)
    files, missing = collect(args.paths)
    resolved = resolve_model(client, args.model)
    note(f"loading {resolved.label}")
    model = load(resolved)
    records = [{"path": str(path), "emotion": None, "probabilities": None, "windows": 0, "error": reason}
               for path, reason in missing]
    speakers = _speakers(files, args)
    # A speaker's files go in one call, so that they are normalised together.
    batch_size = (len(files) or 1) if speakers is not None else BATCH
    with progress_bar("classifying", "files") as progress:
        for start in range(0, len(files), batch_size):
            batch = files[start:start + batch_size]
            table = {"path": [str(p.resolve()) for p in batch]}
            if speakers is not None:
                table["speaker"] = speakers[start:start + batch_size]
            records.extend(_predict(model, pd.DataFrame(table), batch))
            progress(start + len(batch), len(files))
    failed = [r for r in records if r["error"]]
    for record in failed:
        note(f"{PROG}: {record['path']}: {record['error']}")
    model_info = {"uri": resolved.uri, "name": resolved.name, "version": resolved.version,
                  "alias": resolved.alias, "run_id": resolved.run_id}
    if args.json:
        json.dump({"model": model_info, "predictions": records}, sys.stdout, indent=2)
        print()
    else:
        print(f"model: {resolved.label}" + (f", run {resolved.run_id}" if resolved.run_id else ""))
        print(prediction_table(records))
    note(f"{len(records) - len(failed)} of {len(records)} files classified")
    return 1 if failed else 0


def _predict(model, table: pd.DataFrame, batch: list[Path]) -> list[dict]:
    """The records of one batch. The model answers each row on its own (a bad file gets its
    reason); should a batch fail anyway, its files are tried one by one, so a file that breaks
    the model costs only its own answer."""
    try:
        output = model.predict(table)
    except Exception as error:  # noqa: BLE001 - isolated file by file; a lone file's failure is its answer
        if len(batch) > 1:
            return [record for i in range(len(batch)) for record in _predict(model, table.iloc[[i]], batch[i:i + 1])]
        return [{"path": str(batch[0]), "emotion": None, "probabilities": None, "windows": 0,
                 "error": f"the model could not classify it ({type(error).__name__}: {error})"}]
    return [_record(path, row) for path, row in zip(batch, output.to_dict("records"))]


def _speakers(files: list[Path], args: argparse.Namespace) -> list[str] | None:
    if args.speaker:
        return [args.speaker] * len(files)
    if args.speaker_per_folder:
        return [str(path.resolve().parent) for path in files]
    return None


def collect(paths: Sequence[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """The wav files named or found under folders (sorted, each once), and the paths that
    name nothing usable, with the reason."""
    from mser.discovery import walk_files

    files: dict[Path, None] = {}
    missing = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in walk_files(path) if p.suffix.lower() == ".wav" and p.is_file())
            if not found:
                missing.append((path, "no .wav files in this folder"))
            files.update(dict.fromkeys(found))
        elif path.exists():
            files[path] = None
        else:
            missing.append((path, "no such file or folder"))
    return list(files), missing


def _record(path: Path, row: dict) -> dict:
    from mser.metrics import probability_column

    if row["error"]:
        return {"path": str(path), "emotion": None, "probabilities": None, "windows": 0, "error": row["error"]}
    return {"path": str(path), "emotion": row["emotion"],
            "probabilities": {c[len(probability_column("")):]: float(v) for c, v in row.items()
                              if c.startswith(probability_column(""))},
            "windows": int(row["windows"]), "error": None}


def prediction_table(records: list[dict]) -> str:
    """One line per classified file: its emotion and the probability of each emotion."""
    rows = [{"file": r["path"], "emotion": r["emotion"], **r["probabilities"], "windows": r["windows"]}
            for r in records if not r["error"]]
    if not rows:
        return "(no file classified)"
    import pandas as pd

    return pd.DataFrame(rows).to_string(index=False, float_format=lambda x: "" if math.isnan(x) else f"{x:.2f}")


if __name__ == "__main__":
    sys.exit(main())
