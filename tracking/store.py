"""Where runs go: the tracking URI, the store's creation, and experiments.

The default store is SQLite at ``mlruns/mlflow.db`` with artifacts under ``mlruns/``
(relative to the working directory, as MLflow's own default), unless
``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` says otherwise. The store is created
(and its schema migrated) by :func:`ensure_store` in one process before any run
starts, because concurrent first use of a SQLite store races on the migration.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import socket
import sqlite3
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from mser.errors import MserError

if TYPE_CHECKING:  # MLflow takes a second or two to import: a command parses its arguments first
    from mlflow.tracking import MlflowClient

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


#: Seconds the up-front check of a tracking server waits for an answer.
SERVER_CHECK_TIMEOUT = 5.0


def check_store(uri: str, *, create: bool = True) -> None:
    """Check within seconds, writing nothing, that the store at ``uri`` can be used: an existing
    SQLite file that opens (or, with ``create``, a folder that can hold a new one), a
    tracking server that answers.

    Raises:
        MserError: The store cannot be reached, created or opened, with the URI and the fix.
    """
    database = sqlite_path(uri)
    scheme = urlparse(uri).scheme
    if database is not None:
        _check_sqlite(database, uri, create=create)
    elif scheme in ("http", "https"):
        _check_server(uri)
    elif scheme in ("", "file"):
        raise MserError(f"tracking URI {uri!r} is a plain file store, which MLflow 3 refuses: "
                        "use sqlite:///path/to/mlflow.db or http://host:port")
    else:
        check_database_driver(uri)
        _check_database(uri)


#: The port a database server listens on when its URI names none.
DEFAULT_DATABASE_PORTS = {"postgresql": 5432, "mysql": 3306, "mssql": 1433}


def _check_database(uri: str, *, timeout: float = SERVER_CHECK_TIMEOUT) -> None:
    """Something accepts connections at a database URI's host and port within ``timeout``
    seconds: MLflow retries a database that does not answer for minutes."""
    parsed = urlparse(uri)
    port = parsed.port or DEFAULT_DATABASE_PORTS.get(parsed.scheme.split("+")[0])
    if not parsed.hostname or port is None:
        return  # a local socket or an unusual URI: left to MLflow
    try:
        with socket.create_connection((parsed.hostname, port), timeout=timeout):
            return
    except OSError as error:
        raise MserError(f"nothing answers at the database of tracking URI {_redacted(uri)!r} "
                        f"({parsed.hostname}:{port}: {error.strerror or error}): start the database there, or fix "
                        "the URI's host and port") from None


#: Database schemes MLflow's SQL store takes (SQLAlchemy's dialects), with the driver module
#: each needs and the package that provides it. A scheme without a driver (``postgresql``)
#: means SQLAlchemy's default driver for it (psycopg 3 since SQLAlchemy 2.1, psycopg2 before):
#: :func:`database_driver` asks SQLAlchemy.
DATABASE_DRIVERS = {
    "postgresql": ("psycopg", "mser-search[postgres]"),
    "postgresql+psycopg": ("psycopg", "mser-search[postgres]"),
    "postgresql+psycopg2": ("psycopg2", "psycopg2-binary"),
    "mysql": ("MySQLdb", "mysqlclient"),
    "mysql+pymysql": ("pymysql", "pymysql"),
    "mssql": ("pyodbc", "pyodbc"),
    "mssql+pyodbc": ("pyodbc", "pyodbc"),
}
#: Every scheme a tracking URI may have.
TRACKING_SCHEMES = ("sqlite", "http", "https", "databricks", *DATABASE_DRIVERS)


def check_database_driver(uri: str) -> None:
    """A database URI of a scheme MLflow knows, with its driver installed.

    Raises:
        MserError: An unknown scheme (the known ones listed), or a missing driver (the package
            to install named).
    """
    scheme = urlparse(uri).scheme
    if scheme not in TRACKING_SCHEMES:
        raise MserError(f"tracking URI {_redacted(uri)!r}: unknown scheme {scheme!r}; use sqlite:///PATH/mlflow.db, "
                        f"http://HOST:PORT (mser-server) or a database ({', '.join(DATABASE_DRIVERS)})")
    if scheme in DATABASE_DRIVERS:
        module, package = database_driver(scheme)
        if importlib.util.find_spec(module) is None:
            raise MserError(f"tracking URI {_redacted(uri)!r} needs the {module} driver, which is not installed: "
                            f"pip install '{package}'")


def database_driver(scheme: str) -> tuple[str, str]:
    """The driver module a database ``scheme`` needs and the package that provides it: for a
    scheme that names no driver, the driver SQLAlchemy picks for it (its dialect's default)."""
    if "+" not in scheme:
        from sqlalchemy.engine.url import make_url

        try:
            driver = make_url(f"{scheme}://").get_dialect().driver
        except Exception:  # noqa: BLE001 - a dialect SQLAlchemy lacks: the table's entry says what to install
            driver = None
        if f"{scheme}+{driver}" in DATABASE_DRIVERS:
            return DATABASE_DRIVERS[f"{scheme}+{driver}"]
    return DATABASE_DRIVERS[scheme]


def _redacted(uri: str) -> str:
    """``uri`` with any password replaced, for messages."""
    parsed = urlparse(uri)
    if parsed.password:
        return uri.replace(f":{parsed.password}@", ":***@", 1)
    return uri


def ensure_store(uri: str, *, create: bool = True) -> MlflowClient:
    """Check the store (:func:`check_store`), create a missing SQLite one with ``create``
    (folders, schema), and return a client on it; without ``create`` (the commands that
    only read), a missing store is an error and nothing is written.

    Raises:
        MserError: The store cannot be reached, created or opened, with the URI and the fix.
    """
    from mlflow.tracking import MlflowClient

    check_store(uri, create=create)
    database = sqlite_path(uri)
    if database is not None:
        database.parent.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=uri)
    try:
        client.search_experiments(max_results=1)
    except Exception as error:  # noqa: BLE001 - any failure here means the store is unusable
        raise MserError(f"cannot open the MLflow tracking store {uri}: {_first_line(error)}. "
                        "Check --tracking-uri (or MLFLOW_TRACKING_URI) and that the server is running") from None
    return client


def _check_sqlite(database: Path, uri: str, *, create: bool) -> None:
    if not database.exists():
        if not create:
            raise MserError(f"no tracking store at {database}: run mser-search or mser-train first (from the folder "
                            "holding mlruns/), or point --tracking-uri (or MLFLOW_TRACKING_URI) at your store")
        folder = next(p for p in database.parents if p.exists())  # the store's folders are made later
        try:  # the folder may refuse files (a read-only disk, /proc)
            tempfile.TemporaryFile(dir=folder).close()
        except OSError as error:
            raise MserError(f"cannot create the tracking store {uri}: {error.strerror or error} in {folder}. "
                            "Choose a folder you can write with --tracking-uri sqlite:///PATH/mlflow.db") from None
        return
    try:  # sqlite3 answers at once where MLflow would retry for minutes
        with contextlib.closing(sqlite3.connect(database, timeout=SERVER_CHECK_TIMEOUT)) as connection:
            connection.execute("pragma schema_version").fetchone()
    except sqlite3.Error as error:
        raise MserError(f"cannot open the tracking store {uri}: {error}. Check the file, or choose another "
                        "with --tracking-uri sqlite:///PATH/mlflow.db") from None


def server_answers(uri: str, *, timeout: float = SERVER_CHECK_TIMEOUT) -> bool:
    """Whether the tracking server at ``uri`` answers its health check within ``timeout`` seconds."""
    try:
        _check_server(uri, timeout=timeout)
        return True
    except MserError:
        return False


def _check_server(uri: str, *, timeout: float = SERVER_CHECK_TIMEOUT) -> None:
    """A tracking server answers its health check within ``timeout`` seconds."""
    url = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answered (an authenticating server may refuse /health): MLflow's own errors say more
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise MserError(f"cannot reach the tracking server {uri}: {reason}. Start it (mser-server on the head) "
                        "or check --tracking-uri (or MLFLOW_TRACKING_URI)") from None


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of the experiment ``name``, created as a model-training experiment if missing."""
    from mlflow.exceptions import MlflowException

    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        try:
            return client.create_experiment(name, artifact_location=artifact_root(client.tracking_uri),
                                            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND})
        except MlflowException:
            experiment = client.get_experiment_by_name(name)  # created meanwhile by another process
            if experiment is None:
                raise
    if experiment.lifecycle_stage != "active":
        raise MserError(f"experiment {name!r} is deleted: restore it in the MLflow UI or pick another name")
    if experiment.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:
        client.set_experiment_tag(experiment.experiment_id, EXPERIMENT_KIND_TAG, EXPERIMENT_KIND)
    return experiment.experiment_id
