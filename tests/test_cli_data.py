import json
import re

import pytest

from cli.data import main
from mser import testing


def test_help_of_every_command(capsys):
    for argv in (["--help"], ["demo", "--help"], ["inspect", "--help"]):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--data-root" in out and "--scale" in out and "--json" in out


def test_inspect_json_prints_the_papers_protocol(tiny_demo, capsys):
    assert main(["inspect", "--data-root", str(tiny_demo), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [row["emotion"] for row in report["emotions"]] == ["neutral", "sad", "angry", "happy", "fear", "disgust"]
    corpora = {row["corpus"]: row for row in report["corpora"]}
    assert {corpora[c]["language"] for c in ("EMOVO", "EmoDB", "RAVDESS")} == {"it", "de", "en"}
    assert corpora["EMOVO"]["speakers"] == 6 and corpora["EmoDB"]["speakers"] == 10
    assert corpora["RAVDESS"]["speakers"] == 12
    assert set(report["split"]["test"]) == {"emovo-f3", "emovo-m3", "emodb-08", "emodb-03", "ravdess-09",
                                            "ravdess-10", "ravdess-11", "ravdess-12"}
    train_windows = sum(r["windows"] for r in report["counts"] if r["split"] == "train")
    assert train_windows == corpora["all"]["train_windows"] > 0
    assert {r["reason"].split(" ")[0] for r in report["excluded"]} >= {"emotion", "RAVDESS"}
    assert report["skipped"] == [] and report["long_files"] == []


def test_inspect_text_table(tiny_demo, capsys):
    assert main(["inspect", "--data-root", str(tiny_demo)]) == 0
    out = capsys.readouterr().out
    for heading in ("Per corpus", "Per emotion", "Per speaker", "Split: train", "Left out by the protocol",
                    "Skipped files: 0"):
        assert heading in out
    assert "6 emotions, 3 languages" in out


def test_inspect_reports_each_skipped_file_in_one_line(tmp_path, capsys):
    testing.write_tone_files(tmp_path, ["wav/03a01Fa.wav", "wav/09a01Wa.wav"], rate=16_000)
    testing.write_truncated(tmp_path / "wav/10a01Ta.wav")
    (tmp_path / "wav/oops.wav").write_bytes(b"")
    assert main(["inspect", "--data-root", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    err_lines = [line for line in captured.err.splitlines() if line.startswith("skipped")]
    assert len(err_lines) == 2
    assert any("wav/10a01Ta.wav: truncated" in line for line in err_lines)
    assert "Skipped files: 2" in captured.out


def test_bad_data_root_is_one_line_and_status_2(tmp_path, capsys):
    assert main(["inspect", "--data-root", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0] and "--data-root" in err[0]


def test_wrong_option_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["inspect", "--data-rot", "x"])
    assert exit_info.value.code == 2
    assert "--data-rot" in capsys.readouterr().err


def test_demo_command_and_default_data_root(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--scale", "tiny", "--seed", "3"]) == 0
    assert "next: mser-data inspect" in capsys.readouterr().out
    assert main(["demo", "--out", str(out), "--scale", "small", "--seed", "3"]) == 2
    assert "demo" in capsys.readouterr().err
    assert main(["inspect", "--demo-scale", "tiny", "--json"]) == 0
    captured = capsys.readouterr()
    assert "using the demo corpus" in captured.err
    assert json.loads(captured.out)["root"].endswith("tiny-seed0")


def test_inspect_flags_a_very_long_file_in_text_and_json(tmp_path, capsys):
    testing.write_tone_files(tmp_path, [f"wav/{s}a0{i}Wa.wav" for s in ("03", "09", "10") for i in (1, 2)],
                             rate=16_000)
    testing.write_long(tmp_path / "wav/16a01Wa.wav", seconds=30)
    assert main(["inspect", "--data-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "Very long files (over 5x their corpus's median duration and over 10 s): 1" in out
    line = next(line for line in out.splitlines() if "16a01Wa.wav" in line and "median" in line)
    assert "30.0 s (EmoDB median 2.2 s), 30 windows of emodb-16 angry (train); training keeps 10" in line
    assert main(["inspect", "--data-root", str(tmp_path), "--json"]) == 0
    (long,) = json.loads(capsys.readouterr().out)["long_files"]
    assert (long["path"], long["duration"], long["corpus_median"], long["windows"]) == (
        "wav/16a01Wa.wav", 30.0, 2.2, 30)


def test_preparation_prints_progress_lines_when_stderr_is_a_file(tiny_demo, tmp_path):
    """In a log file (no terminal), long preparation says how far it is, with counts, as the
    search's progress lines do; on a terminal it draws a bar instead."""
    import os
    import subprocess
    import sys

    log = tmp_path / "inspect.log"
    with log.open("w") as stderr:
        done = subprocess.run([sys.executable, "-m", "cli.data", "inspect", "--data-root", str(tiny_demo),
                               "--cache-dir", str(tmp_path / "cache")], stdout=subprocess.DEVNULL, stderr=stderr,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"}, timeout=300)
    assert done.returncode == 0
    lines = [line for line in log.read_text().splitlines() if line.startswith("preparing audio: ")]
    assert len(lines) >= 2 and re.match(r"preparing audio: [01]/\d+ files \(\d+%\), \d+ s", lines[0]), lines
    assert re.fullmatch(r"preparing audio: (\d+)/\1 files \(100%\), \d+ s", lines[-1]), lines


def test_progress_lines_are_bounded_in_number():
    import io

    from cli.common import progress_bar

    stream = io.StringIO()
    with progress_bar("openSMILE ComParE_2016 functionals", "files", stream=stream, every=3600) as progress:
        for done in range(0, 101):
            progress(done, 100)
    assert stream.getvalue().splitlines() == [
        "openSMILE ComParE_2016 functionals: 0/100 files (0%), 0 s",
        "openSMILE ComParE_2016 functionals: 100/100 files (100%), 0 s"]
