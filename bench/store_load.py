"""Many writers through one tracking server: SQLite vs PostgreSQL behind ``mser-server`` (issue 31).

    python bench/store_load.py [--writers 8] [--seconds 60] [--out bench/store_load.json]

For each backend, a fresh ``mser-server`` (its default 2 workers) on loopback and N writer
processes that log through it for the given time, as a search's trials do: each opens a
run, logs a batch of 10 metrics per step (one call), a tag every 10 steps, and ends the
run every 50 steps to open another. Measured per backend: calls per second in all, the
slowest call, and the calls that failed (MLflow's client retries a failed request a few
times before raising; what raises is counted). Afterwards the store is read back: runs,
metric values and ended runs must be what the writers say they logged.

PostgreSQL comes from Debian's ``postgresql`` package (a throw-away cluster,
``tracking/testing/postgres.py``); the driver from the ``postgres`` extra.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

METRICS_PER_STEP = 10
STEPS_PER_RUN = 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--writers", type=int, default=8, help="concurrent writer processes (default: 8)")
    parser.add_argument("--seconds", type=float, default=60, help="how long they write, per backend (default: 60)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated (default: both)")
    parser.add_argument("--out", type=Path, default=HERE / "store_load.json", help="results file")
    args = parser.parse_args()
    from tracking.testing.postgres import postgres_server

    results = {"date": time.strftime("%Y-%m-%d"), "writers": args.writers, "seconds": args.seconds,
               "metrics_per_call": METRICS_PER_STEP}
    with tempfile.TemporaryDirectory(prefix="mser-bench-store-") as work:
        for backend in args.backends.split(","):
            folder = Path(work) / backend
            folder.mkdir()
            if backend == "sqlite":
                results[backend] = _measure(f"sqlite:///{folder / 'mlflow.db'}", folder, args)
            else:
                with postgres_server() as database:
                    results[backend] = _measure(database, folder, args)
            print(f"{backend}: {json.dumps(results[backend])}", file=sys.stderr, flush=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


def _measure(store: str, folder: Path, args) -> dict:
    from mlflow.tracking import MlflowClient

    from tracking.testing import free_port

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([str(Path(sys.executable).parent / "mser-server"), "--host", "127.0.0.1", "--port",
                               str(port), "--backend-store-uri", store, "--artifacts-destination",
                               str(folder / "artifacts")], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, cwd=folder)
    try:
        if server.stdout.readline().strip() != uri:
            raise SystemExit(f"mser-server on {store} did not start")
        experiment = MlflowClient(uri).create_experiment("load")
        with multiprocessing.get_context("spawn").Pool(args.writers) as pool:
            started = time.perf_counter()
            done = pool.starmap(_write, [(uri, experiment, args.seconds, i) for i in range(args.writers)])
            wall = time.perf_counter() - started
        client = MlflowClient(uri)
        stored = client.search_runs([experiment], max_results=10000)
        values = sum(len(client.get_metric_history(run.info.run_id, "m0")) for run in stored)
        calls = sum(d["calls"] for d in done)
        # Each writer writes for ``seconds`` from its own start (after its imports).
        return {"calls": calls, "calls_per_s": round(calls / args.seconds, 1),
                "metric_values_per_s": round(sum(d["steps"] for d in done) * METRICS_PER_STEP / args.seconds, 1),
                "wall_s": round(wall, 1),
                "errors": sum(d["errors"] for d in done), "first_errors": [e for d in done for e in d["messages"]][:3],
                "slowest_call_s": round(max(d["slowest"] for d in done), 3),
                "median_call_ms": round(sorted(x for d in done for x in d["sample"])[
                    len([x for d in done for x in d["sample"]]) // 2] * 1000, 1),
                "runs_written": sum(d["runs"] for d in done), "runs_stored": len(stored),
                "runs_ended": sum(run.info.status == "FINISHED" for run in stored),
                "steps_written": sum(d["steps"] for d in done), "steps_stored": values}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


def _write(uri: str, experiment: str, seconds: float, writer: int) -> dict:
    from mlflow.entities import Metric, RunTag
    from mlflow.tracking import MlflowClient

    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "2"
    client = MlflowClient(uri)
    calls = errors = runs = steps = 0
    slowest, sample, messages = 0.0, [], []
    deadline = time.monotonic() + seconds
    run_id, step = None, 0
    while time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            if run_id is None:
                run_id, step = client.create_run(experiment, run_name=f"w{writer}-{runs}").info.run_id, 0
                runs += 1
            else:
                now = int(time.time() * 1000)
                client.log_batch(run_id, metrics=[Metric(f"m{k}", float(step + k), now, step)
                                                  for k in range(METRICS_PER_STEP)],
                                 tags=[RunTag("step", str(step))] if step % 10 == 0 else [])
                steps += 1
                step += 1
                if step == STEPS_PER_RUN:
                    client.set_terminated(run_id)
                    run_id = None
            calls += 1
        except Exception as error:  # noqa: BLE001 - counted, the writer goes on
            errors += 1
            if len(messages) < 2:
                messages.append(f"{type(error).__name__}: {str(error)[:200]}")
        took = time.perf_counter() - started
        slowest = max(slowest, took)
        if calls % 5 == 0:
            sample.append(took)
    if run_id is not None:
        client.set_terminated(run_id)
    return {"calls": calls, "errors": errors, "runs": runs, "steps": steps, "slowest": slowest, "sample": sample,
            "messages": messages}


if __name__ == "__main__":
    main()
