"""What every command shares: stdout kept for results."""

import os

from mser.cli.common import stdout_for_results


def test_stdout_holds_only_results_while_libraries_print(capfd):
    with stdout_for_results() as out:
        print("a library's message")
        os.write(1, b"a message from C code\n")
        print('{"result": 1}', file=out)
    print("after")
    captured = capfd.readouterr()
    assert captured.out == '{"result": 1}\nafter\n'
    assert "a library's message" in captured.err and "a message from C code" in captured.err
