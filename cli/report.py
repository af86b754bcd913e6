"""``mser-report``: the study report of an experiment, as one HTML page.

    mser-report [--experiment E] [--out DIR] [--resamples N] [--no-log]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

from cli.common import add_tracking_options, at_least, note, run
from tracking.store import ensure_store, resolve_tracking_uri

PROG = "mser-report"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build the study report of an experiment: the kappa table beside the paper's Table 4 with "
                    "bootstrap intervals, the joint model per language, the best model against the paper's "
                    "configuration (paired test), confusion matrices, hyperparameter importance, parallel "
                    "coordinates, learning curves, data and speakers. One HTML file that opens with no network, "
                    "logged to each study's parent run.")
    parser.add_argument("--out", type=Path, metavar="DIR",
                        help="folder for report.html and its figures (default: reports/<experiment>)")
    parser.add_argument("--resamples", type=at_least(100), default=2000, metavar="N",
                        help="bootstrap resamples for intervals and the paired test (default: 2000)")
    parser.add_argument("--no-log", action="store_true", help="only write the files, do not log them to MLflow")
    add_tracking_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from report.build import report_folder, write_report

    client = ensure_store(resolve_tracking_uri(args.tracking_uri), create=False)
    path = write_report(client, args.experiment, args.out or report_folder(args.experiment),
                        resamples=args.resamples, log=not args.no_log)
    print(path.resolve())
    note(f"open it in a browser: file://{path.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
