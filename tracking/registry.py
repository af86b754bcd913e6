"""The model registry: one registered model per space and language, promoted by a gate.

A candidate is a finished run with a logged model: a study's result (the refit of its
chosen trial on every training speaker, which then stands in for that trial), a search
trial, or an ``mser-train`` run. The best candidate of a space and language is chosen by
what the study chose by (a refit carries its chosen trial's value, ``choice_val_kappa``;
a trial of a study with speaker folds, its ``cv_val_kappa``; otherwise ``val_kappa``),
ties to a refit; the test kappa is recorded on the version for the reader, never used to
choose. :func:`language_choice` picks, for one language, between the studies that can
serve it (its own and the joint ones) on that language's validation speakers only.

Promotion registers the candidate as a new version of ``mser-<space>-<language>``
(every fact about it set in the same call that creates it) and then moves an alias:
``champion`` if its validation kappa beats the current champion's by more than a
margin (or with ``force``), ``challenger`` otherwise. The decision and the alias move
happen under a lock, so two promotions at once are serialised and an alias only ever
points at a complete, ready version.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from filelock import FileLock

from mser.cache import default_cache_dir
from mser.corpora import EMOTIONS
from mser.errors import MserError
from mser.metrics import TEST_KAPPA, VAL_KAPPA, per_language
from tracking.language_choice import language_choice
from tracking.query import all_runs
from tracking.schema import (
    CHOICE_VAL_KAPPA,
    CV_VAL_KAPPA,
    DATASET_KEY_TAG,
    ENSEMBLE_TAG,
    EXPERIMENT_ID_TAG,
    LABELS_TAG,
    LANGUAGE_TAG,
    MODEL_TAG,
    MODEL_URI_TAG,
    REFIT_OF_TAG,
    REPEAT_OF_TAG,
    RUN_ID_TAG,
    RUN_NAME_TAG,
    SELECTED_BY_TAG,
    SOURCE_STUDY_TAG,
    SPACE_TAG,
    SPEAKER_SIDES,
    TRIAL_TAG,
    speakers_tag,
)
from tracking.store import sqlite_path

if TYPE_CHECKING:  # MLflow is imported where the registry is used: naming an alias costs nothing
    from mlflow.entities.model_registry import ModelVersion
    from mlflow.tracking import MlflowClient

#: The space an ensemble (``mser-ensemble``) is registered under: ``mser-ensemble-<language>``.
ENSEMBLE = "ensemble"
CHAMPION = "champion"
CHALLENGER = "challenger"
#: Default gate: a new champion must beat the current one's validation kappa by more than this.
DEFAULT_MARGIN = 0.01
NAME_PREFIX = "mser-"
NOT_MEASURED = "not measured"
_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))?$")


class ModelNotFound(MserError):
    """A model URI names a registered model, alias or version that does not exist."""


def registered_name(space: str, language: str) -> str:
    """``mser-<space>-<language>``, e.g. ``mser-sae_cnn-de``."""
    return f"{NAME_PREFIX}{space}-{language}"


@dataclass(frozen=True)
class Candidate:
    """A finished run with a logged model, as the registry sees it."""

    run_id: str
    run_name: str
    experiment_id: str
    space: str
    language: str
    val_kappa: float
    test_kappa: float | None
    model_uri: str
    dataset_key: str
    speakers: dict[str, str]
    trial_id: str | None
    labels: str = " ".join(EMOTIONS)
    #: The study language the model was trained in, when it serves another (the joint model for ``it``).
    source: str = ""

    @property
    def name(self) -> str:
        return registered_name(self.space, self.language)

    @property
    def is_refit(self) -> bool:
        return not self.speakers.get("validation")

    @classmethod
    def from_run(cls, run) -> "Candidate":
        tags, metrics = run.data.tags, run.data.metrics
        space = ENSEMBLE if tags.get(ENSEMBLE_TAG) == "true" else tags[MODEL_TAG]
        return cls(run_id=run.info.run_id, run_name=run.info.run_name, experiment_id=run.info.experiment_id,
                   space=space, language=tags[LANGUAGE_TAG], val_kappa=choice_value(run),
                   test_kappa=metrics.get(TEST_KAPPA), model_uri=tags[MODEL_URI_TAG],
                   dataset_key=tags.get(DATASET_KEY_TAG, ""), trial_id=tags.get(TRIAL_TAG),
                   speakers={side: tags.get(speakers_tag(side), "") for side in SPEAKER_SIDES},
                   labels=tags.get(LABELS_TAG) or " ".join(EMOTIONS))

    def version_tags(self) -> dict[str, str]:
        """What a registered version carries: both kappas, the data, the labels, the speakers, the run."""
        return {VAL_KAPPA: f"{self.val_kappa:.6f}",
                TEST_KAPPA: NOT_MEASURED if self.test_kappa is None else f"{self.test_kappa:.6f}",
                SELECTED_BY_TAG: VAL_KAPPA, DATASET_KEY_TAG: self.dataset_key, LABELS_TAG: self.labels,
                **{speakers_tag(side): value for side, value in self.speakers.items()},
                SPACE_TAG: self.space, LANGUAGE_TAG: self.language, RUN_ID_TAG: self.run_id,
                RUN_NAME_TAG: self.run_name, EXPERIMENT_ID_TAG: self.experiment_id,
                **({TRIAL_TAG: self.trial_id} if self.trial_id else {}),
                **({SOURCE_STUDY_TAG: self.source} if self.source else {})}

    def description(self) -> str:
        test = NOT_MEASURED if self.test_kappa is None else f"{self.test_kappa:.3f}"
        source = (f" Trained in the {self.source} study and chosen for {self.language} on {self.language}'s "
                  "validation speakers." if self.source else "")
        refit = " Trained on every training speaker (a refit of the chosen trial)." if self.is_refit else ""
        return (f"{self.space} on {self.language}, run {self.run_name} ({self.run_id}). Chosen by validation "
                f"kappa {self.val_kappa:.3f}; test kappa {test} on held-out speakers {self.speakers['test']}."
                f"{refit}{source}")


def choice_value(run) -> float:
    """What a run was (or would be) chosen by: a refit's ``choice_val_kappa``, a fold
    study's ``cv_val_kappa``, else ``val_kappa``."""
    metrics = run.data.metrics
    return next(metrics[name] for name in (CHOICE_VAL_KAPPA, CV_VAL_KAPPA, VAL_KAPPA) if name in metrics)


def best_candidates(client: MlflowClient, experiment: str, *, space: str | None = None,
                    language: str | None = None) -> dict[str, Candidate]:
    """The best finished run with a model of each space and language in ``experiment``, by
    validation kappa (ties: the earlier run), keyed by registered name; an ensemble's space is
    :data:`ENSEMBLE`.

    Raises:
        MserError: No such experiment, or no finished run matches.
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise MserError(f"no experiment {experiment!r} in {client.tracking_uri}: run mser-search first, "
                        "or name the experiment with --experiment")
    by_space = f"tags.{ENSEMBLE_TAG} = 'true'" if space == ENSEMBLE else f"tags.{MODEL_TAG} = '{space}'"
    query = " and ".join(["attributes.status = 'FINISHED'",
                          *([by_space] if space else []),
                          *([f"tags.{LANGUAGE_TAG} = '{language}'"] if language else [])])
    runs = all_runs(client, [found.experiment_id], query)
    refit = {run.data.tags[REFIT_OF_TAG] for run in runs if REFIT_OF_TAG in run.data.tags}
    by_name: dict[str, list[Candidate]] = {}
    for run in runs:
        # A repeat of a result with another seed measures its spread, and a refit stands in for the
        # trial it refits: neither is a candidate of its own.
        if (MODEL_URI_TAG in run.data.tags and REPEAT_OF_TAG not in run.data.tags and run.info.run_id not in refit
                and any(name in run.data.metrics for name in (CHOICE_VAL_KAPPA, VAL_KAPPA))):
            candidate = Candidate.from_run(run)
            by_name.setdefault(candidate.name, []).append((run.info.start_time or 0, candidate))
    best = {name: min(found, key=lambda item: (-item[1].val_kappa, not item[1].is_refit, item[0]))[1]
            for name, found in by_name.items()}
    if not best:
        which = " ".join(f"{k} {v}" for k, v in (("space", space), ("language", language)) if v)
        first = (f"mser-ensemble --language {language or 'LANGUAGE'} --experiment {experiment}" if space == ENSEMBLE
                 else "mser-search (or mser-train)")
        raise MserError(f"no finished run with a model in experiment {experiment!r}"
                        f"{' for ' + which if which else ''}: run {first} first")
    return best


def ensembles(client: MlflowClient, experiment: str, language: str) -> dict[str, Candidate]:
    """The best ensemble of ``language`` in ``experiment`` as a candidate, if one was built (else none)."""
    try:
        return best_candidates(client, experiment, space=ENSEMBLE, language=language)
    except MserError:
        return {}


def serving_candidate(client: MlflowClient, experiment: str, language: str, *,
                      space: str | None = None) -> Candidate:
    """The model that serves ``language`` best (:func:`tracking.language_choice.language_choice`:
    its own study's result or a joint study's, chosen on its validation speakers), as a
    candidate for ``mser-<space>-<language>`` that names the study it came from.

    Raises:
        MserError: No such experiment, or no study of the language or a joint one.
    """
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise MserError(f"no experiment {experiment!r} in {client.tracking_uri}: run mser-search first, "
                        "or name the experiment with --experiment")
    choice = language_choice(client, found.experiment_id, language, space=space)
    if choice is None:
        raise MserError(f"no finished study of {language} or of all languages{' for ' + space if space else ''} in "
                        f"experiment {experiment!r}: run mser-search --language {language} (or all) first")
    option = choice.chosen
    run = client.get_run(option.result_run_id)
    if option.study == language:
        return replace(Candidate.from_run(run), val_kappa=option.val_kappa)
    return replace(Candidate.from_run(run), language=language, val_kappa=option.val_kappa, source=option.study,
                   test_kappa=run.data.metrics.get(per_language(TEST_KAPPA, language)))


def decide(candidate: float, champion: float | None, *, margin: float, force: bool) -> tuple[str, str]:
    """The gate: which alias a candidate with validation kappa ``candidate`` gets, and why."""
    if champion is None:
        return CHAMPION, "there was no champion"
    if candidate > champion + margin:
        return CHAMPION, (f"its validation kappa {candidate:.3f} beats the champion's {champion:.3f} "
                          f"by more than the margin {margin:g}")
    why = (f"its validation kappa {candidate:.3f} does not beat the champion's {champion:.3f} "
           f"by more than the margin {margin:g}")
    if force:
        return CHAMPION, f"--force, although {why}"
    return CHALLENGER, f"{why}; --force promotes it anyway"


@dataclass(frozen=True)
class Promotion:
    """What one promotion did."""

    name: str
    version: str
    alias: str
    reason: str
    registered: bool
    val_kappa: float
    test_kappa: float | None
    run_id: str
    previous_champion: str | None
    warnings: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {**asdict(self), "warnings": list(self.warnings)}


def promote(client: MlflowClient, candidate: Candidate, *, margin: float = DEFAULT_MARGIN,
            force: bool = False, lock_timeout: float = 300.0) -> Promotion:
    """Register ``candidate`` (once per run) and move ``champion`` or ``challenger`` to it."""
    import mlflow

    from tracking.model import check_model

    name = candidate.name
    # MLflow's registry finds a logged model (models:/m-...) through the global tracking URI.
    mlflow.set_tracking_uri(client.tracking_uri)
    try:  # MLflow only warns when a logged model fails to load, and its files may be on another machine
        check_model(candidate.model_uri)
    except MserError as error:
        raise MserError(f"{error}; run {candidate.run_name} ({candidate.run_id}) was not promoted: its model's "
                        "files must be readable from here (runs logged from other machines need a shared "
                        "tracking server, see mser-server)") from None
    with FileLock(str(_lock_path(client.tracking_uri, name)), timeout=lock_timeout):
        _ensure_registered_model(client, candidate)
        version, registered = _version_of(client, candidate)
        champion = _alias_version(client, name, CHAMPION)
        if champion is not None and champion.version == version.version:
            return Promotion(name, str(version.version), CHAMPION, "it is already the champion", registered,
                             candidate.val_kappa, candidate.test_kappa, candidate.run_id, str(champion.version))
        champion_kappa = _tag_float(champion, VAL_KAPPA) if champion else None
        alias, reason = decide(candidate.val_kappa, champion_kappa, margin=margin, force=force)
        client.set_registered_model_alias(name, alias, version.version)
        challenger = _alias_version(client, name, CHALLENGER)
        if alias == CHAMPION and challenger is not None and challenger.version == version.version:
            client.delete_registered_model_alias(name, CHALLENGER)  # one version, one role
        return Promotion(name, str(version.version), alias, reason, registered, candidate.val_kappa,
                         candidate.test_kappa, candidate.run_id, str(champion.version) if champion else None,
                         tuple(_comparability(candidate, champion)))


def _lock_path(tracking_uri: str, name: str) -> Path:
    """A lock file beside a SQLite store (shared by everyone using it), else in the local cache."""
    database = sqlite_path(tracking_uri)
    folder = database.parent if database else default_cache_dir() / "registry-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f".{name}.lock"


def _ensure_registered_model(client: MlflowClient, candidate: Candidate) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.create_registered_model(
            candidate.name, tags={SPACE_TAG: candidate.space, LANGUAGE_TAG: candidate.language},
            description=(f"The best {candidate.space} model on {candidate.language} found by mser-search, "
                         f"chosen by kappa on validation speakers. Aliases: {CHAMPION} (in use), "
                         f"{CHALLENGER} (registered, did not pass the promotion gate)."))
    except MlflowException as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":
            raise


def _version_of(client: MlflowClient, candidate: Candidate) -> tuple[ModelVersion, bool]:
    """The candidate's version: the existing one for its run, else a new one with all its tags."""
    existing = [v for v in client.search_model_versions(f"name = '{candidate.name}' and run_id = '{candidate.run_id}'")
                if v.status == "READY"]
    if existing:
        return min(existing, key=lambda v: int(v.version)), False
    model_id = candidate.model_uri.removeprefix("models:/") if candidate.model_uri.startswith("models:/m-") else None
    version = client.create_model_version(candidate.name, source=candidate.model_uri, run_id=candidate.run_id,
                                          tags=candidate.version_tags(), description=candidate.description(),
                                          model_id=model_id)
    return _wait_ready(client, version), True


def _wait_ready(client: MlflowClient, version: ModelVersion, timeout: float = 300.0) -> ModelVersion:
    deadline = time.monotonic() + timeout
    while version.status == "PENDING_REGISTRATION" and time.monotonic() < deadline:
        time.sleep(0.5)
        version = client.get_model_version(version.name, version.version)
    if version.status != "READY":
        raise MserError(f"version {version.version} of {version.name} is {version.status}, not READY: "
                        f"{version.status_message or 'no message'}; no alias was moved")
    return version


def _alias_version(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def _tag_float(version: ModelVersion, key: str) -> float | None:
    try:
        return float(version.tags[key])
    except (KeyError, ValueError):
        return None


def _comparability(candidate: Candidate, champion: ModelVersion | None) -> list[str]:
    """Warnings when the champion's validation kappa was measured on other data or speakers."""
    if champion is None:
        return []
    notes = []
    if champion.tags.get(DATASET_KEY_TAG) != candidate.dataset_key:
        notes.append(f"the champion (version {champion.version}) was measured on other data "
                     f"(dataset {champion.tags.get(DATASET_KEY_TAG, '?')[:12]} vs {candidate.dataset_key[:12]})")
    validation = speakers_tag("validation")
    if champion.tags.get(validation) != candidate.speakers["validation"]:
        notes.append(f"the champion (version {champion.version}) was validated on other speakers "
                     f"({champion.tags.get(validation, '?')} vs {candidate.speakers['validation']})")
    return notes


@dataclass(frozen=True)
class ResolvedModel:
    """A model URI made concrete: what to load, and how to name it to the user."""

    uri: str
    load_uri: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    run_id: str | None = None

    @property
    def label(self) -> str:
        if self.name is None:
            return self.uri
        return f"{self.name} version {self.version}" + (f" ({self.alias})" if self.alias else "")


def resolve_model(client: MlflowClient, uri: str | None) -> ResolvedModel:
    """Resolve ``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` to one version (so the
    version printed is the version loaded); other URIs (``runs:/``, ``models:/<id>``, a
    path) pass through. Without ``uri``: the champion, if exactly one model has one.

    Raises:
        ModelNotFound: The model, alias or version does not exist, with what does.
    """
    from mlflow.exceptions import MlflowException

    if uri is None:
        return resolve_model(client, _only_champion(client))
    match = _MODEL_URI.match(uri)
    if match is None or match["name"].startswith("m-") and not (match["alias"] or match["version"]):
        return ResolvedModel(uri, uri)
    name, alias, number = match["name"], match["alias"], match["version"]
    try:
        model = client.get_registered_model(name)
    except MlflowException:
        raise ModelNotFound(f"no registered model {name!r} in {client.tracking_uri}; registered: "
                            f"{', '.join(_registered(client)) or 'none'}. Promote one with mser-promote") from None
    if alias is None and number is None:
        alias = CHAMPION
    version = _alias_version(client, name, alias) if alias else _get_version(client, name, number)
    if version is None:
        have = ", ".join(f"{a} -> version {v}" for a, v in sorted(model.aliases.items()))
        what = f"alias {alias!r}" if alias else f"version {number}"
        raise ModelNotFound(f"model {name!r} has no {what} (aliases: {have or 'none'}; versions: "
                            f"{', '.join(str(v.version) for v in _versions(client, name)) or 'none'}). "
                            f"Promote one with mser-promote, or pick a version: models:/{name}/<version>")
    return ResolvedModel(uri, f"models:/{name}/{version.version}", name, str(version.version), alias, version.run_id)


def _get_version(client: MlflowClient, name: str, number: str) -> ModelVersion | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version(name, number)
    except MlflowException:
        return None


def _only_champion(client: MlflowClient) -> str:
    champions = [m.name for m in registered_models(client) if CHAMPION in m.aliases]
    if len(champions) == 1:
        return f"models:/{champions[0]}@{CHAMPION}"
    if not champions:
        raise ModelNotFound(f"no registered model has a {CHAMPION} in {client.tracking_uri}: "
                            "promote one with mser-promote, or give --model")
    raise ModelNotFound(f"{len(champions)} models have a {CHAMPION} ({', '.join(champions)}): "
                        f"choose one with --model models:/NAME@{CHAMPION}")


def registered_models(client: MlflowClient) -> list:
    """This project's registered models (``mser-*``), by name."""
    return sorted(client.search_registered_models(f"name LIKE '{NAME_PREFIX}%'", max_results=1000),
                  key=lambda m: m.name)


def _registered(client: MlflowClient) -> list[str]:
    return [m.name for m in registered_models(client)]


def _versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    return sorted(client.search_model_versions(f"name = '{name}'"), key=lambda v: int(v.version))


def model_table(client: MlflowClient) -> list[dict]:
    """One row per registered version: name, version, aliases, kappas, run, status, time."""
    rows = []
    for model in registered_models(client):
        # Versions from a search carry no aliases; the registered model has them all.
        aliases = {str(v): sorted(a for a, w in model.aliases.items() if w == v) for v in model.aliases.values()}
        for version in _versions(client, model.name):
            rows.append({"model": model.name, "version": str(version.version),
                         "aliases": ",".join(aliases.get(str(version.version), [])),
                         VAL_KAPPA: _tag_float(version, VAL_KAPPA), TEST_KAPPA: _tag_float(version, TEST_KAPPA),
                         "run": version.tags.get(RUN_NAME_TAG, ""), "run_id": version.run_id,
                         "status": version.status,
                         "registered": time.strftime("%Y-%m-%d %H:%M",
                                                     time.localtime(version.creation_timestamp / 1000))})
    return rows


def load(resolved: ResolvedModel):
    """The pyfunc model of ``resolved``.

    Raises:
        MserError: It cannot be loaded, with the URI and MLflow's reason.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        return mlflow.pyfunc.load_model(resolved.load_uri)
    except (MlflowException, OSError) as error:
        raise MserError(f"cannot load model {resolved.uri}: {str(error).splitlines()[0]}. "
                        "Check the URI (models:/NAME@champion, models:/NAME/VERSION, runs:/RUN_ID/model) "
                        "and --tracking-uri; mser-models lists what is registered") from None
