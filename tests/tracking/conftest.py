"""Every tracking test gets its own SQLite store and fails if it leaves a run RUNNING."""

from __future__ import annotations

import mlflow
import pytest
from mlflow.tracking import MlflowClient


@pytest.fixture
def tracking_uri(tmp_path, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    if (tmp_path / "mlruns" / "mlflow.db").exists():
        client = MlflowClient(uri)
        experiments = [e.experiment_id for e in client.search_experiments()]
        running = client.search_runs(experiments, "attributes.status = 'RUNNING'") if experiments else []
        assert not running, f"runs left RUNNING: {[r.info.run_name for r in running]}"
    mlflow.set_tracking_uri(None)
