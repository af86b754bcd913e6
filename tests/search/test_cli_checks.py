"""Fast checks of mser-search's cluster rules and the spaces' helpers."""

import pytest

from cli.common import browse_hint
from cli.search import check_cluster_store, main
from mser.errors import MserError
from search.spaces import PAPER_POINTS, SPACES, is_paper_point, param_name


def test_a_cluster_search_refuses_a_store_only_this_machine_reaches(tmp_path):
    with pytest.raises(MserError, match="cannot reach the tracking store sqlite:.*mser-server.*--tracking-uri http"):
        check_cluster_store(f"sqlite:///{tmp_path / 'mlflow.db'}", "mser")


def test_the_command_says_so_before_preparing_anything(tmp_path, capsys):
    status = main(["--address", "127.0.0.1:6379", "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}",
                   "--data-root", str(tmp_path / "nothing-here")])
    assert status == 2 and "mser-server" in capsys.readouterr().err


def test_the_paper_point_is_recognised_and_params_named_as_mlflow_logs_them():
    for space in SPACES:
        paper = {group: dict(values) for group, values in PAPER_POINTS[space].items()}
        assert is_paper_point(space, paper)
        changed = {**paper, "training": {"class_weighting": "none"}}
        assert not is_paper_point(space, changed)
    assert param_name("sae/depth") == "sae.depth"
    assert param_name("classifier/learning_rate") == "classifier.learning_rate"
    assert param_name("training/class_weighting") == "class_weighting"


def test_scheduler_and_encoder_cache_options():
    from cli.search import build_parser

    args = build_parser().parse_args([])
    assert args.scheduler == "asha" and args.encoder_cache is True and args.encoder_rungs is True
    args = build_parser().parse_args(["--scheduler", "fifo", "--no-encoder-cache", "--no-encoder-rungs"])
    assert args.scheduler == "fifo" and args.encoder_cache is False and args.encoder_rungs is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--scheduler", "hyperband"])


def _one_line_error(capfd, *needles):
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("mser-search: error: "), err
    assert "Traceback" not in err and not out
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    return lines[-1]


def test_a_language_without_data_is_refused_before_ray_starts(tiny_demo, tmp_path, capfd):
    import ray

    root = tmp_path / "only-emodb"
    root.mkdir()
    (root / "EmoDB").symlink_to(tiny_demo / "EmoDB")
    assert main(["--language", "it", "--data-root", str(root), "--tracking-uri",
                 f"sqlite:///{tmp_path / 'm.db'}", "--cache-dir", str(tmp_path / "cache")]) == 2
    _one_line_error(capfd, "no data for language it", "choose --language de")
    assert not ray.is_initialized()


def test_an_unwritable_store_is_refused_within_seconds(tmp_path, capfd):
    import time

    started = time.monotonic()
    assert main(["--tracking-uri", "sqlite:////proc/x.db", "--data-root", str(tmp_path)]) == 2
    _one_line_error(capfd, "cannot create the tracking store sqlite:////proc/x.db", "--tracking-uri")
    assert main(["--tracking-uri", "http://127.0.0.1:9", "--data-root", str(tmp_path)]) == 2
    _one_line_error(capfd, "cannot reach the tracking server http://127.0.0.1:9", "mser-server")
    assert time.monotonic() - started < 20


def test_a_cluster_address_where_nothing_answers_is_refused_within_seconds():
    import time

    from cli.search import check_cluster_address

    started = time.monotonic()
    with pytest.raises(MserError, match="nothing answers at the Ray cluster address 127.0.0.1:1.*ray start --head"):
        check_cluster_address("127.0.0.1:1")
    with pytest.raises(MserError, match="is not HOST:PORT"):
        check_cluster_address("head-without-port")
    check_cluster_address("auto")  # left to Ray
    assert time.monotonic() - started < 10


def test_a_grace_period_that_leaves_asha_nothing_to_stop_runs_every_trial_to_its_end(capsys):
    from cli.search import _check, build_parser

    parser = build_parser()
    args = parser.parse_args(["--grace-period", "5", "--max-epochs", "3"])
    _check(parser, args)
    assert args.scheduler == "fifo"
    assert "--grace-period 5 is not below --max-epochs 3" in capsys.readouterr().err
    args = parser.parse_args(["--grace-period", "2", "--max-epochs", "3"])
    _check(parser, args)
    assert args.scheduler == "asha"


def test_the_hint_after_a_command_names_its_experiment_and_store():
    from cli.search import build_parser

    assert browse_hint(build_parser().parse_args([])) == "browse the runs with: mser-ui"
    args = build_parser().parse_args(["--experiment", "probe run", "--tracking-uri", "http://h:5000"])
    assert browse_hint(args) == "browse the runs with: mser-ui --experiment 'probe run' --tracking-uri http://h:5000"


def test_resume_from_another_folder_names_the_store_of_the_interrupted_search(tiny_demo, tmp_path, monkeypatch, capfd):
    import json

    import ray

    from search.options import StudyOptions, state_folder

    cache = tmp_path / "cache"
    first = f"sqlite:///{tmp_path / 'here' / 'mlruns' / 'mlflow.db'}"
    state = state_folder(cache, first, "probe") / "cnn_features-de"
    state.mkdir(parents=True)
    saved = StudyOptions(space="cnn_features", language="de", trials=200, tracking_uri=first, experiment="probe",
                         state_dir=state.parent, epochs=30).saved()
    (state / "mser_study.json").write_text(json.dumps({"parent_run_id": "p", "options": saved}))
    monkeypatch.chdir(tmp_path)  # another folder: the default store is ./mlruns here
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["--space", "cnn_features", "--language", "de", "--experiment", "probe", "--resume",
                 "--data-root", str(tiny_demo), "--cache-dir", str(cache)]) == 2
    line = _one_line_error(capfd, "cannot resume cnn_features-de", f"--tracking-uri {first} (now sqlite:///")
    assert "same options" in line and not ray.is_initialized()


def test_each_store_keeps_its_own_resume_state_inside_the_cache(tmp_path):
    from search.options import state_folder

    here, there = "sqlite:////a/mlruns/mlflow.db", "http://server:5000"
    assert state_folder(tmp_path, here, "probe") != state_folder(tmp_path, there, "probe")
    assert state_folder(tmp_path, here, "probe") != state_folder(tmp_path, here, "other")
    for name in ("../../../somewhere/else", "/etc", "..", ".hidden", "a/b", "x" * 500, ""):
        folder = state_folder(tmp_path, here, name)
        assert folder.parent == tmp_path / "searches" and not folder.name.startswith(".")
        assert len(folder.name) < 120


def test_a_cluster_address_where_nothing_answers_stops_the_command(tmp_path, monkeypatch, capfd):
    import cli.search

    monkeypatch.setattr(cli.search, "check_cluster_store", lambda uri, experiment: None)  # a live server
    assert main(["--address", "127.0.0.1:1", "--tracking-uri", "http://127.0.0.1:9",
                 "--data-root", str(tmp_path)]) == 2
    _one_line_error(capfd, "nothing answers at the Ray cluster address 127.0.0.1:1")


def test_counts_are_checked_as_they_are_parsed(capsys):
    from cli.search import build_parser

    parser = build_parser()
    for flag, value, minimum in (("--repeats", "-1", "0"), ("--trials", "0", "1"), ("--max-epochs", "-3", "1"),
                                 ("--top", "0", "1"), ("--max-concurrent", "0", "1"), ("--trials", "many", "1")):
        with pytest.raises(SystemExit):
            parser.parse_args([flag, value])
        assert f"argument {flag}: " in (err := capsys.readouterr().err) and f"give {minimum} or more" in err
    assert parser.parse_args(["--repeats", "3"]).repeats == 3
    assert parser.parse_args(["--trials", "7"]).trials == 7


def test_folds_take_a_number_or_speakers(capsys):
    from cli.search import build_parser

    assert build_parser().parse_args(["--folds", "speakers"]).folds == "speakers"
    assert build_parser().parse_args(["--folds", "3"]).folds == 3
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--folds", "some"])
    assert "expected a number of folds or 'speakers', got 'some'" in capsys.readouterr().err


def test_more_folds_than_training_speakers_are_refused_before_ray_starts(tiny_demo, tmp_path, capfd):
    import ray

    assert main(["--language", "it", "--folds", "40", "--data-root", str(tiny_demo), "--tracking-uri",
                 f"sqlite:///{tmp_path / 'm.db'}", "--cache-dir", str(tmp_path / "cache")]) == 2
    line = _one_line_error(capfd, "--folds 40: it has", "training speakers", "--folds speakers")
    assert "at most" in line and not ray.is_initialized() and not (tmp_path / "m.db").exists()


def test_held_out_studies_go_with_each_and_need_the_held_out_language(tiny_demo, tmp_path, capfd):
    from cli.search import build_parser

    assert build_parser().parse_args(["--language", "all-but-de"]).language == "all-but-de"
    with pytest.raises(SystemExit):
        main(["--language", "it", "--held-out"])
    assert "--held-out goes with --language each" in capfd.readouterr().err
    root = tmp_path / "no-italian"
    root.mkdir()
    (root / "EmoDB").symlink_to(tiny_demo / "EmoDB")
    (root / "RAVDESS").symlink_to(tiny_demo / "RAVDESS")
    assert main(["--language", "all-but-it", "--data-root", str(root), "--tracking-uri",
                 f"sqlite:///{tmp_path / 'm.db'}", "--cache-dir", str(tmp_path / "cache")]) == 2
    _one_line_error(capfd, "no data for language it")


def test_a_cluster_address_where_another_kind_of_server_answers_is_refused_within_seconds():
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import grpc

    from cli.search import check_cluster_address

    web = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)  # e.g. the tracking server's port
    threading.Thread(target=web.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(MserError, match=r"not as a Ray cluster's head does.*port 6379"):
            check_cluster_address(f"127.0.0.1:{web.server_port}", timeout=2)
    finally:
        web.shutdown()
    assert time.monotonic() - started < 10
    head = grpc.server(ThreadPoolExecutor(max_workers=1))  # a gRPC server, as Ray's head is
    port = head.add_insecure_port("127.0.0.1:0")
    head.start()
    try:
        check_cluster_address(f"127.0.0.1:{port}", timeout=5)
    finally:
        head.stop(None)


def test_a_fix_the_space_cannot_take_is_refused_before_anything_is_prepared(tmp_path, capfd):
    store = tmp_path / "m.db"
    with pytest.raises(SystemExit) as exit_info:
        main(["--space", "smile_svm", "--fix", "classifier.degree=3", "--tracking-uri", f"sqlite:///{store}",
              "--data-root", str(tmp_path / "nothing-here")])
    assert exit_info.value.code == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert err[-1].startswith("mser-search: error: --fix classifier.degree=3: smile_svm searches no parameter")
    assert "Traceback" not in "\n".join(err) and not store.exists()


def test_a_study_starts_by_saying_what_it_holds(tmp_path):
    from cli.search import study_header
    from search.options import StudyOptions

    def header(space, **values):
        return study_header(StudyOptions(space=space, language="de", trials=3, tracking_uri="sqlite:///m.db",
                                         experiment="x", state_dir=tmp_path, **values))

    assert header("cnn_features", fixed={"augment.speed": False, "augment.noise_snr": 0.0}) == (
        "cnn_features on de: 3 trials, 2 at once, up to 30 epochs, holding augment.speed=False, "
        "augment.noise_snr=0.0, tracking at sqlite:///m.db")
    # Epochs only where something trains by epochs; the objective's folds where there are some.
    assert header("sae_cnn").startswith("sae_cnn on de: 3 trials, 2 at once, up to 30 epochs (autoencoder 10), "
                                        "tracking")
    assert header("sae_svm").startswith("sae_svm on de: 3 trials, 2 at once, autoencoder up to 10 epochs, tracking")
    assert header("smile_svm", folds="speakers").startswith(
        "smile_svm on de: 3 trials, 2 at once, each on one fold per training speaker, tracking")
    assert header("smile_logreg", folds=5).startswith("smile_logreg on de: 3 trials, 2 at once, each on 5 speaker "
                                                      "folds, tracking")


def test_a_search_says_when_it_will_hide_a_study_that_held_other_values(tmp_path, tracking_uri):
    import json

    from cli.search import superseded
    from search.options import StudyOptions
    from tracking.schema import FIXED_TAG, LANGUAGE_TAG, PARENT_ROLE, SEARCH_TAG, SPACE_TAG
    from tracking.store import ensure_store

    client = ensure_store(tracking_uri)
    experiment = client.create_experiment("compared")
    held = {"functionals.feature_set": "ComParE_2016"}
    parent = client.create_run(experiment, tags={SEARCH_TAG: PARENT_ROLE, SPACE_TAG: "smile_svm", LANGUAGE_TAG: "de",
                                                 FIXED_TAG: json.dumps(held)})
    client.set_terminated(parent.info.run_id)

    def options(language="de", fixed=None, experiment="compared"):
        return StudyOptions(space="smile_svm", language=language, trials=3, tracking_uri=tracking_uri,
                            experiment=experiment, state_dir=tmp_path, fixed=fixed or {})

    [line] = superseded(tracking_uri, "compared", [options(), options("it")])  # the full search of de hides it
    assert line == ("mser-search: experiment 'compared' has a study of smile_svm on de that held "
                    "functionals.feature_set=ComParE_2016; this one will replace it in the report, mser-promote and "
                    "mser-ensemble (they read the latest study of each space and language; both stay in the store): "
                    "to see both in a report, give this search its own --experiment")
    assert superseded(tracking_uri, "compared", [options(fixed=held)]) == []  # the same search again: nothing to say
    assert superseded(tracking_uri, "elsewhere", [options(experiment="elsewhere")]) == []
    store = tmp_path / "none" / "mlflow.db"
    assert superseded(f"sqlite:///{store}", "compared", [options()]) == [] and not store.exists()
    held_parent = client.create_run(experiment, tags={SEARCH_TAG: PARENT_ROLE, SPACE_TAG: "smile_svm",
                                                      LANGUAGE_TAG: "it"})
    client.set_terminated(held_parent.info.run_id)
    [line] = superseded(tracking_uri, "compared", [options("it", fixed=held)])
    assert "a study of smile_svm on it that searched the whole space" in line
