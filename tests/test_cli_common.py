"""What every command shares: stdout kept for results."""

import os
from pathlib import Path

import pytest

from cli.common import stdout_for_results


def test_stdout_holds_only_results_while_libraries_print(capfd):
    with stdout_for_results() as out:
        print("a library's message")
        os.write(1, b"a message from C code\n")
        print('{"result": 1}', file=out)
    print("after")
    captured = capfd.readouterr()
    assert captured.out == '{"result": 1}\nafter\n'
    assert "a library's message" in captured.err and "a message from C code" in captured.err


def _bad_path(argv):
    from pathlib import Path

    Path("/proc/mser-test/sub").mkdir(parents=True)
    return 0


def test_an_unusable_path_is_one_line_and_status_2(capfd):
    from cli.common import run

    assert run(_bad_path, [], "mser-x") == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mser-x: error: cannot use /proc/mser-test") and "--cache-dir" in err[0]


def test_mser_data_demo_into_a_folder_it_cannot_write(capfd):
    from cli.data import main

    assert main(["demo", "--out", "/proc/mser-demo"]) == 2
    err = capfd.readouterr().err
    assert "cannot use /proc/mser-demo" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_libraries_are_quiet_unless_verbose(capfd, tmp_path):
    """Creating a store prints MLflow's INFO lines, but not under a command (unless --verbose)."""
    from cli.common import run
    from tracking.store import ensure_store

    assert run(lambda argv: ensure_store(f"sqlite:///{tmp_path / 'a' / 'mlflow.db'}") and 0, [], "mser-x") == 0
    assert "INFO" not in capfd.readouterr().err
    from cli.common import quiet_libraries

    quiet_libraries(verbose=True)
    try:
        ensure_store(f"sqlite:///{tmp_path / 'b' / 'mlflow.db'}")
        assert "Creating initial MLflow database tables" in capfd.readouterr().err
    finally:
        quiet_libraries()


def test_names_become_one_folder_name_inside_their_parent():
    from mser.cache import folder_name

    assert folder_name("paper-2026_v1.2") == "paper-2026_v1.2"  # a plain name is kept as written
    assert folder_name("emozione") == "emozione" and folder_name("Spraché") == "Spraché"
    names = ["../../../somewhere/else", "..", ".", "a/b", "a\\b", "a b", "a_b", "<script>", "", "x" * 300, "/etc"]
    safe = [folder_name(name) for name in names]
    assert len(set(safe)) == len(names)  # two names never share a folder ("a b" and "a_b" included)
    for name in safe:
        assert name and "/" not in name and "\\" not in name and not name.startswith(".") and len(name) <= 90
        assert (Path("/r") / name).parent == Path("/r")


def test_counts_are_refused_below_their_minimum():
    import argparse

    from cli.common import at_least

    assert at_least(1)("3") == 3 and at_least(0.0, float)("0") == 0.0 and at_least(0.0, float)("inf") == float("inf")
    for parse, text in ((at_least(1), "0"), (at_least(1), "-2"), (at_least(1), "2.5"), (at_least(0.0, float), "-5"),
                        (at_least(0.0, float), "nan"), (at_least(1), "")):
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_sigterm_stops_a_command_as_ctrl_c_does_with_status_143(capsys):
    import os
    import signal
    import time

    from cli.common import run

    def body(argv):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        return 0

    previous = signal.getsignal(signal.SIGTERM)
    # As in a fresh command process: Ctrl-C raises KeyboardInterrupt (whatever an earlier test in
    # this worker left as SIGINT's handler: this test once failed under pytest -n 2, its SIGTERM
    # turned into a SIGINT that a handler left behind did not raise).
    interrupt = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        started = time.monotonic()
        assert run(body, [], "mser-x") == 143
        assert time.monotonic() - started < 5
        assert capsys.readouterr().err.strip() == "mser-x: terminated"
        assert run(lambda argv: 0, [], "mser-x") == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, interrupt)


def test_a_reader_that_goes_away_ends_the_command_without_a_traceback():
    """``mser-models | head``, or a killed parent: the command stops writing, status 1, no traceback."""
    import subprocess
    import sys

    code = ("import sys; from cli.common import run\n"
            "def body(argv):\n"
            "    for _ in range(200_000):\n"
            "        print('a line of results')\n"
            "    return 0\n"
            "sys.exit(run(body, [], 'mser-x'))\n")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.read(10)
    process.stdout.close()  # the reader goes away
    err = process.stderr.read().decode()
    assert process.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
