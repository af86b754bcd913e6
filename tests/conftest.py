"""Shared fixtures: every test gets its own cache folder; the tiny demo corpus is written once."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every test away from the user's ~/.cache/mser-search."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("MSER_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo corpus at the tiny scale, seed 0 (read-only for tests)."""
    from mser.demo import write_demo_corpus

    return write_demo_corpus(tmp_path_factory.mktemp("demo") / "tiny", seed=0, scale="tiny").root
