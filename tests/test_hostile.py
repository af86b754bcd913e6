"""Careless and hostile input to every command, as a user would type it: one line naming the
input and the fix, a non-zero exit status, no traceback, nothing written. How fast a refusal
comes is a structural check (a typo is answered before any heavy library is imported), not a
clock: a timed assertion failed on a busy machine, and speed is the benchmarks' to measure. The
subprocess timeout only catches a hang."""

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

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
    answer = subprocess.run([sys.executable, "-c", _PROBE.format(heavy=HEAVY), target], capture_output=True,
                            text=True, cwd=tmp_path, timeout=60)
    *lines, imported = answer.stderr.strip().splitlines()
    assert answer.returncode == 2
    assert "Traceback" not in answer.stderr and lines[-1].startswith(f"{name}: error: ")
    assert imported == "imported:", f"{name} {imported} before parsing its arguments"
    assert not list(tmp_path.iterdir()), "a refused command wrote files"


#: A careless or hostile command line, and what its one line must name.
CASES = [
    (["mser-server", "--port", "99999"], "99999 is not a port number"),
    (["mser-ui", "--port", "99999"], "99999 is not a port number"),
    (["mser-models", "--tracking-uri", "garbage://x"], "unknown scheme 'garbage'"),
    (["mser-models", "--tracking-uri", "postgresql://nobody@127.0.0.1:1/db"], "postgresql://nobody@127.0.0.1:1/db"),
    (["mser-search", "--emotions", "angry,sad,bogus", "--trials", "1"], "no corpus has bogus"),
    (["mser-train", "--emotions", "angry,bogus"], "no corpus has bogus"),
    (["mser-promote", "--margin", "-5"], "-5 is too small"),
    (["mser-search", "--system-metrics", "-1"], "-1 is too small"),
    (["mser-search", "--address", "127.0.0.1:1", "--trials", "1"], "on a Ray cluster"),
    (["mser-data", "inspect", "--data-root", "loops"], "no wav files under"),
    (["mser-predict", "one.wav"], "no tracking store"),
    (["mser-server", "--backend-store-uri", "sqlite:////proc/x.db"], "cannot create the tracking store"),
]


@pytest.mark.parametrize(("argv", "named"), CASES, ids=[" ".join(argv) for argv, _ in CASES])
def test_bad_input_gets_one_line_naming_it_at_once_and_nothing_is_written(argv, named, tmp_path):
    import numpy as np
    import soundfile as sf

    (tmp_path / "loops" / "a").mkdir(parents=True)
    (tmp_path / "loops" / "a" / "back").symlink_to("..")  # a data root whose only folder loops back
    sf.write(tmp_path / "one.wav", np.zeros(1), 16_000)
    before = sorted(tmp_path.rglob("*"))
    answer = subprocess.run([str(Path(sys.executable).parent / argv[0]), *argv[1:]], capture_output=True, text=True,
                            cwd=tmp_path, timeout=60, env={**os.environ, "MSER_CACHE_DIR": str(tmp_path / "cache")})
    assert answer.returncode == 2 and "Traceback" not in answer.stderr, answer.stderr[-2000:]
    last = answer.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{argv[0]}: error: ") and named in last, last
    assert sorted(p for p in tmp_path.rglob("*") if "cache" not in p.parts) == before, "a refused command wrote"
