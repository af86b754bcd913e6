"""Careless and hostile input to every command, as a user would type it: one line naming the
input and the fix, a non-zero exit status, no traceback, in bounded time, nothing written."""

import subprocess
import sys
import time
from importlib.metadata import entry_points

import pytest

COMMANDS = sorted((e.name, e.value) for e in entry_points(group="console_scripts") if e.name.startswith("mser-"))
#: Libraries that take a second or more each to import; a typo is answered before any of them.
HEAVY = ("tensorflow", "keras", "ray", "mlflow", "sklearn", "scipy", "pandas", "librosa", "optuna", "matplotlib")

_PROBE = """
import sys
module, function = sys.argv[1].split(":")
main = getattr(__import__(module, fromlist=[function]), function)
try:
    code = main(["--no-such-option"])
except SystemExit as exit:
    code = exit.code
print("imported:", *sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
sys.exit(code)
"""


def test_every_command_is_probed():
    assert {name for name, _ in COMMANDS} >= {"mser-search", "mser-train", "mser-predict", "mser-data",
                                              "mser-promote", "mser-models", "mser-ui", "mser-report", "mser-server"}


@pytest.mark.parametrize(("name", "target"), COMMANDS, ids=[name for name, _ in COMMANDS])
def test_a_typo_is_answered_at_once_before_any_heavy_library_is_imported(name, target, tmp_path):
    started = time.monotonic()
    answer = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), target], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    took = time.monotonic() - started
    *lines, imported = answer.stderr.strip().splitlines()
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr and lines[-1].startswith(f"{name}: error: ")
    assert imported == "imported:", f"{name} {imported} before parsing its arguments"
    assert took < 5, f"{name} took {took:.1f} s to refuse a typo"
    assert not list(tmp_path.iterdir()), "a refused command wrote files"
