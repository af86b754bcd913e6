"""Test helpers for the MLflow side (a testing subpackage, as Optuna keeps ``optuna.testing``): a
registered model served over REST on loopback, JSON over HTTP, free ports; a throw-away
PostgreSQL server in :mod:`tracking.testing.postgres`."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Mapping


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served_model(model_uri: str, env: Mapping[str, str], *, timeout: float = 180) -> Iterator[str]:
    """``mlflow models serve`` of ``model_uri`` on loopback; yields its ``/invocations`` address."""
    port = free_port()
    # The serve command runs uvicorn from this environment.
    env = {**env, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(["mlflow", "models", "serve", "-m", model_uri, "--env-manager", "local",
                               "--host", "127.0.0.1", "--port", str(port)],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"the model server exited: {server.stderr.read()[-3000:]}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the model server did not start") from None
                time.sleep(1)
        yield f"http://127.0.0.1:{port}/invocations"
    finally:
        server.terminate()
        server.wait(timeout=30)


def post_json(url: str, body: dict, *, timeout: float = 120) -> dict:
    """POST ``body`` as JSON and return the JSON answer."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def get_json(url: str, *, wait: float = 0, timeout: float = 30) -> dict:
    """GET ``url``'s JSON answer, retrying for up to ``wait`` seconds while nothing answers yet
    (a server still starting)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
