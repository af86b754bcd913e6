"""``mser-promote`` and ``mser-models``: put the best trial in the registry, and list what is there.

    mser-promote [--experiment E] [--space S] [--language L] [--margin M] [--force] [--json]
    mser-models [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from cli.common import add_tracking_options, at_least, note, run, study_language
from mser.corpora import is_one_language
from mser.errors import MserError
from mser.metrics import TEST_KAPPA, VAL_KAPPA
from mser.models import MODELS
from tracking.registry import (
    CHAMPION,
    DEFAULT_MARGIN,
    ENSEMBLE,
    best_candidates,
    ensembles,
    model_table,
    promote,
    serving_candidate,
)
from tracking.store import ensure_store, resolve_tracking_uri


def build_promote_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mser-promote",
        description="Register the best finished trial (by kappa on validation speakers, never test speakers) as "
                    "a version of mser-<space>-<language> and make it the champion if it beats the current "
                    "champion's validation kappa by more than a margin; otherwise it becomes the challenger. "
                    "Without --space or --language, every space and language found in the experiment.")
    parser.add_argument("--space", choices=[*MODELS, ENSEMBLE],
                        help=f"only this model space, or {ENSEMBLE}: the best mser-ensemble run (default: every one "
                             "found)")
    parser.add_argument("--language", type=study_language, metavar="LANGUAGE",
                        help="only this language: all or all-but-<code> promote those studies' results; a language "
                             "code (it) promotes the model that serves it best, its own study's result or a joint "
                             "study's, chosen on its validation speakers only (default: every study found)")
    parser.add_argument("--margin", type=at_least(0.0, float), default=DEFAULT_MARGIN, metavar="M",
                        help=f"validation kappa a candidate must gain over the champion (default: {DEFAULT_MARGIN})")
    parser.add_argument("--force", action="store_true", help="make the candidate champion whatever the gate says")
    parser.add_argument("--json", action="store_true", help="print what was done as JSON")
    add_tracking_options(parser)
    return parser


def promote_main(argv: Sequence[str] | None = None) -> int:
    return run(_promote, argv, "mser-promote")


def _promote(argv: Sequence[str] | None) -> int:
    args = build_promote_parser().parse_args(argv)
    uri = resolve_tracking_uri(args.tracking_uri)
    client = ensure_store(uri, create=False)
    if args.language and is_one_language(args.language) and args.space != ENSEMBLE:
        candidates = {"": serving_candidate(client, args.experiment, args.language, space=args.space)}
        if args.space is None:  # and the language's ensemble, if one was built
            candidates.update(ensembles(client, args.experiment, args.language))
    else:
        candidates = best_candidates(client, args.experiment, space=args.space, language=args.language)
    promotions, refused = [], 0
    for candidate in candidates.values():
        try:
            promotion = promote(client, candidate, margin=args.margin, force=args.force)
        except MserError as error:  # one unusable model must not stop the others
            note(f"{candidate.name}: {error}")
            refused += 1
            continue
        promotions.append(promotion)
        if not args.json:
            print(_describe(promotion, candidate.run_name))
        for warning in promotion.warnings:
            note(f"{promotion.name}: warning: {warning}")
    if args.json:
        json.dump([p.as_dict() for p in promotions], sys.stdout, indent=2)
        print()
    if promotions:
        note(f"use it: mser-predict FILE... --model models:/{promotions[0].name}@{CHAMPION}")
    return 1 if refused else 0


def _describe(promotion, run_name: str) -> str:
    test = "not measured" if promotion.test_kappa is None else f"{promotion.test_kappa:.3f}"
    what = "registered as version" if promotion.registered else "already registered as version"
    return (f"{promotion.name}: run {run_name} (val kappa {promotion.val_kappa:.3f}, test kappa {test}) "
            f"{what} {promotion.version}, now {promotion.alias}: {promotion.reason}")


def build_models_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mser-models",
        description="List the registered mser-* models: versions, aliases (champion, challenger), the validation "
                    "and test kappa each version carries, and the run it came from.")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    add_tracking_options(parser, experiment=False)
    return parser


def models_main(argv: Sequence[str] | None = None) -> int:
    return run(_models, argv, "mser-models")


def _models(argv: Sequence[str] | None) -> int:
    args = build_models_parser().parse_args(argv)
    uri = resolve_tracking_uri(args.tracking_uri)
    rows = model_table(ensure_store(uri, create=False))
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
    elif not rows:
        note(f"no mser-* model is registered in {uri}: promote one with mser-promote")
    else:
        import pandas as pd

        table = pd.DataFrame(rows).drop(columns=["run_id", "status"] if all(r["status"] == "READY" for r in rows)
                                        else ["run_id"])
        print(table.to_string(index=False, float_format=lambda x: f"{x:.3f}", na_rep="-"))
        note(f"kappas as recorded at registration; {VAL_KAPPA} chose the model, {TEST_KAPPA} is held-out speakers")
    return 0


if __name__ == "__main__":
    sys.exit(promote_main())
