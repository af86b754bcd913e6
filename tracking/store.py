"""Where runs go: the tracking URI, the store's creation, and experiments.

The default store is SQLite at ``mlruns/mlflow.db`` with artifacts under ``mlruns/``
(relative to the working directory, as MLflow's own default), unless
``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` says otherwise. The store is created
(and its schema migrated) by :func:`ensure_store` in one process before any run
starts, because concurrent first use of a SQLite store races on the migration.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from urllib.parse import urlparse

import mlflow
from mlflow.tracking import MlflowClient

from mser.errors import MserError

DEFAULT_STORE_DIR = Path("mlruns")
DEFAULT_EXPERIMENT = "mser"
#: MLflow 3 opens experiments in its GenAI view unless told they are model training ones.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def resolve_tracking_uri(uri: str | None = None) -> str:
    """``uri``, else ``$MLFLOW_TRACKING_URI``, else SQLite at ``./mlruns/mlflow.db``."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    return f"sqlite:///{(DEFAULT_STORE_DIR / 'mlflow.db').resolve()}"


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else ``None``."""
    parsed = urlparse(uri)
    return Path(uri[len("sqlite:///"):]) if parsed.scheme == "sqlite" else None


def artifact_root(uri: str) -> str | None:
    """Artifact location for new experiments: beside a SQLite file, else the server's choice."""
    database = sqlite_path(uri)
    return (database.parent / "artifacts").resolve().as_uri() if database else None


def ensure_store(uri: str) -> MlflowClient:
    """Create the store if needed (folders, schema) and return a client on it.

    Raises:
        MserError: The store cannot be reached or opened, with the URI and the fix.
    """
    database = sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    elif urlparse(uri).scheme in ("", "file"):
        raise MserError(f"tracking URI {uri!r} is a plain file store, which MLflow 3 refuses: "
                        "use sqlite:///path/to/mlflow.db or http://host:port")
    client = MlflowClient(tracking_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        raise MserError(f"cannot open the MLflow tracking store {uri}: {error}. "
                        "Check --tracking-uri (or MLFLOW_TRACKING_URI) and that the server is running") from None
    return client


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of the experiment ``name``, created as a model-training experiment if missing."""
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_root(client.tracking_uri),
                                            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except mlflow.exceptions.MlflowException:
            experiment = client.get_experiment_by_name(name)  # created meanwhile by another process
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise MserError(f"experiment {name!r} is deleted: restore it in the MLflow UI or pick another name")
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id


def add_tracking_options(parser: argparse.ArgumentParser, *, experiment: bool = True) -> None:
    """``--experiment`` and ``--tracking-uri``, the same for every command that records or reads runs."""
    group = parser.add_argument_group("tracking")
    if experiment:
        group.add_argument("--experiment", default=DEFAULT_EXPERIMENT, metavar="NAME",
                           help=f"MLflow experiment (default: {DEFAULT_EXPERIMENT})")
    group.add_argument("--tracking-uri", metavar="URI",
                       help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else sqlite at mlruns/mlflow.db)")
