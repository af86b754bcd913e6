import time

import pytest

from mser.errors import MserError
from tracking.store import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    artifact_root,
    ensure_store,
    experiment_id,
    resolve_tracking_uri,
)


def test_default_store_is_sqlite_under_mlruns(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri() == f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    assert artifact_root(resolve_tracking_uri()) == (tmp_path / "mlruns" / "artifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://localhost:5000")
    assert resolve_tracking_uri() == "http://localhost:5000"
    assert resolve_tracking_uri("sqlite:///x.db") == "sqlite:///x.db"
    assert artifact_root("http://localhost:5000") is None


def test_plain_file_store_is_refused(tmp_path):
    with pytest.raises(MserError, match="plain file store.*sqlite"):
        ensure_store(str(tmp_path / "mlruns"))


def test_unreachable_server_is_one_clear_error_within_seconds():
    started = time.monotonic()  # MLflow alone would retry for minutes
    with pytest.raises(MserError, match="cannot reach the tracking server http://127.0.0.1:9.*mser-server"):
        ensure_store("http://127.0.0.1:9")
    assert time.monotonic() - started < 10


def test_a_store_is_created_only_where_asked(tmp_path):
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    with pytest.raises(MserError, match="no tracking store at .*mlflow.db: run mser-search or mser-train first"):
        ensure_store(uri, create=False)
    assert not (tmp_path / "store").exists()
    ensure_store(uri)
    ensure_store(uri, create=False)  # now it exists
    with pytest.raises(MserError, match="cannot create the tracking store sqlite:////proc/x.db"):
        ensure_store("sqlite:////proc/x.db")


def test_experiments_are_created_as_model_training_ones(tracking_uri):
    client = ensure_store(tracking_uri)
    first = experiment_id(client, "trials")
    assert experiment_id(client, "trials") == first
    experiment = client.get_experiment(first)
    assert experiment.tags[EXPERIMENT_KIND_TAG] == EXPERIMENT_KIND
    assert experiment.artifact_location.endswith("mlruns/artifacts")
    client.delete_experiment(first)
    with pytest.raises(MserError, match="is deleted"):
        experiment_id(client, "trials")


@pytest.mark.parametrize("uri, message", [
    ("garbage://x", "unknown scheme 'garbage'"),
    ("mysql+pymysql://u:secret@h/db", "needs the pymysql driver"),
])
def test_a_tracking_uri_of_an_unknown_scheme_or_without_its_driver_is_one_error(uri, message):
    from tracking.store import check_store

    with pytest.raises(MserError, match=message) as caught:
        check_store(uri)
    assert "secret" not in str(caught.value)


def test_a_database_that_does_not_answer_is_one_line_within_seconds(monkeypatch):
    """MLflow retries a database that does not answer for minutes; the check says so at once."""
    from tracking import store as store_module
    from tracking.store import check_store

    monkeypatch.setattr(store_module, "check_database_driver", lambda uri: None)
    started = time.monotonic()
    with pytest.raises(MserError, match=r"nothing answers at the database .*postgresql://u:\*\*\*@127.0.0.1:1/db"):
        check_store("postgresql://u:secret@127.0.0.1:1/db")
    assert time.monotonic() - started < 10


def test_a_store_from_the_test_template_is_at_mlflows_latest_schema(tmp_path):
    """The tests' stores are copies of one MLflow migrated (tracking.testing.sqlite): the copy is
    at MLflow's head revision, and MLflow opens it and records in it as in a store it made."""
    import sqlite3

    from mlflow.store.db.utils import _get_latest_schema_revision
    from mlflow.tracking import MlflowClient

    from tracking.testing.sqlite import copy_template

    uri = copy_template(tmp_path / "m.db")
    with sqlite3.connect(tmp_path / "m.db") as db:
        [(revision,)] = db.execute("select version_num from alembic_version").fetchall()
        assert not db.execute("select * from experiments").fetchall()  # no rows: nothing of another store
    assert revision == _get_latest_schema_revision()
    client = MlflowClient(uri)
    run = client.create_run(client.create_experiment("e"))
    client.log_metric(run.info.run_id, "kappa", 0.5)
    assert client.get_run(run.info.run_id).data.metrics == {"kappa": 0.5}
