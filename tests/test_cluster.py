"""A real two-node Ray cluster and a real MLflow tracking server on loopback, and faults (slow).

The head and a worker node are started with ``ray start`` (each with one CPU), the
tracking server with ``mser-server``; searches run as the ``mser-search`` command
with ``--address`` and ``--tracking-uri http://...``. Then, in one search, a trial's
worker process is killed, the worker node is removed and the tracking server goes away
for a while; in another the driver is killed and resumed; in a third the server goes for good
and the search is resumed once it is back. Every process started here is
stopped.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import psutil
import pytest
from mlflow.tracking import MlflowClient

from tracking.testing.sqlite import copy_template

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _ray(*args: str, env: dict) -> None:
    subprocess.run([str(BIN / "ray"), *args], env=env, check=True, capture_output=True, timeout=180)


class Server:
    """``mser-server`` on loopback, which can be taken away and brought back."""

    def __init__(self, root: Path, env: dict) -> None:
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.command = [str(BIN / "mser-server"), "--host", "127.0.0.1", "--port", str(self.port),
                        "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
                        "--artifacts-destination", str(root / "artifacts"), "--workers", "1"]
        self.env, self.root, self.process = env, root, None

    def start(self) -> None:
        if not (self.root / "server.db").exists():
            copy_template(self.root / "server.db")
        self.process = subprocess.Popen(self.command, env=self.env, cwd=self.root, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
        assert self.process.stdout.readline().strip() == self.uri  # printed once it answers

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # mser-server stops its server's process group
            self.process.wait(timeout=60)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, tiny_demo, shared_datasets):
    root = tmp_path_factory.mktemp("cluster")
    shared_datasets(root / "cache")
    # A temp dir of its own keeps this cluster out of the way of other tests' ray.init().
    temp_dir = Path("/tmp") / f"ray-mser-{os.getpid()}"
    # Ray's head turns on token authentication (the token in ~/.ray/auth_token); every
    # other process of the cluster is told to use it, as the README says.
    env = {**os.environ, "MSER_CACHE_DIR": str(root / "cache"), "RAY_USAGE_STATS_ENABLED": "0",
           "RAY_AUTH_MODE": "token"}
    env.pop("MLFLOW_TRACKING_URI", None)
    port = _free_port()
    address = f"127.0.0.1:{port}"
    server = Server(root, env)
    try:
        _ray("start", "--head", f"--port={port}", "--num-cpus=1", "--node-ip-address=127.0.0.1",
             "--include-dashboard=false", f"--temp-dir={temp_dir}", "--resources={\"head\": 1}", env=env)
        _ray("start", f"--address={address}", "--num-cpus=1", "--node-ip-address=127.0.0.1", env=env)
        server.start()
        yield {"root": root, "env": env, "address": address, "server": server, "demo": tiny_demo}
    finally:
        server.stop()
        _stop_cluster(temp_dir, port)


def _stop_cluster(temp_dir: Path, port: int) -> None:
    """Stop this cluster's processes, and only them: ``ray stop`` would stop every Ray of the
    machine, another test's (run beside this one) too. Its processes name its temp dir or its
    head's port; its workers and agents are their children."""
    def ours(args: list[str]) -> bool:
        return any(str(temp_dir) in arg or (arg.startswith("--address=") and arg.endswith(f":{port}"))
                   for arg in args)

    roots = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] and ours(p.info["cmdline"])]
    doomed = {p.pid: p for root in roots for p in [root, *_children(root)]}
    for process in doomed.values():
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(doomed.values()), timeout=30)


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _search(cluster, experiment: str, trials: int, *extra: str, epochs: int = 24) -> list[str]:
    # Long enough trials (no pruning, no early stop, 24 epochs: about 20 s) that faults find them running.
    return [sys.executable, "-m", "cli.search", "--space", "cnn_features", "--language", "de", "--trials",
            str(trials), "--max-epochs", str(epochs), "--grace-period", str(epochs), "--patience", str(epochs),
            "--address", cluster["address"],
            "--tracking-uri", cluster["server"].uri, "--experiment", experiment, "--data-root",
            str(cluster["demo"]), "--top", "1", *extra]


def _start(cluster, command: list[str]) -> subprocess.Popen:
    return subprocess.Popen(command, env=cluster["env"], cwd=cluster["root"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 300) -> None:
    """Read the search's progress lines until one contains ``text``."""
    deadline = time.monotonic() + timeout
    for line in process.stderr:
        if text in line:
            return
        assert time.monotonic() < deadline, f"no progress line with {text!r}"
    raise AssertionError(f"the search ended before printing {text!r}")


def _finish(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, err[-3000:]
    assert out.lstrip().startswith("["), out[:2000]  # stdout holds the JSON only
    return json.loads(out)[0]


def _tree(cluster, experiment: str, *, refits: int = 1) -> tuple[object, list]:
    """The study's parent run and its trials' runs; its refit (``refits`` of them: one once the
    search is over, none before) is checked apart, as it is not a trial."""
    client = MlflowClient(cluster["server"].uri)
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    [parent] = client.search_runs([experiment_id], "tags.search = 'parent'")
    children = client.search_runs([experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'")
    refit = [c for c in children if "refit_of" in c.data.tags]
    assert len(refit) == refits
    for run in refit:  # trained and logged through the server like any trial
        assert run.info.status == "FINISHED" and run.data.tags["model_uri"] and "test_kappa" in run.data.metrics
        assert parent.data.tags.get("result_run_id") == run.info.run_id
    return parent, [c for c in children if "refit_of" not in c.data.tags]


def _check_complete(parent, children, trials: int) -> list:
    """One run per trial (plus failed attempts tagged retried), all ended, the parent finished."""
    assert parent.info.status == "FINISHED"
    attempts = [c for c in children if c.data.tags.get("retried") != "true"]
    assert len(attempts) == trials and len({c.data.tags["trial_id"] for c in attempts}) == trials
    assert all(c.info.status in ("FINISHED", "KILLED", "FAILED") for c in children)
    for child in attempts:
        if child.info.status == "FINISHED":  # artifacts went up through the server
            assert child.data.tags["model_uri"] and "val_kappa" in child.data.metrics
    return [c for c in children if c.data.tags.get("retried") == "true"]


def _trial_workers(count: int = 1, timeout: float = 300) -> list[psutil.Process]:
    """The worker processes of running trials, once there are ``count`` of them."""
    deadline = time.monotonic() + timeout
    while True:
        workers = [p for p in psutil.process_iter(["cmdline"]) if "ImplicitFunc" in " ".join(p.info["cmdline"] or [])]
        if len(workers) >= count:
            return workers
        assert time.monotonic() < deadline, f"never {count} trials running at once"
        time.sleep(0.5)


def _running_run_on(cluster, experiment: str, node: str, timeout: float = 300, *, avoid: str | None = None):
    """A trial's run that is RUNNING on ``node`` (any node for "", but not on ``avoid``) and has
    logged an epoch: a trial mid-training there."""
    client = MlflowClient(cluster["server"].uri)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = client.get_experiment_by_name(experiment)
        runs = client.search_runs([found.experiment_id], "attributes.status = 'RUNNING'") if found else []
        for run in runs:
            where = run.data.tags.get("ray_node", "")
            if where.startswith(node) and not (avoid and where.startswith(avoid)) and any(
                    name.startswith("epoch/") for name in run.data.metrics):
                return run
        time.sleep(0.2)
    raise AssertionError(f"no trial ever ran on node {node}")


def test_refuses_a_local_store_on_a_cluster(cluster):
    command = _search(cluster, "local", 2)
    command[command.index("--tracking-uri") + 1] = f"sqlite:///{cluster['root'] / 'local.db'}"
    result = subprocess.run(command, env=cluster["env"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "cannot reach the tracking store" in result.stderr and "mser-server" in result.stderr


def test_trials_run_on_both_nodes_and_no_trial_is_lost_to_a_killed_worker_a_removed_node_or_a_server_outage(
        cluster):
    """One search meets every fault in turn: a trial's worker process is killed mid-training,
    then the worker node is removed while a trial trains there, then the tracking server goes
    away for a while and comes back on the same address."""
    nodes = subprocess.run([sys.executable, "-c", "import json, ray; ray.init(address='auto', logging_level='ERROR'); "
                            "print(json.dumps([n for n in ray.nodes() if n['Alive']]))"],
                           env={**cluster["env"], "RAY_ADDRESS": cluster["address"]}, capture_output=True, text=True,
                           timeout=120, check=True)
    [worker_node] = [n for n in json.loads(nodes.stdout.strip().splitlines()[-1]) if "head" not in n["Resources"]]
    process = _start(cluster, _search(cluster, "faults", 4, "--json"))
    _trial_workers(2)
    # A trial mid-training on the head, and the process running it, is killed: the trial runs again.
    killed = _running_run_on(cluster, "faults", "", avoid=worker_node["NodeID"][:12])
    psutil.Process(int(killed.data.tags["ray_worker_pid"])).kill()
    # The worker node goes while a trial trains there: its raylet dies, and with it that trial.
    lost = _running_run_on(cluster, "faults", worker_node["NodeID"][:12])
    [raylet] = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] and p.info["cmdline"][0].endswith(
        "raylet") and f"--node_id={worker_node['NodeID']}" in p.info["cmdline"]]
    raylet.kill()
    # The tracking server goes away for a while, and comes back on the same address.
    _wait_for(process, "trials ended")
    cluster["server"].stop()
    time.sleep(8)
    cluster["server"].start()
    summary = _finish(process)
    parent, children = _tree(cluster, "faults")  # the refit too, trained and logged through the server
    retried = _check_complete(parent, children, 4)
    assert summary["trials"]["runs"] == 4 and summary["trials"]["retried"] == len(retried)
    nodes = Counter(c.data.tags["ray_node"].split("@")[0] for c in children)
    assert len(nodes) == 2, nodes  # both machines of the cluster ran trials
    # Each trial a fault interrupted ended FAILED, tagged retried, and ran again to its end.
    for doomed in (killed, lost):
        [run] = [c for c in children if c.info.run_id == doomed.info.run_id]
        assert run.info.status == "FAILED" and run.data.tags.get("retried") == "true", run.data.tags
        assert run.info.run_id in {r.info.run_id for r in retried}
        again = [c for c in children if c.data.tags["trial_id"] == run.data.tags["trial_id"]
                 and c.data.tags.get("retried") != "true"]
        assert len(again) == 1, again
    # The one from the removed node ran again elsewhere.
    [again] = [c for c in children if c.data.tags["trial_id"] == lost.data.tags["trial_id"]
               and c.data.tags.get("retried") != "true"]
    assert not again.data.tags["ray_node"].startswith(worker_node["NodeID"][:12])


def test_a_killed_driver_resumes_without_duplicates(cluster):
    # Killed between trials: they can be short (10 epochs, no augmentation's three times the audio).
    command = _search(cluster, "driver", 6, "--no-refit", "--fix", "augment.speed=false", epochs=10)
    # Tune saves its state at most every 10 s, so a driver killed outright loses the trials
    # it started since. Saving only once, as the search starts, makes that certain: trial 3
    # starts once a first trial has ended, so the resumed search does not know it.
    process = subprocess.Popen(command, env={**cluster["env"], "TUNE_GLOBAL_CHECKPOINT_S": "3600"},
                               cwd=cluster["root"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for(process, "3/6 trials ended")
    process.kill()  # no clean-up at all: the driver is gone
    process.wait(timeout=60)
    parent, before = _tree(cluster, "driver", refits=0)
    assert parent.info.status == "RUNNING" and 3 <= len(before) < 6 + 2
    resumed = subprocess.run([*command, "--resume", "--json"], env=cluster["env"], cwd=cluster["root"],
                             capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout)[0]["parent_run_id"] == parent.info.run_id
    assert "the interrupted driver started after it last saved its state" in resumed.stderr
    parent_after, children = _tree(cluster, "driver", refits=0)  # still exactly one parent
    _check_complete(parent_after, children, 6)
    # What the dead driver recorded is either kept (its trial is in the resumed search) or
    # in the trash, never lost.
    kept = {c.info.run_id for c in children}
    client = MlflowClient(cluster["server"].uri)
    assert all(r.info.run_id in kept or client.get_run(r.info.run_id).info.lifecycle_stage == "deleted"
               for r in before)


def test_a_lost_tracking_server_stops_the_search_in_one_line_and_resume_finishes_it(cluster):
    """The server goes for good mid-search: the search stops in bounded time with one line."""
    env = {**cluster["env"], "MSER_SERVER_LOST_SECONDS": "10"}
    server = cluster["server"]
    command = [*_search(cluster, "lost", 2, "--no-refit", epochs=12), "--max-concurrent", "1"]
    process = subprocess.Popen(command, env=env, cwd=cluster["root"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    try:
        _wait_for(process, "1 running")
        server.stop()
        gone = time.monotonic()
        _, said = process.communicate(timeout=300)
        took = time.monotonic() - gone
    finally:
        if process.poll() is None:
            process.kill()
        if server.process.poll() is not None:
            server.start()
    assert process.returncode == 1, said[-3000:]
    assert took < 150, f"the search took {took:.0f} s to notice its server was gone"
    assert "Traceback" not in said
    last = said.strip().splitlines()[-1]
    assert last.startswith(f"mser-search: error: the tracking server {server.uri} stopped answering") and \
        "--resume" in last, last
    resumed = subprocess.run([*command, "--resume", "--json"], env=env, cwd=cluster["root"], capture_output=True,
                             text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    parent, children = _tree(cluster, "lost", refits=0)
    _check_complete(parent, children, 2)
