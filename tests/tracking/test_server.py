"""``mser-server``: closed by default, and MLflow's basic-auth app with ``--auth``.

The fast tests run the command's body with the store and the server replaced; the slow
one starts a real ``mser-server --auth`` on loopback and logs in to it, or fails to.
"""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import pytest
import requests
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from cli import server as server_cli
from cli.server import (
    AUTH_DATABASE,
    Credentials,
    auth_database,
    build_parser,
    check_login,
    is_loopback,
    main,
    read_credentials,
    server_command,
)
from mser.errors import MserError
from tracking.testing import free_port
from tracking.testing.sqlite import copy_template

PASSWORD = "correct-horse-battery"
AUTH_ENV = ("MLFLOW_AUTH_CONFIG_PATH", "MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD",
            "MLFLOW_FLASK_SERVER_SECRET_KEY")


@pytest.fixture
def started(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    """``main`` with the store and the server faked: each start records its command and the auth
    environment the server would inherit (restored after the test)."""
    for name in AUTH_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(server_cli, "ensure_store", lambda uri: None)
    starts: list[dict] = []

    def run_foreground(command, base, *, what, on_ready):
        config = os.environ.get("MLFLOW_AUTH_CONFIG_PATH")
        starts.append({"command": command, "env": {name: os.environ.get(name) for name in AUTH_ENV},
                       "config": Path(config).read_text() if config else None})
        return 0

    monkeypatch.setattr(server_cli, "run_foreground", run_foreground)
    return starts


def _auth_file(folder: Path, text: str = f"alice:{PASSWORD}\n") -> Path:
    path = folder / "credentials"
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_listens_on_loopback_without_auth_by_default(started, capsys):
    assert build_parser().parse_args([]).host == "127.0.0.1"
    assert main(["--port", str(free_port())]) == 0
    [start] = started
    host = start["command"].index("--host")
    assert start["command"][host + 1] == "127.0.0.1" and "--app-name" not in start["command"]
    assert start["env"]["MLFLOW_AUTH_CONFIG_PATH"] is None
    assert "warning" not in capsys.readouterr().err


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("127.3.2.1", True), ("::1", True),
                                                 ("localhost", True), ("0.0.0.0", False), ("::", False),
                                                 ("10.0.0.5", False), ("head.example.org", False)])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_a_network_host_without_auth_is_warned_about_in_one_line(started, capsys):
    assert main(["--host", "0.0.0.0", "--port", str(free_port())]) == 0
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("mser-server: warning: listening on 0.0.0.0 with no authentication")
    assert "can read and change every run and model" in line and "--auth" in line


def test_auth_runs_mlflows_basic_auth_app_with_users_beside_the_store(started, tmp_path, capsys):
    store = tmp_path / "store" / "runs.db"
    assert main(["--host", "0.0.0.0", "--port", str(free_port()), "--auth-file", str(_auth_file(tmp_path)),
                 "--backend-store-uri", f"sqlite:///{store}"]) == 0
    [start] = started
    assert start["command"][-2:] == ["--app-name", "basic-auth"]
    assert f"database_uri = sqlite:///{store.parent / AUTH_DATABASE}" in start["config"]
    assert "auth_cache_ttl_seconds = 60" in start["config"]  # not a password hash check per request
    assert start["env"]["MLFLOW_AUTH_ADMIN_USERNAME"] == "alice"
    assert start["env"]["MLFLOW_AUTH_ADMIN_PASSWORD"] == PASSWORD
    assert start["env"]["MLFLOW_FLASK_SERVER_SECRET_KEY"]
    captured = capsys.readouterr()
    assert captured.err == "" and PASSWORD not in captured.out  # no warning, and the password never shown


def test_the_command_builder_adds_the_auth_app_only_with_auth():
    args = build_parser().parse_args(["--workers", "1"])
    plain = server_command(args, "sqlite:///x.db", auth=False)
    assert plain[plain.index("--workers") + 1] == "1" and "--serve-artifacts" in plain
    assert server_command(args, "sqlite:///x.db", auth=True) == [*plain, "--app-name", "basic-auth"]
    # uvicorn's access log and INFO lines stay off the terminal unless --verbose.
    assert plain[plain.index("--uvicorn-opts") + 1] == "--no-access-log --log-level warning"
    assert "--uvicorn-opts" not in server_command(build_parser().parse_args(["--verbose"]), "sqlite:///x.db",
                                                  auth=False)


def test_the_users_of_a_server_database_are_kept_beside_the_artifacts_not_in_them(tmp_path):
    database = auth_database("postgresql://db.example.org/mlflow", tmp_path / "served" / "artifacts")
    assert database == tmp_path / "served" / AUTH_DATABASE


@pytest.mark.parametrize("argv", [["--auth"], ["--auth", "--host", "0.0.0.0"]])
def test_auth_without_credentials_is_refused_in_one_line(started, argv, capsys):
    assert main([*argv, "--port", str(free_port())]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("mser-server: error: --auth needs the admin's credentials")
    assert "--auth-file FILE" in line and "MLFLOW_AUTH_ADMIN_PASSWORD" in line
    assert started == []


@pytest.mark.parametrize(("text", "message"), [
    (None, "cannot read the credentials file"),
    ("", "must hold one line USERNAME:PASSWORD"),
    (PASSWORD, "must hold one line USERNAME:PASSWORD"),
    (f"alice:{PASSWORD}\nbob:{PASSWORD}\n", "must hold one line USERNAME:PASSWORD"),
    ("alice:short", "shorter than 12 characters"),
])
def test_a_bad_credentials_file_is_refused_in_one_line(started, tmp_path, capsys, text, message):
    path = tmp_path / "missing" if text is None else _auth_file(tmp_path, text)
    assert main(["--auth-file", str(path), "--port", str(free_port())]) == 2
    [line] = capsys.readouterr().err.splitlines()
    assert message in line and str(path) in line and PASSWORD not in line
    assert started == []


def test_a_credentials_file_others_can_read_is_warned_about(tmp_path, capsys):
    path = _auth_file(tmp_path, f"# the admin of the search server\n\n alice:{PASSWORD} \n")
    path.chmod(0o644)
    assert read_credentials(path, {}) == Credentials("alice", PASSWORD, str(path))
    assert f"chmod 600 {path}" in capsys.readouterr().err


def test_credentials_come_from_mlflows_environment_variables_too(tmp_path):
    assert read_credentials(None, {"MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD}).username == "admin"
    environ = {"MLFLOW_AUTH_ADMIN_USERNAME": "root", "MLFLOW_AUTH_ADMIN_PASSWORD": PASSWORD}
    assert read_credentials(None, environ)[:2] == ("root", PASSWORD)
    # The file, when given, wins over the environment.
    assert read_credentials(_auth_file(tmp_path), environ)[:2] == ("alice", PASSWORD)


@pytest.fixture
def answering() -> Iterator[tuple[str, list[int]]]:
    """A local server answering every GET with the last status of the list; yields its address and
    the list."""
    statuses: list[int] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            self.send_response(statuses[-1])
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    with http.server.HTTPServer(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", statuses
        finally:
            server.shutdown()


def test_an_admin_whose_password_changed_is_refused_with_the_fixes(answering, tmp_path):
    (base, statuses), database = answering, tmp_path / AUTH_DATABASE
    credentials = Credentials("alice", PASSWORD, "FILE")
    statuses.append(200)
    check_login(base, credentials, database)
    statuses.append(401)
    with pytest.raises(MserError, match="already has the user alice with another password than the one from FILE"
                                        f".*update-password API, or delete {database}"):
        check_login(base, credentials, database)


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real ``mser-server --auth`` on loopback with the admin alice; yields its address."""
    root = tmp_path_factory.mktemp("auth-server")
    copy_template(root / "runs.db")
    port = free_port()
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("MLFLOW_TRACKING_", "MLFLOW_AUTH_"))}
    command = [str(Path(sys.executable).parent / "mser-server"), "--auth", "--auth-file", str(_auth_file(root)),
               "--port", str(port), "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'runs.db'}",
               "--artifacts-destination", str(root / "artifacts")]
    with open(root / "server.log", "w") as log:
        server = subprocess.Popen(command, env=env, cwd=root, stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        address = server.stdout.readline().strip()  # printed once it answers, and its admin can log in
        assert address == f"http://127.0.0.1:{port}", (root / "server.log").read_text()[-3000:]
        assert (root / AUTH_DATABASE).exists()
        yield address
    finally:
        server.send_signal(signal.SIGTERM)  # mser-server stops its server's process group
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.slow
def test_the_admin_creates_and_reads_runs_and_artifacts(auth_server, monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "alice")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    client = MlflowClient(auth_server)
    run = client.create_run(client.create_experiment("auth"))
    client.log_param(run.info.run_id, "lr", "0.01")
    client.log_text(run.info.run_id, "uploaded through the server", "note.txt")
    client.set_terminated(run.info.run_id)
    assert client.get_run(run.info.run_id).data.params == {"lr": "0.01"}
    note = Path(client.download_artifacts(run.info.run_id, "note.txt", str(tmp_path)))
    assert note.read_text() == "uploaded through the server"


@pytest.mark.slow
@pytest.mark.parametrize("login", [None, ("alice", "not-the-password"), ("mallory", PASSWORD)])
def test_no_or_wrong_credentials_are_refused(auth_server, monkeypatch, login):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    if login is not None:
        monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", login[0])
        monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", login[1])
    with pytest.raises(MlflowException, match="401"):
        MlflowClient(auth_server).search_experiments()
    answer = requests.get(f"{auth_server}/api/2.0/mlflow/experiments/search", params={"max_results": 1},
                          auth=login, timeout=30)
    assert answer.status_code == 401


@pytest.mark.parametrize("port", ["99999", "0", "http"])
def test_a_port_out_of_range_is_a_usage_error(port, capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--port", port])
    assert "is not a port number: give 1-65535" in capsys.readouterr().err


def test_a_host_that_is_not_this_machine_is_named_as_such():
    from tracking.processes import check_port

    with pytest.raises(MserError, match="not an address or a name this machine can resolve"):
        check_port("no-such-host.invalid", 5000)
    with pytest.raises(MserError, match="not an address of this machine"):
        check_port("192.0.2.99", 5000)


def test_a_server_beyond_loopback_allows_the_address_it_prints(monkeypatch):
    from mlflow.server.security_utils import get_default_allowed_hosts, is_allowed_host_header

    monkeypatch.delenv("MLFLOW_SERVER_ALLOWED_HOSTS", raising=False)
    monkeypatch.setattr(server_cli, "_reachable_host", lambda host: "192.0.2.2")  # a test-net address
    command = server_command(build_parser().parse_args(["--host", "0.0.0.0", "--port", "5123"]), "sqlite:///x.db",
                             auth=False)
    allowed = command[command.index("--allowed-hosts") + 1].split(",")
    assert not is_allowed_host_header(get_default_allowed_hosts(), "192.0.2.2:5123")  # what MLflow alone refuses
    assert is_allowed_host_header(allowed, "192.0.2.2:5123") and is_allowed_host_header(allowed, "localhost:5123")
    assert not is_allowed_host_header(allowed, "evil.example:5123")
    loopback = server_command(build_parser().parse_args([]), "sqlite:///x.db", auth=False)
    assert "--allowed-hosts" not in loopback  # MLflow's default serves this machine
    monkeypatch.setenv("MLFLOW_SERVER_ALLOWED_HOSTS", "mlflow.lab")
    assert "--allowed-hosts" not in server_command(build_parser().parse_args(["--host", "0.0.0.0"]),
                                                   "sqlite:///x.db", auth=False)  # the user's own list rules


def test_a_foreground_server_gives_back_the_signal_handlers_it_took():
    """run_foreground ignores Ctrl-C and SIGTERM while it stops its server; a caller that goes
    on afterwards (a test calling a command in-process) gets its own handlers back."""
    import signal

    from tracking.processes import run_foreground

    before = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(MserError, match="exited with status 3 before it was ready"):
        run_foreground([sys.executable, "-c", "raise SystemExit(3)"], f"http://127.0.0.1:{free_port()}",
                       what="test server", on_ready=lambda: None)
    assert {signum: signal.getsignal(signum) for signum in before} == before


@pytest.mark.parametrize("users, expected", [(None, "false"), ("true", "true")])
def test_mlflows_job_runner_is_off_unless_the_user_turns_it_on(monkeypatch, users, expected):
    """MLflow's server would start a job runner (a third process importing MLflow) for GenAI
    jobs a search never runs; the server and the UI start without it, unless the user's
    environment asks for it."""
    from tracking.processes import JOB_EXECUTION_ENV, run_foreground

    if users is None:
        monkeypatch.delenv(JOB_EXECUTION_ENV, raising=False)
    else:
        monkeypatch.setenv(JOB_EXECUTION_ENV, users)
    command = [sys.executable, "-c", f"import os; raise SystemExit(3 if os.environ['{JOB_EXECUTION_ENV}'] == "
                                     f"'{expected}' else 4)"]
    with pytest.raises(MserError, match="exited with status 3 before it was ready"):
        run_foreground(command, f"http://127.0.0.1:{free_port()}", what="test server", on_ready=lambda: None)
