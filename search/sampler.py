"""The sampler's study kept beside the experiment: an Optuna storage, and warm starts from it.

Every search keeps its Optuna study (what the TPE sampler saw: each trial's configuration
and objective value) in an Optuna RDB storage, so ``optuna-dashboard`` opens a finished
search (history, parameter importances, slices). By default the storage is a SQLite file
beside a SQLite MLflow store (``mlruns/optuna.db`` for the default store), else in the
search's state folder on the driver's machine. The study is named
``<experiment>/<space>-<language>/<parent run id>``; the search's parent run carries the
storage and the name (:data:`tracking.schema.OPTUNA_STORAGE_TAG`, ``OPTUNA_STUDY_TAG``).

While the search runs, its sampler works on a study in memory, which Tune's saved state
holds, so a search resumed after its driver was killed finds the study exactly as it was
when that state was saved; the study is written to the storage once, when the search is
complete (:func:`record_study`: one Optuna trial per trial of the search, its value the
last objective value it reported, as the sampler was told). A storage written while the
search ran would be ahead of a killed driver's saved state, and the resumed sampler would
try to update trials the storage had already finished.

``--warm-start EXPERIMENT`` adds the finished trials of the latest finished search of the
same space, language and data in ``EXPERIMENT`` to a new study before its first trial
(Optuna's ``add_trial``), so the sampler starts from what that search learnt instead of
from random trials. The new search still runs its own trials (and the paper's
configuration first); the trials it was seeded with are the sampler's, not runs of it.
A search of another space, language or data is refused, naming what differs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Mapping

from mser.errors import MserError
from tracking.schema import DATASET_KEY_TAG, OPTUNA_STORAGE_TAG, OPTUNA_STUDY_TAG

if TYPE_CHECKING:
    import optuna
    from mlflow.tracking import MlflowClient

    from search.options import StudyOptions

#: The storage's file name, beside a SQLite MLflow store or in the state folder.
OPTUNA_FILE = "optuna.db"
#: The user attribute of a trial added by a warm start: the earlier search's parent run id.
WARM_START_ATTR = "warm_start_of"
_SQLITE = "sqlite:///"


def storage_url(tracking_uri: str, state_dir: Path) -> str:
    """Where the studies of a search on ``tracking_uri`` are kept (an SQLAlchemy URL)."""
    if tracking_uri.startswith(_SQLITE):
        folder = Path(tracking_uri[len(_SQLITE):]).parent
    else:
        folder = Path(state_dir)
    return f"{_SQLITE}{(folder / OPTUNA_FILE).resolve()}"  # absolute: a warm start may run from elsewhere


def study_name(experiment: str, name: str, parent_run_id: str) -> str:
    """The Optuna study of one search: the experiment, the study (space-language), the parent run."""
    return f"{experiment}/{name}/{parent_run_id}"


def open_storage(url: str) -> "optuna.storages.RDBStorage":
    """The Optuna storage at ``url``, its folder created for a SQLite file; a SQLite file waits
    up to 30 s for another writer (two searches at once on one machine)."""
    import optuna

    if url.startswith(_SQLITE):
        Path(url[len(_SQLITE):]).parent.mkdir(parents=True, exist_ok=True)
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {"timeout": 30}})
    return optuna.storages.RDBStorage(url)


@dataclass(frozen=True)
class WarmStart:
    """The finished trials of an earlier search, to seed a new one's sampler with."""

    parent_run_id: str
    trials: tuple

    def seed(self, storage: "optuna.storages.BaseStorage", name: str) -> None:
        """Create the study ``name`` in ``storage`` holding these trials, before the search loads it."""
        import optuna

        study = optuna.create_study(storage=storage, study_name=name, direction="maximize", load_if_exists=True)
        study.add_trials(self.copies())

    def copies(self) -> list:
        """The trials as new Optuna trials, each marked with the search they came from."""
        import optuna

        return [optuna.trial.create_trial(params=t.params, distributions=t.distributions, value=t.value,
                                          user_attrs={**t.user_attrs, WARM_START_ATTR: self.parent_run_id})
                for t in self.trials]


def search_storage(name: str, warm: WarmStart | None) -> "optuna.storages.BaseStorage":
    """The in-memory storage a search's sampler works on: the study ``name``, holding a warm
    start's trials if there is one."""
    import optuna

    storage = optuna.storages.InMemoryStorage()
    optuna.create_study(storage=storage, study_name=name, direction="maximize")
    if warm is not None:
        warm.seed(storage, name)
    return storage


def record_study(url: str, name: str, distributions: dict, trials: Iterable[tuple[Mapping, float | None, bool]],
                 warm: WarmStart | None) -> int:
    """Write a complete search's study to the storage at ``url``: a warm start's trials, then
    one trial per ``(flattened config, objective value, failed)`` of the search (COMPLETE with
    the value, FAIL without). Returns how many trials the study holds."""
    import optuna

    study = optuna.create_study(storage=open_storage(url), study_name=name, direction="maximize",
                                load_if_exists=True)
    if study.trials:  # written already (a search that ended and was resumed again writes nothing twice)
        return len(study.trials)
    own = []
    for config, value, failed in trials:
        params = {key: config[key] for key in distributions if key in config}
        if failed or value is None or not math.isfinite(value):
            own.append(optuna.trial.create_trial(params=params, distributions={k: distributions[k] for k in params},
                                                 state=optuna.trial.TrialState.FAIL))
        else:
            own.append(optuna.trial.create_trial(params=params, distributions={k: distributions[k] for k in params},
                                                 value=float(value)))
    study.add_trials([*(warm.copies() if warm is not None else []), *own])
    return len(study.trials)


def find_warm_start(client: "MlflowClient", experiment: str, options: "StudyOptions", dataset_key: str,
                    distributions: dict) -> WarmStart:
    """The finished trials of the latest finished search of ``options``' space and language on
    the same data in ``experiment``, with the same search space (``distributions``, Optuna's).

    Raises:
        MserError: No such experiment or search, other data, another search space, or a
            search whose sampler's study was not kept; one line naming it and the fix.
    """
    from tracking.query import held_values, latest_studies

    what = f"--warm-start {experiment}"
    found = client.get_experiment_by_name(experiment)
    if found is None:
        raise MserError(f"{what}: no experiment of that name at {options.tracking_uri}: name an experiment a search "
                        "logged to (mser-ui lists them)")
    earlier = latest_studies(client, found.experiment_id).get((options.space, options.language))
    if earlier is None:
        raise MserError(f"{what}: no finished search of {options.space} on {options.language} there: warm-start from "
                        "an experiment that searched the same space and language")
    tags = earlier.data.tags
    if tags.get(DATASET_KEY_TAG) != dataset_key:
        raise MserError(f"{what}: its search of {options.space} on {options.language} ran on other data (dataset key "
                        f"{str(tags.get(DATASET_KEY_TAG))[:12]}, now {dataset_key[:12]}): its objective values do not "
                        "apply here; use the same --data-root, --corpus and --emotions, or search without --warm-start")
    held = held_values(earlier)
    if held != dict(options.fixed):
        def shown(values):
            return " ".join(f"--fix {k}={v}" for k, v in values.items()) or "no --fix"

        raise MserError(f"{what}: its search of {options.space} on {options.language} held other parameters "
                        f"({shown(held)}; now {shown(options.fixed)}): its objective values do not apply here; "
                        "warm-start from a search that held the same ones, or search without --warm-start")
    if OPTUNA_STORAGE_TAG not in tags or OPTUNA_STUDY_TAG not in tags:
        raise MserError(f"{what}: its search of {options.space} on {options.language} (run "
                        f"{earlier.info.run_id}) kept no sampler's study (it ran before this version): search "
                        "without --warm-start")
    trials = _finished_trials(tags, what)
    changed = sorted({name for t in trials for name, d in t.distributions.items() if distributions.get(name) != d}
                     | {name for name in distributions if trials and name not in trials[0].distributions})
    if changed:
        raise MserError(f"{what}: its search space of {options.space} differs from this version's "
                        f"({', '.join(changed)}): search without --warm-start")
    if not trials:
        raise MserError(f"{what}: its search of {options.space} on {options.language} finished no trial: nothing "
                        "to start from")
    return WarmStart(earlier.info.run_id, tuple(trials))


def warm_start_of(client: "MlflowClient", parent_run_id: str) -> WarmStart:
    """The warm start a search began with, read again from the earlier search its parent run
    names (:data:`~tracking.schema.WARM_START_TAG`), for a resumed search's record."""
    return WarmStart(parent_run_id, tuple(_finished_trials(client.get_run(parent_run_id).data.tags,
                                                           f"the warm start {parent_run_id}")))


def _finished_trials(tags: Mapping[str, str], what: str) -> list:
    """The COMPLETE trials of the study a search's parent run (``tags``) names.

    Raises:
        MserError: The study cannot be read, in one line.
    """
    import optuna

    try:
        study = optuna.load_study(study_name=tags[OPTUNA_STUDY_TAG], storage=open_storage(tags[OPTUNA_STORAGE_TAG]))
        return study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    except Exception as error:  # noqa: BLE001 - a missing file or study is the answer
        raise MserError(f"{what}: cannot read its sampler's study {tags[OPTUNA_STUDY_TAG]!r} at "
                        f"{tags[OPTUNA_STORAGE_TAG]} ({type(error).__name__}: {str(error).splitlines()[0]}): "
                        "warm-start on the machine that ran it, or search without --warm-start") from None
