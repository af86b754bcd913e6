"""New SQLite tracking stores in milliseconds, for tests.

MLflow creates a new SQLite store by running every one of its schema migrations, which took
10 to 12 s on the 2-core CI machine (0.3 s from the template); the test suite creates dozens
of stores (32 tests ask for one by the ``tracking_uri`` fixture alone). Here the
migrations run once, into a template file, and every new store gets a copy of the template's
pages: the same schema MLflow itself made (tables and ``alembic_version``, no rows), so MLflow
then finds every table and goes on as with any store it made. Nothing but the creation of the
tables changes; a store on any other database is made as MLflow makes it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_template: Path | None = None


def make_template(path: Path) -> Path:
    """An empty MLflow store at ``path`` (a SQLite file), made by MLflow's own migrations."""
    import sqlalchemy
    from mlflow.store.db import utils

    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        partial = path.with_suffix(f".{os.getpid()}.partial")  # two test workers may make it at once
        partial.unlink(missing_ok=True)
        engine = sqlalchemy.create_engine(f"sqlite:///{partial}")
        try:
            utils._initialize_tables(engine)
        finally:
            engine.dispose()
        partial.replace(path)
    return path


def default_template() -> Path:
    """Where the template of this MLflow version is kept between test runs."""
    import mlflow

    return Path(tempfile.gettempdir()) / "mser-tests" / f"mlflow-{mlflow.__version__}-store.db"


def copy_template(path: Path) -> str:
    """A new store at ``path`` (its folder created), a copy of the template (the installed
    one, else :func:`default_template`), for a command process to open; its URI."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_template or make_template(default_template()), path)
    return f"sqlite:///{path}"


def install(template: Path | None = None) -> None:
    """Make every SQLite store MLflow creates in this process from then on a copy of
    ``template`` (default :func:`default_template`; made by :func:`make_template` if missing)."""
    global _template
    from mlflow.store.db import utils
    from mlflow.store.model_registry import sqlalchemy_store as registry

    with _lock:
        _template = make_template(template or default_template())
        if getattr(utils._initialize_tables, "from_template", False):
            return
        migrate = utils._initialize_tables

        def initialize_tables(engine) -> None:
            if engine.dialect.name != "sqlite":
                return migrate(engine)
            utils._logger.info("Creating initial MLflow database tables...")  # as MLflow says it
            raw = engine.raw_connection()
            try:
                with sqlite3.connect(_template) as source:
                    source.backup(raw.driver_connection)
            finally:
                raw.close()

        initialize_tables.from_template = True
        utils._initialize_tables = initialize_tables
        registry._initialize_tables = initialize_tables  # imported by name there
