"""What a user chooses for a study: one dataclass, read from the command line, saved for ``--resume``.

:class:`StudyOptions` is the single source of a study's options: ``mser-search`` builds
it from its arguments (:meth:`StudyOptions.from_args`, matching fields to argument
names), the trials receive it whole (:class:`search.trial.SearchSettings`), and the
training settings shared with :class:`mser.train.TrainConfig` are taken from it by
name (:func:`shared_fields`). A field made with ``_fixed`` must be the same
when a search resumes: :func:`resume_differences` says which differ.

Each option's flag and default are defined here once: ``mser-search`` adds its arguments
with :func:`add_option`, which takes both from the field (a field without a ``flag`` is
``--`` and its name with dashes), so the help, the parser and a resume's refusal always
name the same flag and the same default.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mser.cache import digest_json, folder_name

SCHEDULERS = ("asha", "fifo")
#: The default objective of a space whose trials cost seconds (:func:`search.trial.default_folds`):
#: leave one speaker out up to this many training speakers, :data:`GROUPED_FOLDS` grouped folds beyond.
LOSO_MAX_SPEAKERS = 10
GROUPED_FOLDS = 5


def state_folder(cache_dir: Path, tracking_uri: str, experiment: str) -> Path:
    """Where the studies of ``experiment`` in the store at ``tracking_uri`` keep their state
    for ``--resume``: one folder per store and experiment, so a search of the same name
    logging to another store never overwrites it, and no name leads outside the folder."""
    return cache_dir / "searches" / f"{folder_name(experiment)}-{digest_json([tracking_uri, experiment])[:12]}"


def _fixed(flag: str, *default: Any, factory: Any = None) -> Any:
    """A field that defines the study: a resumed search must ask for the same value."""
    return _option(flag, *default, fixed=True, factory=factory)


def _option(flag: str, *default: Any, fixed: bool = False, factory: Any = None) -> Any:
    """A field whose command-line flag is not its name with dashes (e.g. a ``--no-...`` switch)."""
    metadata = {"flag": flag, "fixed": fixed}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default[0], metadata=metadata) if default else field(metadata=metadata)


@dataclass(frozen=True)
class StudyOptions:
    """What a user chooses for a study (the command-line options of ``mser-search``).

    Attributes:
        space: The model's search space (a name of :data:`search.spaces.SPACES`).
        language: A language code (``it``, ``de``, ``en``, a corpus index's ``ur``...), ``all`` or ``all-but-<code>``.
        trials: Trials of the study.
        tracking_uri: The MLflow store the trials log to.
        experiment: The MLflow experiment.
        state_dir: Where Tune's state and the study's saved options are kept (for ``--resume``).
        sae_epochs, epochs, patience, seed: As in :class:`mser.train.TrainConfig`.
        grace_period: Epochs every trial gets before ASHA may stop it.
        max_concurrent: Trials at once.
        cpus_per_trial: CPUs a trial reserves (TensorFlow uses as many threads).
        top: Best trials whose test speakers are scored after the search.
        command: The command line, recorded on the parent run.
        cache_dir: The encoder cache's folder on every worker (None: each machine's default).
        system_metrics: Seconds between samples of the machine's CPU, memory, disk and network
            logged on each trial's run (MLflow's system metrics); 0: none.
        warm_start: An experiment whose latest search of the same space, language and data
            seeds the sampler with its finished trials (:mod:`search.sampler`).
        folds: With K > 1, the objective is the mean validation kappa over K speaker folds of
            the training speakers; with ``"speakers"`` (:data:`mser.splits.LOSO`), one fold per
            training speaker (leave-one-speaker-out); 0: one validation split.
        encoder_cache: Reuse autoencoders trained before for the same data and settings.
        scheduler: ``asha`` or ``fifo``.
        encoder_rungs: With ASHA and a model on the autoencoder's code: rungs in the encoder
            stage too, on a linear probe's validation kappa after each encoder epoch
            (:class:`search.schedulers.StagedASHA`), so a weak encoder stops before its end.
        repeats: After the search, train the study's result again with this many other seeds.
        refit: Once the configuration is chosen, train it again on every training speaker
            (validation ones included) as the study's result (:mod:`search.retrain`).
        fixed: Parameters of the space held at a value (``--fix``; MLflow names, e.g.
            ``{"functionals.feature_set": "ComParE_2016"}``, :func:`search.spaces.parse_fixed`):
            the sampler searches the others.
    """

    space: str = _fixed("--space")
    language: str = _fixed("--language")
    trials: int = _fixed("--trials")
    tracking_uri: str = _fixed("--tracking-uri")
    experiment: str = _fixed("--experiment")
    state_dir: Path
    sae_epochs: int = _fixed("--sae-epochs", 10)
    epochs: int = _fixed("--max-epochs", 30)
    grace_period: int = _fixed("--grace-period", 3)
    patience: int = _fixed("--patience", 8)
    seed: int = _fixed("--seed", 0)
    max_concurrent: int = 2
    cpus_per_trial: float = 1.0
    top: int = _fixed("--top", 5)
    command: str = ""
    cache_dir: str | None = None
    folds: int | str = _fixed("--folds", 0)
    encoder_cache: bool = _option("--no-encoder-cache", True)
    scheduler: str = _fixed("--scheduler", "asha")
    encoder_rungs: bool = _fixed("--no-encoder-rungs", True)
    repeats: int = 0
    refit: bool = _fixed("--no-refit", True)
    warm_start: str | None = _fixed("--warm-start", None)
    fixed: dict[str, Any] = _fixed("--fix", factory=dict)
    system_metrics: float = 10.0

    def __post_init__(self) -> None:
        if self.fixed is None:  # no --fix given (argparse's default)
            object.__setattr__(self, "fixed", {})

    @classmethod
    def from_args(cls, args: argparse.Namespace, **values: Any) -> "StudyOptions":
        """The options of ``args`` (fields taken by argument name), with ``values`` on top."""
        given = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
        return cls(**{**given, **values})

    def saved(self) -> dict[str, Any]:
        """The options as JSON-ready values, as the study's state keeps them."""
        return {**dataclasses.asdict(self), "state_dir": str(self.state_dir)}


def option_flag(name: str) -> str:
    """The command-line flag of :class:`StudyOptions` field ``name``."""
    return _FIELDS[name].metadata.get("flag") or f"--{name.replace('_', '-')}"


def add_option(parser: argparse.ArgumentParser, name: str, **kwargs: Any) -> argparse.Action:
    """Add the argument of :class:`StudyOptions` field ``name`` to ``parser``: its flag
    (:func:`option_flag`) and, unless ``kwargs`` gives one or it is a switch, the field's
    default (``%(default)s`` in the help names it)."""
    f = _FIELDS[name]
    switch = kwargs.get("action") in ("store_true", "store_false")
    if "default" not in kwargs and not switch and f.default is not dataclasses.MISSING:
        kwargs["default"] = f.default
    return parser.add_argument(option_flag(name), dest=name, **kwargs)


def shared_fields(options: StudyOptions, target: type) -> dict[str, Any]:
    """The values of ``options`` whose names are fields of the dataclass ``target``."""
    names = {f.name for f in dataclasses.fields(target)}
    return {name: value for name, value in dataclasses.asdict(options).items() if name in names}


_FIELDS = {f.name: f for f in dataclasses.fields(StudyOptions)}


def resume_differences(saved: Mapping[str, Any], options: StudyOptions) -> list[str]:
    """What ``options`` asks for that differs from the options a study was started with.

    Each difference reads ``--trials 10 (now 20)``; options missing from ``saved`` (a
    state written by an older version) are not compared.
    """
    differences = []
    for f in dataclasses.fields(options):
        flag = f.metadata.get("flag")
        if not f.metadata.get("fixed") or f.name not in saved:
            continue
        before, now = saved[f.name], getattr(options, f.name)
        if before != now:
            differences.append(f"{flag} {_shown(before)} (now {_shown(now)})")
    return differences


def _shown(value: Any) -> str:
    """An option's value as a user gives it (``--fix``'s as ``PARAM=VALUE ...``, or none)."""
    if isinstance(value, dict):
        return " ".join(f"{k}={v}" for k, v in value.items()) or "none"
    return str(value)
