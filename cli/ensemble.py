"""``mser-ensemble``: one model from an experiment's best trials of a language, chosen on validation speakers.

    mser-ensemble --language de [--experiment E] [--top N] [--rounds N] [--method best|selection|stacking]
                  [--folds K] [--json] [data options]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from cli.common import (
    add_data_options,
    add_tracking_options,
    at_least,
    browse_hint,
    check_emotions,
    note,
    prepare,
    progress_bar,
    run,
    stdout_for_results,
    study_language,
)
from mser.ensemble import DEFAULT_ROUNDS, DEFAULT_STACK_FOLDS, DEFAULT_TOP
from mser.errors import MserError
from tracking.store import ensure_store, resolve_tracking_uri

PROG = "mser-ensemble"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Build an ensemble of the best trials of every space searched on a language (the latest study "
                    "of each, same data), combined by ensemble selection (a weighted average) or by stacking (a "
                    "meta-learner fitted on out-of-fold predictions of the training speakers), whichever scores "
                    "higher on the validation speakers the trials were judged on, then scored once on the test "
                    "speakers beside the best "
                    "trial alone (paired test), and recorded as a run whose model mser-predict and mlflow models "
                    "serve use as any other. Give the same data options as the searches.")
    parser.add_argument("--language", required=True, type=study_language, metavar="LANGUAGE",
                        help="the studies' language: a code (it), all, or all-but-<code>")
    parser.add_argument("--top", type=at_least(1), default=DEFAULT_TOP, metavar="N",
                        help=f"best trials of each study offered to the selection (default: {DEFAULT_TOP})")
    parser.add_argument("--rounds", type=at_least(1), default=DEFAULT_ROUNDS, metavar="N",
                        help=f"rounds of ensemble selection (default: {DEFAULT_ROUNDS})")
    parser.add_argument("--method", choices=("best", "selection", "stacking"), default="best",
                        help="how to combine: ensemble selection, stacking, or the one with the higher validation "
                             "kappa (default: best)")
    parser.add_argument("--folds", type=at_least(2), default=DEFAULT_STACK_FOLDS, metavar="K",
                        help="stacking: speaker folds of the training speakers for the out-of-fold predictions, each "
                             f"candidate trained K times (default: {DEFAULT_STACK_FOLDS}, fewer if fewer speakers)")
    parser.add_argument("--json", action="store_true", help="print what was built as JSON")
    add_tracking_options(parser)
    add_data_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    check_emotions(args)
    uri = resolve_tracking_uri(args.tracking_uri)
    client = ensure_store(uri, create=False)
    found = client.get_experiment_by_name(args.experiment)
    if found is None:
        raise MserError(f"no experiment {args.experiment!r} in {uri}: search first (mser-search --experiment "
                        f"{args.experiment}), or name the experiment with --experiment")
    from mser.functionals import INPUT_SETS
    from mser.models import MODELS
    from tracking.ensemble import build_ensemble
    from tracking.query import latest_studies

    studied = latest_studies(client, found.experiment_id)
    languages = sorted({language for _, language in studied})
    if args.language not in languages:
        raise MserError(f"no finished study of language {args.language!r} in experiment {args.experiment!r} "
                        f"(studied: {', '.join(languages) or 'none'}): choose one of those, or search it first")
    spaces = {space for space, language in studied if language == args.language}
    functionals = list(INPUT_SETS) if any(MODELS[s].uses_functionals for s in spaces if s in MODELS) else []
    dataset = prepare(args, functionals)
    with stdout_for_results() as out, progress_bar("stacking: out-of-fold models", "models") as progress:
        result = build_ensemble(client, found.experiment_id, args.language, dataset, top=args.top, rounds=args.rounds,
                                method=args.method, folds=args.folds, progress=progress, cache_dir=args.cache_dir,
                                command=" ".join([PROG, *(argv if argv is not None else sys.argv[1:])]))
        if args.json:
            json.dump(result.as_dict(), out, indent=2)
            print(file=out)
        else:
            print(describe(result), file=out)
    for line in result.left_out:
        note(f"{PROG}: left out {line}")
    note(f"use it: mser-predict FILE... --model runs:/{result.run_id}/model; {browse_hint(args)}")
    return 0


def describe(result) -> str:
    """The ensemble in a few lines: members and weights, both kappas, and the comparison. Every
    validation kappa here is on the same validation speakers (for a space searched with speaker
    folds, not the study's objective, which is the mean over its folds)."""
    from mser.metrics import TEST_KAPPA, VAL_KAPPA

    single = result.best_single
    lines = [f"ensemble of {len(result.members)} by {result.method} on {result.language} (run {result.run_id}): kappa "
             f"{result.val_kappa:.3f} on the validation speakers, {result.test_kappa:.3f} on the test speakers"]
    if len(result.validation_by_method) > 1:
        fitted = ("both fitted on out-of-fold predictions of the training speakers" if
                  result.selection_fitted_on == "out-of-fold" else "selection fitted on them, stacking not")
        lines.append(f"  chosen on validation ({fitted}): " + ", ".join(
            f"{name} {kappa:.3f}" for name, kappa in result.validation_by_method.items()))
    lines += [f"  weight {m['weight']:.2f}  {m['run_name']} ({m['space']}, validation {m[VAL_KAPPA]:.3f})"
              for m in result.members]
    if len(result.members) == 1 and result.method == "selection":
        where = "validation speakers" if result.selection_fitted_on == "validation" else "out-of-fold predictions"
        lines.append(f"  (no mix of candidates did better on the {where} than one alone)")
    lines.append(f"best candidate alone on validation: {single['run_name']} ({single['space']}): validation "
                 f"{single[VAL_KAPPA]:.3f}, test {single[TEST_KAPPA]:.3f}")
    lines.append(f"ensemble vs that candidate, on the same test utterances: {result.comparison.verdict()}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

