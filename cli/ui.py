"""``mser-ui``: the MLflow UI on this project's store, opened on the experiment's trials.

    mser-ui [--port 5000] [--host 127.0.0.1] [--experiment mser] [--tracking-uri URI] [--open]

The experiment is marked as a model-training one first, so MLflow 3 shows its runs
table of trials rather than its GenAI view. A tracking server (``http://...``) has its
own UI: the command then prints its address and starts nothing.
"""

from __future__ import annotations

import argparse
import sys
import webbrowser
from typing import Sequence

from cli.common import add_tracking_options, note, run
from tracking.processes import QUIET_SERVER, check_port, is_loopback, local_base, port_number, run_foreground
from tracking.store import artifact_root, ensure_store, experiment_id, resolve_tracking_uri

PROG = "mser-ui"
WORKFLOW = "workflowType=machine_learning"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start the MLflow UI on the project's tracking store and print the address of the "
                    "experiment's runs table (one row per trial, with its kappas). Ctrl-C stops it.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for all)")
    parser.add_argument("--port", type=port_number, default=5000, help="port (default: 5000)")
    parser.add_argument("--open", action="store_true", help="open the page in the default web browser")
    add_tracking_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def experiment_url(base: str, experiment: str | None) -> str:
    """The page of an experiment's runs table (or the experiments list).

    MLflow 3's UI keeps a "GenAI | Model training" switch per browser, GenAI unless told;
    the ``workflowType`` parameter sets it, and the experiment's kind tag covers the rest.
    """
    base = base.rstrip("/")
    if experiment is None:
        return f"{base}/#/experiments?{WORKFLOW}"
    return f"{base}/#/experiments/{experiment}/runs?{WORKFLOW}"


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    uri = resolve_tracking_uri(args.tracking_uri)
    client = ensure_store(uri, create=False)
    found = client.get_experiment_by_name(args.experiment)
    experiment = experiment_id(client, args.experiment) if found else None
    if found is None:
        note(f"no experiment {args.experiment!r} in {uri} yet: its runs appear once mser-search or mser-train runs")
    if uri.startswith(("http://", "https://")):
        print(experiment_url(uri, experiment))
        note(f"{uri} is a tracking server with its own UI: nothing to start")
        return 0
    check_port(args.host, args.port)
    if not is_loopback(args.host):
        note(f"{PROG}: warning: listening on {args.host}: anyone who reaches port {args.port} can read and change "
             "every run and model of this store (MLflow's UI has no login); for a team, run mser-server --auth")
    command = [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri, "--host", args.host,
               "--port", str(args.port), *([] if args.verbose else QUIET_SERVER)]
    if artifact_root(uri):  # experiments made in the UI keep their artifacts beside the store too
        command += ["--artifacts-destination", artifact_root(uri)]
    url = experiment_url(local_base(args.host, args.port), experiment)

    def ready() -> None:
        print(url, flush=True)
        note(f"MLflow UI on {uri}; Ctrl-C stops it")
        if args.open:
            webbrowser.open(url)

    return run_foreground(command, local_base(args.host, args.port), what="MLflow UI", on_ready=ready)


if __name__ == "__main__":
    sys.exit(main())
