"""What every command shares: data options (a data root, corpus indexes, the label set,
the demo default), progress and errors."""

from __future__ import annotations

import argparse
import builtins
import logging
import os
import shlex
import signal
import sys
import threading
import warnings
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence, TextIO

from mser.cache import default_cache_dir
from mser.console import INTERRUPTED_EXIT, TERMINATED_EXIT, note, progress_bar
from mser.corpora import EMOTION_SYNONYMS, EMOTIONS, check_study_language, parse_emotions
from mser.errors import DataError, MserError
from mser.functionals import opensmile_parts, smile
from tracking.store import DEFAULT_EXPERIMENT

if TYPE_CHECKING:  # the data libraries take seconds to import: a command parses its arguments first
    from mser.dataset import Dataset


def _emotions(text: str) -> tuple[str, ...]:
    try:
        return parse_emotions(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def study_language(text: str) -> str:
    """The argparse type of ``--language``: a language code, ``all`` or ``all-but-<code>``."""
    try:
        return check_study_language(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def at_least(minimum: float, kind: Callable[[str], float] = int) -> Callable[[str], float]:
    """An argparse type: a number (``int`` or ``float``) no smaller than ``minimum``; NaN is refused."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number: give {minimum:g} or more") from None
        if not value >= minimum:
            raise argparse.ArgumentTypeError(f"{text} is too small: give {minimum:g} or more")
        return value
    return parse


#: What ``--language`` takes, for help texts.
LANGUAGE_HELP = ("it, de, en or your corpus's language code (e.g. ur), all (every language jointly), or all-but-it "
                 "(all-but-de, ...: trained and chosen on the other languages only, tested on the held-out one)")


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """``--data-root``, ``--corpus``, ``--emotions``, ``--split-seed``, ``--cache-dir``,
    ``--no-cache`` and the demo corpus's seed and scale."""
    group = parser.add_argument_group("data")
    group.add_argument("--data-root", type=Path, metavar="DIR",
                       help="folder holding your EMOVO, EmoDB and/or RAVDESS copies, in any layout "
                            "(default, without --corpus: the built-in demo corpus, generated on first use)")
    group.add_argument("--corpus", type=Path, action="append", default=[], metavar="FILE.csv",
                       help="a corpus of your own, described by a CSV index with the columns file, speaker, "
                            "emotion, language (and optionally gender, split); repeatable, and combinable with "
                            "--data-root")
    group.add_argument("--emotions", type=_emotions, default=EMOTIONS, metavar="LIST",
                       help="the label set, comma-separated; corpora's labels are matched by name and common "
                            f"synonyms (anger/angry, joy/happy...) (default: the paper's six, {','.join(EMOTIONS)})")
    group.add_argument("--split-seed", type=int, default=0, metavar="N",
                       help="seed of the test speakers drawn for a --corpus index without a split column "
                            "(default: 0)")
    group.add_argument("--cache-dir", type=Path, metavar="DIR",
                       help="where prepared datasets and the demo corpus are kept "
                            "(default: $MSER_CACHE_DIR or ~/.cache/mser-search)")
    group.add_argument("--no-cache", action="store_true",
                       help="prepare the data from the audio again and store nothing")
    group.add_argument("--demo-scale", default="small", choices=("tiny", "small", "full"),
                       help="size of the demo corpus used without --data-root (default: small)")
    group.add_argument("--demo-seed", type=int, default=0, metavar="N",
                       help="seed of the demo corpus used without --data-root (default: 0)")


def data_root(args: argparse.Namespace) -> Path | None:
    """The ``--data-root`` given; none with ``--corpus`` only; else the demo corpus in the cache,
    written if missing."""
    if args.data_root is not None:
        return args.data_root
    if args.corpus:
        return None
    from mser.demo import write_demo_corpus

    cache_dir = args.cache_dir or default_cache_dir()
    root = cache_dir / "demo" / f"{args.demo_scale}-seed{args.demo_seed}"
    try:
        with progress_bar("writing the demo corpus", "files") as progress:
            summary = write_demo_corpus(root, seed=args.demo_seed, scale=args.demo_scale, progress=progress)
    except ValueError as error:
        raise DataError(f"{error} (or delete {root} to have it written again)") from None
    note(f"no --data-root given: using the demo corpus at {summary.root} "
         f"(scale {args.demo_scale}, seed {args.demo_seed})")
    return root


def check_emotions(args: argparse.Namespace) -> None:
    """Refuse, before any audio is read, a label no corpus can have: without a corpus index
    (``--corpus``, whose labels are its own), only the built-in corpora's emotions exist.

    Raises:
        DataError: Naming the labels, those that exist, and the fix.
    """
    unknown = [] if args.corpus else [e for e in args.emotions if e not in EMOTION_SYNONYMS]
    if unknown:
        raise DataError(f"--emotions: no corpus has {', '.join(unknown)} (EMOVO, EmoDB, RAVDESS and the demo have "
                        f"{', '.join(EMOTION_SYNONYMS)}): check the spelling, or add a corpus of your own that has "
                        "it (--corpus)")


def prepare(args: argparse.Namespace, feature_sets: Sequence[str] = (), *, every_emotion: bool = True) -> Dataset:
    """Load the dataset the data options describe, with a progress bar and one line per skipped file,
    and the openSMILE ``feature_sets`` its models read (each with a progress bar of its own).

    Raises:
        DataError: With ``every_emotion`` (commands that train), a label of ``--emotions`` that no
            utterance has, before any model is trained; without it (inspection), that is a note.
    """
    from mser.dataset import load_dataset, load_functionals

    require_functionals(feature_sets)
    check_emotions(args)
    root = data_root(args)
    with progress_bar("preparing audio", "files") as progress:
        dataset = load_dataset(root, indexes=args.corpus, emotions=args.emotions, split_seed=args.split_seed,
                               cache_dir=args.cache_dir, use_cache=not args.no_cache, progress=progress)
    for row in dataset.skipped.itertuples():
        note(f"skipped {row.path}: {row.reason}")
    absent = [e for e in dataset.emotions if e not in set(dataset.utterances["emotion"])]
    if absent:
        message = (f"no utterance is labelled {', '.join(absent)}: its class has no example; leave it out of "
                   "--emotions, or check the corpora's labels (mser-data inspect)")
        if every_emotion:
            raise DataError(f"--emotions: {message}")
        note(message)
    for feature_set in feature_sets:
        with progress_bar(f"openSMILE {feature_set} functionals", "files") as progress:
            load_functionals(dataset, feature_set, cache_dir=args.cache_dir, use_cache=not args.no_cache,
                             progress=progress)
    return dataset


def require_functionals(feature_sets: Sequence[str]) -> None:
    """Refuse, before any work, a command whose models need the opensmile extra when it is missing.

    Raises:
        MissingExtra: With the command that installs it.
    """
    for feature_set in feature_sets:
        for part in opensmile_parts(feature_set):
            smile(part)


@contextmanager
def stdout_for_results() -> Iterator[TextIO]:
    """A stream on the real stdout for a command's results, while everything else written
    to stdout (libraries' messages, at the file-descriptor level too) goes to stderr, so
    tables and ``--json`` output stay clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    results = os.fdopen(os.dup(saved), "w")
    try:
        with redirect_stdout(sys.stderr):
            yield results
    finally:
        results.flush()
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        results.close()


#: Loggers of the libraries whose INFO lines stay off the terminal unless --verbose.
CHATTY_LOGGERS = ("mlflow", "alembic", "uvicorn", "uvicorn.access")


def quiet_libraries(*, verbose: bool = False) -> None:
    """Libraries' INFO lines (MLflow's store migrations, the servers' access logs) and their
    deprecation warnings off the user's terminal, unless ``verbose``."""
    level = "INFO" if verbose else "WARNING"
    os.environ["MLFLOW_LOGGING_LEVEL"] = level  # also for the mlflow processes a command starts
    # MLflow's bar for each artifact it reads (a report, an ensemble read dozens): lines, no news.
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "true" if verbose else "false"
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    categories = ("DeprecationWarning", "PendingDeprecationWarning", "FutureWarning")
    if verbose:
        warnings.simplefilter("default")
        os.environ.pop("PYTHONWARNINGS", None)
        return
    for category in categories:
        warnings.filterwarnings("ignore", category=getattr(builtins, category))
    os.environ["PYTHONWARNINGS"] = ",".join(f"ignore::{category}" for category in categories)  # child processes


class _Verbose(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, True)
        quiet_libraries(verbose=True)


def add_verbose_option(parser: argparse.ArgumentParser) -> None:
    """``-v``/``--verbose``: show the libraries' INFO lines, access logs and warnings."""
    parser.add_argument("-v", "--verbose", action=_Verbose,
                        help="show the libraries' messages (MLflow's INFO lines, servers' access logs, deprecation "
                             "warnings), hidden by default")


_terminated = threading.Event()


def _terminate_as_interrupt(signum, frame) -> None:
    _terminated.set()
    signal.raise_signal(signal.SIGINT)


def terminate_as_interrupt() -> None:
    """Handle SIGTERM (a scheduler's or ``kill``'s stop) as Ctrl-C is handled: whatever handles
    SIGINT then (a search's graceful stop that keeps its state for ``--resume``, or
    KeyboardInterrupt) handles it, and the command exits with :data:`TERMINATED_EXIT`. Call it
    again after a library that sets its own handler (``ray.init`` exits the process on SIGTERM)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)


def run(main: Callable[[Sequence[str] | None], int], argv: Sequence[str] | None, prog: str) -> int:
    """Run a command's body, turning a :class:`MserError` (or an unusable path) into one line and exit status 2,
    Ctrl-C or SIGTERM into one line and exit status 130 or 143, and a closed output pipe into exit status 1."""
    quiet_libraries()
    _terminated.clear()
    terminate_as_interrupt()
    try:
        code = main(argv)
    except BrokenPipeError:
        # Whoever read the output went away (``| head``, a killed parent): what was done and
        # recorded is kept; exit as other tools do, without a traceback, and keep Python's
        # own last flush of stdout from failing again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except MserError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        code = getattr(error, "exit_code", 2)
    except OSError as error:
        if error.filename is None:
            raise
        # A folder or file the user named (--out, --cache-dir, --data-root...) that cannot be used.
        print(f"{prog}: error: cannot use {error.filename}: {error.strerror or error}. Check the path, or choose "
              "a folder you can write (--out, --cache-dir, --tracking-uri)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: {'terminated' if _terminated.is_set() else 'interrupted'}", file=sys.stderr)
        code = INTERRUPTED_EXIT
    return TERMINATED_EXIT if code == INTERRUPTED_EXIT and _terminated.is_set() else code


def check_language_data(dataset: Dataset, model: str, language: str) -> None:
    """Refuse, before anything is trained or written, a model or study whose languages have
    no data (for ``all-but-it``, Italian too: its test speakers are scored at the end).

    Raises:
        DataError: With the languages found and the fix.
    """
    from mser.train import TrainConfig  # TensorFlow: only for the commands that train

    config = TrainConfig(model=model, language=language)
    found = dataset.languages
    try:
        dataset.for_languages(dict.fromkeys([*config.languages(found), *config.test_languages(found)]))
    except DataError as error:
        raise DataError(f"{error}: choose --language {' or '.join(found) or '...'} (the languages found), or add "
                        "the missing corpus (--data-root, --corpus)") from None
    if config.held_out and len(config.languages(found)) == 0:
        raise DataError(f"--language {language}: no other language to train on (found: {', '.join(found)})")


def add_tracking_options(parser: argparse.ArgumentParser, *, experiment: bool = True) -> None:
    """``--experiment`` and ``--tracking-uri``, the same for every command that records or reads runs."""
    group = parser.add_argument_group("tracking")
    if experiment:
        group.add_argument("--experiment", default=DEFAULT_EXPERIMENT, metavar="NAME",
                           help=f"MLflow experiment (default: {DEFAULT_EXPERIMENT})")
    group.add_argument("--tracking-uri", metavar="URI",
                       help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite at mlruns/mlflow.db)")
    add_verbose_option(parser)


def browse_hint(args: argparse.Namespace) -> str:
    """The ``mser-ui`` command that shows the runs a command recorded (its experiment and store)."""
    return "browse the runs with: mser-ui" + "".join(
        f" {flag} {shlex.quote(value)}" for flag, value in (("--experiment", args.experiment),
                                                             ("--tracking-uri", args.tracking_uri))
        if value and not (flag == "--experiment" and value == DEFAULT_EXPERIMENT))
