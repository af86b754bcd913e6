"""``mser-server``: the MLflow tracking server every machine of a Ray cluster logs to.

    mser-server [--host 127.0.0.1] [--port 5000] [--backend-store-uri sqlite:///mlruns/mlflow.db]
                [--artifacts-destination mlruns/artifacts] [--workers 2] [--auth [--auth-file FILE]]

Runs and models go to the database; artifacts (pictures, models) are uploaded through
the server (``--serve-artifacts``) to its folder, so workers need no shared disk.

It listens on loopback only unless ``--host`` says otherwise, and warns when it listens
on a network without ``--auth``: MLflow's server has no authentication of its own, so
anyone who reaches the port can read and change every run and model. ``--auth`` runs
MLflow's basic-auth app (``--app-name basic-auth``) with its user database beside the
store (``basic_auth.db`` in the folder of a SQLite store, else in the folder holding
``--artifacts-destination``). The admin's credentials come from ``--auth-file FILE``
(one line ``USERNAME:PASSWORD``) or from MLflow's ``MLFLOW_AUTH_ADMIN_USERNAME``
(default ``admin``) and ``MLFLOW_AUTH_ADMIN_PASSWORD``, never from the command line;
they make the admin user the first time, and must match it afterwards. Clients log in
with MLflow's ``MLFLOW_TRACKING_USERNAME`` and ``MLFLOW_TRACKING_PASSWORD``.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import secrets
import socket
import stat
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Mapping, NamedTuple, Sequence

from cli.common import add_verbose_option, at_least, note, run
from mser.errors import MserError
from tracking.processes import QUIET_SERVER, check_port, is_loopback, local_base, port_number, run_foreground
from tracking.store import DEFAULT_STORE_DIR, check_store, ensure_store, sqlite_path

PROG = "mser-server"
DEFAULT_ADMIN = "admin"
#: MLflow refuses a shorter password for a user it creates.
MIN_PASSWORD_LENGTH = 12
AUTH_DATABASE = "basic_auth.db"
#: How long the server takes a password it has checked without checking it again.
LOGIN_CACHE_SECONDS = 60
USERNAME_ENV = "MLFLOW_AUTH_ADMIN_USERNAME"
PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"


class Credentials(NamedTuple):
    """The admin's user name and password, and where they were read (for messages)."""

    username: str
    password: str
    source: str


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Start an MLflow tracking server for searches on a Ray cluster: runs in a database, "
                    "artifacts uploaded through the server. Point every search at it with "
                    "--tracking-uri http://THIS_HOST:PORT. Ctrl-C stops it.",
        epilog="Without --auth, anyone who reaches the port can read and change every run and model: "
               "open it to a cluster with --host 0.0.0.0 (or the head's address) together with --auth, "
               "and have every client set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD.")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 or the "
                             "head's address for a cluster, with --auth)")
    parser.add_argument("--port", type=port_number, default=5000, help="port (default: 5000)")
    parser.add_argument("--backend-store-uri", default=None, metavar="URI",
                        help="database of runs and models (default: sqlite:///mlruns/mlflow.db; "
                             "postgresql://... for many writers)")
    parser.add_argument("--artifacts-destination", type=Path, default=DEFAULT_STORE_DIR / "artifacts", metavar="DIR",
                        help="where uploaded artifacts are kept (default: mlruns/artifacts)")
    parser.add_argument("--workers", type=at_least(1), default=2, metavar="N",
                        help="server worker processes (default: 2)")
    add_verbose_option(parser)
    auth = parser.add_argument_group("authentication")
    auth.add_argument("--auth", action="store_true",
                      help="require a user name and password (MLflow's basic-auth app); users are kept in "
                           f"{AUTH_DATABASE} beside the store. Clients set MLFLOW_TRACKING_USERNAME and "
                           "MLFLOW_TRACKING_PASSWORD")
    auth.add_argument("--auth-file", type=Path, metavar="FILE",
                      help="file holding the admin's USERNAME:PASSWORD on one line, readable only by you "
                           f"(implies --auth). Without it, --auth reads ${USERNAME_ENV} (default "
                           f"{DEFAULT_ADMIN}) and ${PASSWORD_ENV}. They make the admin on the first start "
                           "and must match it later")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run(_main, argv, PROG)


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    auth = args.auth or args.auth_file is not None
    credentials = read_credentials(args.auth_file, os.environ) if auth else None
    store = args.backend_store_uri or f"sqlite:///{(DEFAULT_STORE_DIR / 'mlflow.db').resolve()}"
    check_store(store)  # writes nothing: a start refused for its port or host leaves no database behind
    check_port(args.host, args.port)
    if not auth and not is_loopback(args.host):
        note(f"{PROG}: warning: listening on {args.host} with no authentication: anyone who reaches port "
             f"{args.port} can read and change every run and model; add --auth (admin credentials from "
             f"--auth-file or ${PASSWORD_ENV}) to require a password")
    ensure_store(store)  # creates and migrates the database once, before the server's workers race on it
    args.artifacts_destination.mkdir(parents=True, exist_ok=True)
    command = server_command(args, store, auth=auth)
    base = local_base(args.host, args.port)
    address = f"http://{_reachable_host(args.host)}:{args.port}"
    database = auth_database(store, args.artifacts_destination)
    with tempfile.TemporaryDirectory(prefix="mser-server-") as config_dir:
        if credentials is not None:  # the server inherits the environment
            os.environ.update(auth_environment(credentials, database, Path(config_dir), os.environ))

        def ready() -> None:
            if credentials is not None:
                check_login(base, credentials, database)
            print(address, flush=True)
            login = (f"; clients set MLFLOW_TRACKING_USERNAME={credentials.username} and "
                     "MLFLOW_TRACKING_PASSWORD to its password" if credentials is not None else "")
            note(f"MLflow tracking server on {store}, artifacts in {args.artifacts_destination.resolve()}; "
                 f"search with: mser-search --address HEAD_IP:6379 --tracking-uri {address}{login}; "
                 "Ctrl-C stops it")

        return run_foreground(command, base, what="MLflow tracking server", on_ready=ready)


def server_command(args: argparse.Namespace, store: str, *, auth: bool) -> list[str]:
    """The ``mlflow server`` command for the parsed options, with MLflow's basic-auth app if ``auth``."""
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", store, "--serve-artifacts",
               "--artifacts-destination", str(args.artifacts_destination.resolve()), "--host", args.host,
               "--port", str(args.port), "--workers", str(args.workers),
               *allowed_hosts_option(args.host, args.port), *([] if args.verbose else QUIET_SERVER)]
    return [*command, "--app-name", "basic-auth"] if auth else command


def allowed_hosts_option(host: str, port: int) -> list[str]:
    """``--allowed-hosts`` for a server listening beyond loopback: MLflow's defaults (loopback and
    private addresses) and the names and address this command prints, which MLflow's host check
    would otherwise refuse (a public or test-net address, the machine's name). None when
    ``$MLFLOW_SERVER_ALLOWED_HOSTS`` sets the list, or on loopback (MLflow's default suffices)."""
    if os.environ.get("MLFLOW_SERVER_ALLOWED_HOSTS") or is_loopback(host):
        return []
    from mlflow.server.security_utils import get_default_allowed_hosts

    names = dict.fromkeys(n for n in (host, _reachable_host(host), socket.gethostname(), socket.getfqdn())
                          if n not in ("0.0.0.0", "::"))
    own = [pattern for name in names for pattern in (name, f"{name}:{port}")]
    return ["--allowed-hosts", ",".join(dict.fromkeys([*get_default_allowed_hosts(), *own]))]


def read_credentials(auth_file: Path | None, environ: Mapping[str, str]) -> Credentials:
    """The admin's credentials from ``auth_file`` (``USERNAME:PASSWORD``), else from the environment.

    Raises:
        MserError: The file is unreadable or malformed, nothing gives a password, the password is
            too short for MLflow, or MLflow's auth extra is missing; with the fix.
    """
    if importlib.util.find_spec("flask_wtf") is None:
        raise MserError("--auth needs MLflow's auth extra, which is not installed: pip install 'mlflow[auth]'")
    if auth_file is not None:
        credentials = _read_auth_file(auth_file)
    elif environ.get(PASSWORD_ENV):
        credentials = Credentials(environ.get(USERNAME_ENV) or DEFAULT_ADMIN, environ[PASSWORD_ENV],
                                  f"${PASSWORD_ENV}")
    else:
        raise MserError(f"--auth needs the admin's credentials: pass --auth-file FILE holding USERNAME:PASSWORD "
                        f"on one line, or set {PASSWORD_ENV} (and {USERNAME_ENV}, default {DEFAULT_ADMIN})")
    if len(credentials.password) < MIN_PASSWORD_LENGTH:
        raise MserError(f"the admin password from {credentials.source} is shorter than {MIN_PASSWORD_LENGTH} "
                        "characters, which MLflow refuses: choose a longer one")
    return credentials


def _read_auth_file(path: Path) -> Credentials:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise MserError(f"cannot read the credentials file {path} ({reason}): "
                        "give --auth-file a readable file holding USERNAME:PASSWORD on one line") from None
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    username, colon, password = entries[0].partition(":") if entries else ("", "", "")
    if len(entries) != 1 or not colon or not username:
        raise MserError(f"the credentials file {path} must hold one line USERNAME:PASSWORD "
                        "(blank lines and # comments aside)")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        note(f"{PROG}: warning: the credentials file {path} can be read by other users of this machine; "
             f"chmod 600 {path}")
    return Credentials(username, password, str(path))


def auth_database(store: str, artifacts_destination: Path) -> Path:
    """Where the users are kept: beside a SQLite store, else beside the artifacts folder (never in it,
    since the server hands out what is in there)."""
    database = sqlite_path(store)
    folder = database.parent if database is not None else artifacts_destination.resolve().parent
    return folder.resolve() / AUTH_DATABASE


def auth_environment(credentials: Credentials, database: Path, config_dir: Path,
                     environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of MLflow's basic-auth app: a configuration (written to ``config_dir``) with its
    user database, the admin's credentials, and a secret key (``$MLFLOW_FLASK_SERVER_SECRET_KEY`` of
    ``environ``, else a new one for this start)."""
    config = config_dir / "basic_auth.ini"
    # Each request checks the password hash (scrypt) several times, about a second of the server's CPU:
    # a successful check is cached for a while, so a password changed through MLflow's API may still
    # be taken for that long by the server's other workers.
    config.write_text(f"[mlflow]\ndefault_permission = READ\ndatabase_uri = sqlite:///{database}\n"
                      f"auth_cache_ttl_seconds = {LOGIN_CACHE_SECONDS}\n", encoding="utf-8")
    return {"MLFLOW_AUTH_CONFIG_PATH": str(config), USERNAME_ENV: credentials.username,
            PASSWORD_ENV: credentials.password,
            SECRET_KEY_ENV: environ.get(SECRET_KEY_ENV) or secrets.token_hex(32)}


def check_login(base: str, credentials: Credentials, database: Path) -> None:
    """Make sure the admin can log in: credentials only make the admin on the first start.

    Raises:
        MserError: The user database holds the admin with another password, with the fixes.
    """
    token = base64.b64encode(f"{credentials.username}:{credentials.password}".encode()).decode()
    request = urllib.request.Request(f"{base}/api/2.0/mlflow/users/current",
                                     headers={"Authorization": f"Basic {token}"})
    try:
        urllib.request.urlopen(request, timeout=30).close()
    except urllib.error.HTTPError as error:
        if error.code != 401:
            raise
        raise MserError(f"the user database {database} already has the user {credentials.username} with "
                        f"another password than the one from {credentials.source} (credentials only make "
                        "the admin on the first start): give its current password, change it with MLflow's "
                        f"update-password API, or delete {database} to start again without users") from None


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
