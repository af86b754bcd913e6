"""Shared fixtures: every test gets its own cache folder and, when it asks, its own MLflow store
(failing if a run is left RUNNING); the tiny demo corpus is written once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import mlflow
import pytest
from mlflow.tracking import MlflowClient


def pytest_configure(config: pytest.Config) -> None:
    """Compile librosa's numba kernels once, before any test worker starts.

    Importing librosa's ``util``, ``core.audio`` and ``core.pitch`` compiles twelve kernels
    (``cache=True``, explicit signatures), about 30 s on 2 cores, and writes them to numba's
    cache beside librosa's sources. Every test worker, and every process a test starts (a Ray
    worker, a command), then loads them in well under a second. Compiled in each worker, as
    before, a CI run paid it twice per pytest run; with one cache for both workers, a worker
    crashed (a segmentation fault) in a cached kernel of ``librosa.core.pitch``, a cache written
    by two processes at once the likeliest cause. Here only the controller (or a run without
    xdist) writes; workers only read. librosa's lazily compiled kernels (``istft``'s,
    ``pyin``'s) are not used by the project."""
    if "PYTEST_XDIST_WORKER" not in os.environ:
        import librosa.core.audio  # noqa: F401
        import librosa.core.pitch  # noqa: F401
        import librosa.util.utils  # noqa: F401


#: Modules whose module fixture is a costly search or a cluster: with ``pytest -n 2`` each runs
#: on one worker (its fixture once); every other test goes to whichever worker is free.
ONE_WORKER = ("tests/search/test_report.py", "tests/test_cluster.py", "tests/test_functionals_flow.py",
              "tests/test_model_lifecycle.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """pytest-xdist's scheduler by scope, a scope being one of :data:`ONE_WORKER` or a single
    test; the larger scopes are handed out first. (The ``xdist_group`` mark with ``--dist
    loadgroup`` did not group here, pytest 9.2 with pytest-xdist 3.8: a group's tests went to
    both workers.)"""
    from xdist.scheduler import LoadScopeScheduling

    class OneWorkerModules(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return module if module in ONE_WORKER else nodeid

    return OneWorkerModules(config, log)


@pytest.fixture(scope="session", autouse=True)
def _store_template() -> None:
    """Every SQLite store MLflow creates in a test process is a copy of one it made once
    (:mod:`tracking.testing.sqlite`): 0.3 s where its migrations take 10 to 12 s. A test whose
    command process makes a store starts it with ``copy_template(path)``."""
    from tracking.testing import sqlite

    sqlite.install()


def _shared(factory: pytest.TempPathFactory) -> Path:
    """A folder every test worker of this run shares (the run's base temp)."""
    base = factory.getbasetemp()
    return base.parent if "PYTEST_XDIST_WORKER" in os.environ else base


#: The parts of a cache folder (:mod:`mser.cache`) a slow test shares with the run's others.
SHARED_CACHE = ("datasets", "functionals", "augmented")


@pytest.fixture(scope="session")
def shared_datasets(tmp_path_factory: pytest.TempPathFactory) -> Callable[[Path], Path]:
    """``shared_datasets(cache_dir)``: ``cache_dir``'s prepared datasets, functionals and
    augmented audio are the run's shared ones, so the tiny demo is read, its functionals
    extracted (about 20 s) and its augmented copies made (about 8 s, for every search of a
    windows space) once per run, not once per search test. The cache is keyed by content and
    safe for concurrent writers (:mod:`mser.cache`); whatever else a test caches (encoders)
    stays its own."""
    shared = _shared(tmp_path_factory) / "shared-cache"

    def link(cache_dir: Path) -> Path:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for part in SHARED_CACHE:
            (shared / part).mkdir(parents=True, exist_ok=True)
            if not (cache_dir / part).exists():
                (cache_dir / part).symlink_to(shared / part, target_is_directory=True)
        return cache_dir

    return link


@pytest.fixture(autouse=True)
def _own_cache(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every test away from the user's ~/.cache/mser-search; a slow test shares the
    run's prepared datasets (:func:`shared_datasets`)."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MSER_CACHE_DIR", str(cache))
    if request.node.get_closest_marker("slow"):
        request.getfixturevalue("shared_datasets")(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus at the tiny scale, seed 0 (read-only for tests), written once per run."""
    from filelock import FileLock

    from mser.demo import write_demo_corpus

    shared = _shared(tmp_path_factory)
    with FileLock(shared / "demo.lock"):
        return write_demo_corpus(shared / "demo" / "tiny", seed=0, scale="tiny").root


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
