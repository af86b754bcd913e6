"""``mser-server``: the MLflow tracking server every machine of a Ray cluster logs to.

    mser-server [--host 0.0.0.0] [--port 5000] [--backend-store-uri sqlite:///mlruns/mlflow.db]
                [--artifacts-destination mlruns/artifacts] [--workers 2]

Runs and models go to the database; artifacts (pictures, models) are uploaded through
the server (``--serve-artifacts``) to its folder, so workers need no shared disk.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import Sequence

from mser.cli.common import note, run
from tracking.processes import check_port, local_base, run_foreground
from tracking.store import DEFAULT_STORE_DIR, ensure_store

PROG = "mser-server"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start an MLflow tracking server for searches on a Ray cluster: runs in a database, "
                    "artifacts uploaded through the server. Point every search at it with "
                    "--tracking-uri http://THIS_HOST:PORT. Ctrl-C stops it.")
    parser.add_argument("--host", default="0.0.0.0",
                        help="address to listen on (default: 0.0.0.0, reachable from the cluster's machines)")
    parser.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    parser.add_argument("--backend-store-uri", default=None, metavar="URI",
                        help="database of runs and models (default: sqlite:///mlruns/mlflow.db; "
                             "postgresql://... for many writers)")
    parser.add_argument("--artifacts-destination", type=Path, default=DEFAULT_STORE_DIR / "artifacts", metavar="DIR",
                        help="where uploaded artifacts are kept (default: mlruns/artifacts)")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (default: 2)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    store = args.backend_store_uri or f"sqlite:///{(DEFAULT_STORE_DIR / 'mlflow.db').resolve()}"
    ensure_store(store)  # creates and migrates the database once, before the server's workers race on it
    check_port(args.host, args.port)
    args.artifacts_destination.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store, "--serve-artifacts",
               "--artifacts-destination", str(args.artifacts_destination.resolve()), "--host", args.host,
               "--port", str(args.port), "--workers", str(args.workers)]
    address = f"http://{_reachable_host(args.host)}:{args.port}"

    def ready() -> None:
        print(address, flush=True)
        note(f"MLflow tracking server on {store}, artifacts in {args.artifacts_destination.resolve()}; "
             f"search with: mser-search --address HEAD_IP:6379 --tracking-uri {address}; Ctrl-C stops it")

    return run_foreground(command, local_base(args.host, args.port), what="MLflow tracking server", on_ready=ready)


def _reachable_host(host: str) -> str:
    """This machine's address on its network when listening everywhere, else ``host``."""
    if host not in ("0.0.0.0", "::"):
        return host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent; this picks the outgoing interface
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


if __name__ == "__main__":
    sys.exit(main())
