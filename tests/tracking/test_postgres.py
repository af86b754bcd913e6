"""``mser-server`` on a real PostgreSQL server, with a search's workers logging at once (slow).

Needs Debian's ``postgresql`` package (CI installs it); without it the test fails, naming it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tracking.query import children, outcome
from tracking.schema import RETRIED_TAG, TRIAL_TAG, Outcome
from tracking.testing import free_port
from tracking.testing.postgres import postgres_server

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
TRIALS = 4


def test_a_search_logs_every_trial_once_through_a_server_on_postgresql(tiny_demo, tmp_path):
    env = {**os.environ, "MSER_CACHE_DIR": str(tmp_path / "cache"), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("MLFLOW_TRACKING_URI", None)
    env.pop("RAY_ADDRESS", None)
    with postgres_server() as database:
        port = free_port()
        uri = f"http://127.0.0.1:{port}"
        server = subprocess.Popen([str(BIN / "mser-server"), "--host", "127.0.0.1", "--port", str(port),
                                   "--backend-store-uri", database, "--artifacts-destination",
                                   str(tmp_path / "artifacts")], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            assert server.stdout.readline().strip() == uri, server.stderr.read()[-3000:]
            # Two trials at once, each logging its folds, results and model through the server.
            search = subprocess.run(
                [sys.executable, "-m", "cli.search", "--space", "smile_logreg", "--language", "de", "--trials",
                 str(TRIALS), "--max-concurrent", "2", "--top", "1", "--no-refit", "--tracking-uri", uri,
                 "--experiment", "postgres", "--data-root", str(tiny_demo)],
                env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
            assert search.returncode == 0, search.stderr[-3000:]
            client = MlflowClient(uri)
            experiment = client.get_experiment_by_name("postgres").experiment_id
            [parent] = client.search_runs([experiment], "tags.search = 'parent'")
            assert parent.info.status == "FINISHED"
            runs = children(client, experiment, parent.info.run_id)
            trials = [run for run in runs if run.data.tags.get(RETRIED_TAG) != "true"]
            per_trial = Counter(run.data.tags[TRIAL_TAG] for run in trials)
            assert len(trials) == TRIALS and set(per_trial.values()) == {1}, per_trial
            for run in trials:  # every run complete: ended, its outcome written, a finished one with its model
                assert run.info.status in ("FINISHED", "KILLED") and outcome(run) is not None, run.info
                if outcome(run) is Outcome.FINISHED:
                    assert "val_kappa" in run.data.metrics and "model_uri" in run.data.tags
                    assert client.get_metric_history(run.info.run_id, "cv_val_kappa_fold")
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=60)
