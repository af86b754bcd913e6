"""A throw-away PostgreSQL server for tests and benchmarks: Debian's ``postgresql`` binaries,
a fresh cluster in a temporary folder, on loopback, trust authentication, one database.

Used by the slow test of ``mser-server`` on PostgreSQL and by ``bench/store_load.py``.
PostgreSQL refuses to run as root: as root, the cluster belongs to the ``postgres`` user the
Debian package creates, and its commands run as that user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from tracking.testing import free_port

#: What to install when the binaries are missing.
INSTALL_HINT = "apt-get install postgresql (Debian's package; CI installs it)"


def binaries() -> Path:
    """The folder of ``initdb`` and ``pg_ctl`` (the newest PostgreSQL installed).

    Raises:
        FileNotFoundError: PostgreSQL is not installed, naming the package.
    """
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).parent
    raise FileNotFoundError(f"PostgreSQL's initdb was not found: {INSTALL_HINT}")


@contextmanager
def postgres_server(database: str = "mlflow") -> Iterator[str]:
    """Start a PostgreSQL server with an empty ``database``; yield its SQLAlchemy URL
    (``postgresql://postgres@127.0.0.1:PORT/DATABASE``); stop it and remove its files after."""
    bin_dir = binaries()
    as_root = os.geteuid() == 0
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    folder = Path(tempfile.mkdtemp(prefix="mser-postgres-", dir="/tmp"))
    data = folder / "data"
    port = free_port()
    try:
        if as_root:
            shutil.chown(folder, "postgres")
        run = _runner(prefix)
        run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--no-sync",
             "--encoding=UTF8"])
        run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "-t", "60", "-o",
             f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"])
        try:
            run([str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", database])
            yield f"postgresql://postgres@127.0.0.1:{port}/{database}"
        finally:
            run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _runner(prefix: list[str]):
    def run(command: list[str]) -> None:
        done = subprocess.run([*prefix, *command], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed ({done.returncode}): {done.stderr[-2000:]}")
    return run
