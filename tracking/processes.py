"""Running an MLflow web process (the UI, the tracking server) in the foreground of a command.

The process gets its own process group, so it and the workers it starts are stopped
together on Ctrl-C, SIGTERM or when the command ends; its messages go to stderr, so
the command's stdout holds only the address it prints once the process answers.
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from typing import Callable, Sequence

from mser.errors import MserError

#: Options of ``mlflow ui`` / ``mlflow server`` that keep uvicorn's access log and INFO lines off the terminal.
QUIET_SERVER = ("--uvicorn-opts", "--no-access-log --log-level warning")
#: MLflow's server starts a job runner beside its web process for its GenAI jobs (scorers, prompt
#: optimisation), which runs and tracks nothing of a search: a third Python process importing
#: MLflow (the start took 16 s without it, 20-25 s with it, on 2 cores). Off unless the user's
#: environment sets it.
JOB_EXECUTION_ENV = "MLFLOW_SERVER_ENABLE_JOB_EXECUTION"


def port_number(text: str) -> int:
    """The argparse type of ``--port``: an integer from 1 to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number: give 1-65535, e.g. 5000") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"{port} is not a port number: give 1-65535, e.g. 5000")
    return port


def check_port(host: str, port: int) -> None:
    """Raise a clear error if this machine cannot listen on ``host:port``: the port is taken, the
    host is not one of its addresses or does not resolve, or the port needs root."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except (socket.gaierror, UnicodeError) as error:
        raise MserError(f"--host {host}: not an address or a name this machine can resolve ({error}); "
                        "give 127.0.0.1, 0.0.0.0 (every interface) or one of this machine's addresses") from None
    with socket.socket(family) as probe:
        # As servers do: connections of a server that just stopped (TIME_WAIT) do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise MserError(f"--host {host}: not an address of this machine ({error.strerror}); give 127.0.0.1, "
                                "0.0.0.0 (every interface) or one of this machine's addresses") from None
            if error.errno == errno.EACCES:
                raise MserError(f"cannot listen on port {port} ({error.strerror}): ports below 1024 need root; "
                                "pick another with --port, e.g. 5000") from None
            raise MserError(f"cannot listen on {host}:{port} ({error.strerror}): "
                            "another program uses the port; pick another with --port") from None


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only (``localhost``, 127.x, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to any interface
        return False


def local_base(host: str, port: int) -> str:
    """The address to reach a server listening on ``host`` from this machine."""
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"


def run_foreground(command: Sequence[str], base: str, *, what: str, on_ready: Callable[[], None]) -> int:
    """Start ``command``, wait until ``base``/health answers, call ``on_ready``, then wait for
    it to end (or Ctrl-C / SIGTERM, which stop it). Returns its exit status (0 when stopped)."""
    env = {JOB_EXECUTION_ENV: "false", **os.environ}
    process = subprocess.Popen(list(command), start_new_session=True, stdout=sys.stderr, env=env)
    previous = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM)}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # SIGTERM stops it as Ctrl-C does
    try:
        wait_healthy(base, process, what=what)
        on_ready()
        return process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        # A second Ctrl-C or SIGTERM must not cut the clean-up short and leave the server running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            stop(process)
        finally:  # then as before, for a caller that goes on (a test calling a command in-process)
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def wait_healthy(base: str, process: subprocess.Popen, *, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise MserError(f"the {what} exited with status {process.returncode} before it was ready "
                            "(its messages are above)")
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise MserError(f"the {what} did not answer at {base} within {timeout:.0f} s")


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the process group, then SIGKILL to whatever is left of it."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
