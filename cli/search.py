"""``mser-search``: Ray Tune with Optuna over one model's space, per language or jointly.

    mser-search --space sae_cnn --trials 200 [--language de|all|each] [--resume] [--json]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import socket
import sys
from dataclasses import replace
from typing import TYPE_CHECKING, Sequence

from cli.common import (
    LANGUAGE_HELP,
    add_data_options,
    add_tracking_options,
    at_least,
    browse_hint,
    check_emotions,
    check_language_data,
    note,
    prepare,
    require_functionals,
    run,
    stdout_for_results,
    study_language,
    terminate_as_interrupt,
)
from mser.cache import default_cache_dir
from mser.corpora import study_languages
from mser.errors import MserError
from mser.models import MODELS
from mser.splits import LOSO
from search.options import GROUPED_FOLDS, LOSO_MAX_SPEAKERS, SCHEDULERS, StudyOptions, add_option, state_folder
from tracking.store import check_store, ensure_store, experiment_id, resolve_tracking_uri
from tracking.watch import bound_http_retries

if TYPE_CHECKING:  # Ray, TensorFlow and the data libraries load after the arguments are parsed
    from mser.dataset import Dataset
    from search.study import StudyResult

PROG = "mser-search"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Search a model's hyperparameters with Ray Tune (Optuna TPE, ASHA), optimising Cohen's "
                    "kappa on validation speakers; every trial is an MLflow run under one parent run per study.")
    add_option(parser, "space", choices=list(MODELS), default="sae_cnn",  # a space per model (search.spaces)
               help="which model's space to search: the paper's models (sae_*, cnn_features, dnn_features) "
                    "or openSMILE functionals with an SVM, logistic regression or MLP (smile_*; needs the "
                    "opensmile extra), or an utterance's statistics of the autoencoder's code, alone or joined "
                    "to functionals (sae_stats_*; needs it too) (default: %(default)s)")
    add_option(parser, "trials", type=at_least(1), default=200, metavar="N",
               help="trials per study (default: %(default)s)")
    add_option(parser, "language", type=_language, default="all", metavar="LANGUAGE",
               help=f"{LANGUAGE_HELP}, or each: one study per language found plus the joint one, then each "
                    "language's best model scored on the other languages (the transfer matrix) "
                    "(default: %(default)s)")
    parser.add_argument("--held-out", action="store_true",
                        help="with --language each: also the held-out-language studies (all-but-it, ...)")
    add_option(parser, "epochs", type=at_least(1), metavar="N",
               help="classifier epochs at most; ASHA stops weak trials earlier (default: %(default)s)")
    add_option(parser, "sae_epochs", type=at_least(1), metavar="N",
               help="autoencoder epochs at most (default: %(default)s; trained encoders are cached)")
    add_option(parser, "grace_period", type=at_least(1), metavar="N",
               help="epochs every trial gets before ASHA may stop it (default: %(default)s)")
    add_option(parser, "patience", type=at_least(1), metavar="N",
               help="epochs without a better validation kappa before a trial stops itself (default: %(default)s)")
    add_option(parser, "scheduler", choices=SCHEDULERS,
               help="asha stops weak trials early; fifo runs every trial to its end (default: %(default)s)")
    add_option(parser, "encoder_rungs", action="store_false",
               help="ASHA judges trials on classifier epochs only; by default a trial that trains an "
                    "autoencoder is also judged during it, on a linear probe of its code, and a weak "
                    "encoder stops early")
    add_option(parser, "encoder_cache", action="store_false",
               help="train every trial's autoencoder anew instead of reusing one trained before for the "
                    "same data and settings (slower, same results; for benchmarks)")
    add_option(parser, "folds", type=_folds, default=None, metavar="K|speakers|0",
               help="objective = mean validation kappa over K speaker folds of the training speakers, with "
                    f"'{LOSO}' one fold per training speaker (leave-one-speaker-out), with 0 one validation "
                    f"split (default: for the smile_* spaces, whose trials cost seconds, '{LOSO}' up to "
                    f"{LOSO_MAX_SPEAKERS} training speakers and {GROUPED_FOLDS} folds beyond; one validation "
                    "split for the others)")
    add_option(parser, "refit", action="store_false",
               help="keep the chosen trial as the study's result; by default it is trained again on every "
                    "training speaker (validation speakers included) for the epochs the choice found, and "
                    "that refit is what is tested, reported, promoted and served")
    add_option(parser, "repeats", type=at_least(0), metavar="N",
               help="after the search, train the chosen configuration again with N other seeds (same "
                    "speakers) and report the mean and spread of its validation and test kappa (default: %(default)s)")
    add_option(parser, "top", type=at_least(1), metavar="N",
               help="best trials (by validation kappa) whose test kappa is measured (default: %(default)s)")
    add_option(parser, "seed", type=int, metavar="N", help="seed of the sampler and training (default: %(default)s)")
    add_option(parser, "max_concurrent", type=at_least(1), default=None, metavar="N",
               help="trials at once (default: one per CPU of the Ray cluster)")
    add_option(parser, "cpus_per_trial", type=float, metavar="N",
               help="CPUs a trial reserves; TensorFlow uses as many threads (default: %(default)s)")
    parser.add_argument("--address", metavar="HOST:PORT",
                        help="join an existing Ray cluster (or 'auto'); default: start one on this machine")
    parser.add_argument("--resume", action="store_true", help="continue the last interrupted search of this space")
    add_option(parser, "system_metrics", type=at_least(0, float), metavar="SECONDS",
               help="log the machine's CPU, memory, disk and network on each trial's run every SECONDS "
                    "(MLflow's system metrics; 0: none; default: %(default)s)")
    add_option(parser, "warm_start", metavar="EXPERIMENT",
               help="start the sampler from the finished trials of the latest search of the same space, "
                    "language and data in EXPERIMENT (same store)")
    add_option(parser, "fixed", action="append", default=None, metavar="PARAM=VALUE",
               help="hold one parameter of the space at a value and search the others (repeat for more; PARAM "
                    "as the runs in MLflow name it), e.g. the field's recipe with its classifier searched: "
                    "--fix functionals.feature_set=ComParE_2016 --fix functionals.normalisation=speaker "
                    "--fix functionals.select=0")
    parser.add_argument("--json", action="store_true", help="print the studies' results as JSON")
    add_tracking_options(parser)
    add_data_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _folds(text: str) -> int | str:
    if text == LOSO:
        return LOSO
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of folds or '{LOSO}', got {text!r}") from None


def _language(text: str) -> str:
    return text if text == "each" else study_language(text)


def _check(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.held_out and args.language != "each":
        parser.error("--held-out goes with --language each; for one held-out-language study use --language "
                     "all-but-it (or another all-but-...)")
    if args.folds not in (None, LOSO) and (args.folds == 1 or args.folds < 0):
        parser.error(f"--folds needs at least 2 folds (or 0 for one validation split), got {args.folds}")
    if args.cpus_per_trial <= 0:
        parser.error(f"--cpus-per-trial must be positive, got {args.cpus_per_trial}")
    if args.scheduler == "asha" and args.folds in (None, 0) and args.grace_period >= args.epochs:
        note(f"--grace-period {args.grace_period} is not below --max-epochs {args.epochs}: ASHA could stop no trial "
             "before its end, so every trial runs to its end (--scheduler fifo)")
        args.scheduler = "fifo"


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _check(parser, args)
    # Everything that can be checked is checked once, up front, before Ray starts or a run is written,
    # the cheap checks before TensorFlow and Ray are even imported.
    check_emotions(args)
    uri = resolve_tracking_uri(args.tracking_uri)
    address = args.address or os.environ.get("RAY_ADDRESS")
    if address:
        check_cluster_store(uri, args.experiment)
        check_cluster_address(address)
    else:
        check_store(uri)  # created by the first study, once the data is ready
    from search.spaces import feature_sets, parse_fixed
    from search.study import resumable_state
    from search.trial import default_folds, fold_count

    try:
        args.fixed = parse_fixed(args.space, args.fixed or ())
    except ValueError as error:
        parser.error(str(error))
    require_functionals(feature_sets(args.space, args.fixed))
    dataset = prepare(args, feature_sets(args.space, args.fixed))
    languages = (study_languages(dataset.languages, held_out=args.held_out) if args.language == "each"
                 else (args.language,))
    for language in languages:
        check_language_data(dataset, args.space, language)
    studies = [_study_options(args, argv, language, uri, address) for language in languages]
    studies = [o if args.folds is not None else replace(o, folds=default_folds(dataset, o)) for o in studies]
    for options in studies:
        fold_count(dataset, options)  # enough training speakers for --folds
    if args.resume:
        for options in studies:
            resumable_state(dataset, options)
    elif args.warm_start:
        from search.study import warm_start
        from tracking.store import ensure_store

        client = ensure_store(uri)
        for options in studies:
            warm_start(client, dataset, options)  # refused now, before Ray starts, if it cannot be used
    if not args.resume:
        for line in superseded(uri, args.experiment, studies):
            note(line)
    # Ray and MLflow print on stdout at times (a dead worker, a run's address): keep it for results.
    with stdout_for_results() as out:
        cpus = _start_ray(address)
        concurrent = args.max_concurrent or max(1, int(cpus // args.cpus_per_trial))
        results = _run_studies(args, [replace(o, max_concurrent=concurrent) for o in studies], dataset, out)
        _transfer(uri, args.experiment, args.space, dataset)
        _report(uri, args.experiment)
    note(browse_hint(args))
    from search.sampler import storage_url

    note(f"the sampler's studies: optuna-dashboard {shlex.quote(storage_url(uri, studies[0].state_dir))}")
    failed = [f"{r.space} on {r.language}" for r in results if not r.trials["finished"]]
    if failed:
        note(f"{PROG}: error: no trial of {', '.join(failed)} finished: every one failed or was stopped (their "
             "errors are above, and on the runs in MLflow); fix the cause and search again")
        return 1
    return 0


def check_cluster_address(address: str, *, timeout: float = 5.0) -> None:
    """A gRPC server, as Ray's head is, answers at the cluster's ``HOST:PORT`` within ``timeout``
    seconds (``auto`` is left to Ray). Ray itself retries for minutes at an address where
    something else listens (the MLflow server's port, a database), so that is refused here.

    Raises:
        MserError: The address is malformed, nothing answers there, or what answers is not
            a gRPC server, with the fix.
    """
    if address == "auto" or address.startswith("ray://"):
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise MserError(f"--address {address!r} is not HOST:PORT (e.g. 10.0.0.5:6379, the head's address that "
                        "'ray start --head' printed), or 'auto'")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            pass
    except OSError as error:
        raise MserError(f"nothing answers at the Ray cluster address {address} ({error.strerror or error}): start "
                        "the head there with 'ray start --head', or leave out --address to run on this "
                        "machine") from None
    if os.environ.get("RAY_USE_TLS", "0") not in ("", "0"):
        return  # a TLS head answers only a client with its certificates: left to Ray
    import grpc  # Ray's own transport: its head speaks gRPC (HTTP/2)

    channel = grpc.insecure_channel(address)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise MserError(f"something answers at {address}, but not as a Ray cluster's head does (no gRPC within "
                        f"{timeout:g} s; another server's port, e.g. the tracking server's?): pass the address "
                        "'ray start --head' printed (port 6379 by default)") from None
    finally:
        channel.close()


def _study_options(args, argv, language: str, uri: str, address: str | None) -> StudyOptions:
    """The options of the study of ``language`` (the concurrency is set once Ray has started)."""
    return StudyOptions.from_args(
        args, language=language, tracking_uri=uri, max_concurrent=1, folds=args.folds or 0,
        state_dir=state_folder(args.cache_dir or default_cache_dir(), uri, args.experiment),
        # On a cluster each machine keeps encoders in its own default cache folder.
        cache_dir=str(args.cache_dir) if args.cache_dir and not address else None,
        command=" ".join([PROG, *(argv if argv is not None else sys.argv[1:])]))


def superseded(uri: str, experiment: str, studies: Sequence[StudyOptions]) -> list[str]:
    """A line for each study this search will hide from the report, ``mser-promote`` and
    ``mser-ensemble`` (they read the latest study of each space and language) although it held
    other values (``--fix``): an experiment's earlier search of the same space and language,
    which a user comparing the two wants kept apart. Nothing when the store or experiment is new."""
    from tracking.query import held_values, latest_studies

    try:
        client = ensure_store(uri, create=False)
    except MserError:
        return []
    found = client.get_experiment_by_name(experiment)
    latest = latest_studies(client, found.experiment_id) if found is not None else {}
    lines = []
    for options in studies:
        earlier = latest.get((options.space, options.language))
        held = held_values(earlier) if earlier is not None else dict(options.fixed)
        if held != dict(options.fixed):
            what = f"held {_held(held)}" if held else "searched the whole space"
            lines.append(f"{PROG}: experiment {experiment!r} has a study of {options.space} on {options.language} "
                         f"that {what}; this one will replace it in the report, mser-promote and mser-ensemble (they "
                         "read the latest study of each space and language; both stay in the store): to see both in "
                         "a report, give this search its own --experiment")
    return lines


def _held(values) -> str:
    """Held parameters as a study's lines show them: ``augment.speed=False, augment.noise_snr=0.0``."""
    return ", ".join(f"{k}={v}" for k, v in values.items())


def study_header(options: StudyOptions) -> str:
    """The line a study starts with: what it searches, how, what it holds (``--fix``) and where it logs."""
    spec = MODELS[options.space]
    parts = [f"{options.trials} trials", f"{options.max_concurrent} at once"]
    if spec.keras:  # only a Keras classifier and the autoencoder train by epochs
        parts.append(f"up to {options.epochs} epochs" + (f" (autoencoder {options.sae_epochs})" if spec.uses_code
                                                         else ""))
    elif spec.uses_code:
        parts.append(f"autoencoder up to {options.sae_epochs} epochs")
    if options.folds:
        parts.append("each on one fold per training speaker" if options.folds == LOSO
                     else f"each on {options.folds} speaker folds")
    if options.fixed:
        parts.append(f"holding {_held(options.fixed)}")
    return f"{options.space} on {options.language}: {', '.join(parts)}, tracking at {options.tracking_uri}"


def _run_studies(args, studies: list[StudyOptions], dataset, out) -> list[StudyResult]:
    """Each language's study in turn; the results to ``out`` as tables or JSON."""
    from search.study import run_study

    results = []
    for options in studies:
        note(study_header(options))
        results.append(run_study(dataset, options, resume=args.resume))
    if args.json:
        json.dump([_as_json(r) for r in results], out, indent=2)
        print(file=out)
    else:
        for result in results:
            print(result_table(result), file=out)
    return results


def _transfer(uri: str, experiment: str, space: str, dataset: Dataset) -> None:
    """Each language's best model on the other languages' test speakers (the report's transfer
    matrix); a failure here loses no result."""
    try:
        from search.transfer import score_transfer

        client = ensure_store(uri)
        rows = score_transfer(client, experiment_id(client, experiment), space, dataset)
    except Exception as error:  # noqa: BLE001 - the search is done and recorded; say what failed and go on
        note(f"{PROG}: the transfer scores could not be computed ({error}); the report shows what is logged")
        return
    for row in rows:
        note(f"transfer: {row['space']} trained on {row['train']}, tested on {row['test']}'s test speakers: "
             f"kappa {row['kappa']:.3f} ({row['utterances']} utterances)")


def _report(uri: str, experiment: str) -> None:
    """The experiment's study report, rebuilt with these studies in it; a failure here loses no result."""
    try:
        from report.build import report_folder, write_report

        path = write_report(ensure_store(uri), experiment, report_folder(experiment))
    except Exception as error:  # noqa: BLE001 - the search is done and recorded; say what failed and go on
        note(f"{PROG}: the study report could not be built ({error}); build it with: mser-report "
             f"--experiment {experiment}")
        return
    note(f"study report: {path.resolve()} (also logged to the parent run)")


def check_cluster_store(uri: str, experiment: str) -> None:
    """On a Ray cluster, every machine must reach the store and the experiment's artifacts.

    Raises:
        MserError: The store is a file on this machine, or the experiment keeps its
            artifacts in a local folder, with the fix.
    """
    if not uri.startswith(("http://", "https://")):
        raise MserError(f"on a Ray cluster the trials run on other machines, which cannot reach the tracking store "
                        f"{uri} on this one: start a tracking server on the head with 'mser-server' and pass "
                        "--tracking-uri http://HEAD_IP:5000")
    found = ensure_store(uri).get_experiment_by_name(experiment)
    if found is not None and found.artifact_location.startswith("file:"):
        raise MserError(f"experiment {experiment!r} keeps its artifacts in a folder of one machine "
                        f"({found.artifact_location}), which the cluster's other machines cannot write to: "
                        "name a new experiment with --experiment for searches on the cluster")


def _start_ray(address: str | None) -> float:
    import optuna
    import ray

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        ray.init(address=address, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False,
                 ignore_reinit_error=True,
                 runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore",
                                           **bound_http_retries()}})
    except (ConnectionError, RuntimeError) as error:
        hint = ("; the cluster may use token authentication: set RAY_AUTH_MODE=token, with the head's "
                "~/.ray/auth_token on this machine" if address and os.environ.get("RAY_AUTH_MODE") != "token" else "")
        raise MserError(f"cannot join the Ray cluster at {address}: {str(error).splitlines()[0]}{hint}. Start it "
                        "with 'ray start --head' or leave out --address to run on this machine") from None
    terminate_as_interrupt()  # ray.init's own handler exits the driver mid-search
    return float(ray.cluster_resources().get("CPU", 1))


def _as_json(result: StudyResult) -> dict:
    return {"space": result.space, "language": result.language, "parent_run_id": result.parent_run_id,
            "trials": result.trials, "best": result.best, "refit": result.refit, "repeats": result.repeats,
            "seconds": round(result.seconds, 1)}


def result_table(result: StudyResult) -> str:
    """The best trials of a study with their validation and test kappa and MLflow run ids."""
    import pandas as pd

    from mser.metrics import TEST_KAPPA, VAL_KAPPA

    counts = result.trials
    head = (f"{result.space} on {result.language}: {counts['runs']} trials in {result.seconds / 60:.1f} min "
            f"({counts['finished']} finished, {counts['pruned']} pruned by ASHA, {counts['failed']} failed"
            + (f", {counts['retried']} run again after their worker failed" if counts.get("retried") else "") + "); "
            f"parent run {result.parent_run_id}")
    if not result.best:
        return head + "\n  no trial finished"
    table = pd.DataFrame([{"rank": i + 1, VAL_KAPPA: round(b[VAL_KAPPA], 3), TEST_KAPPA: round(b[TEST_KAPPA], 3),
                           "run": b["run_name"], "run_id": b["run_id"]} for i, b in enumerate(result.best)])
    text = f"{head}\n{table.to_string(index=False)}\n(ranked by validation kappa; test kappa measured for these only)"
    refit = result.refit
    if refit:
        epochs = f", {refit['epochs']} epochs" if MODELS[result.space].keras else ""
        text += (f"\nthe study's result: rank 1 trained again on every training speaker (validation ones included"
                 f"{epochs}): test kappa {refit[TEST_KAPPA]:.3f}, run {refit['run_name']} ({refit['run_id']})")
    repeats = result.repeats
    if repeats:
        val, test = repeats[VAL_KAPPA], repeats[TEST_KAPPA]
        what = "the result" if refit else "rank 1"
        text += (f"\n{what} trained again with {repeats['n']} other seeds ({', '.join(map(str, repeats['seeds']))}), "
                 "same speakers: " + (f"val kappa {val['mean']:.3f} ± {val['sd']:.3f}, " if val else "")
                 + f"test kappa {test['mean']:.3f} ± {test['sd']:.3f} (mean ± sd)")
    return text


if __name__ == "__main__":
    sys.exit(main())
