"""A study's options: one dataclass, read from the command line, checked again on --resume."""

import argparse
import dataclasses
import json

import pytest

from cli.search import build_parser
from mser.errors import MserError
from mser.train import TrainConfig
from search.options import StudyOptions, resume_differences, shared_fields
from search.study import resumable_state
from search.trial import train_config


def _options(tmp_path, argv=(), **values):
    args = build_parser().parse_args(["--space", "cnn_features", "--trials", "6", *argv])
    return StudyOptions.from_args(args, **{"tracking_uri": "sqlite:///x.db", "state_dir": tmp_path,
                                           "max_concurrent": 2, **values})


def test_options_come_from_the_command_line_by_name(tmp_path):
    options = _options(tmp_path, ["--max-epochs", "7", "--folds", "3", "--seed", "4", "--no-encoder-cache"])
    assert (options.space, options.trials, options.epochs, options.folds, options.seed) == ("cnn_features", 6, 7, 3, 4)
    assert options.encoder_cache is False and options.language == "all" and options.scheduler == "asha"
    # Every option of mser-search that is a study option reaches it (nothing is copied by hand).
    args = vars(build_parser().parse_args([]))
    fields = {f.name for f in dataclasses.fields(StudyOptions)}
    assert {"space", "trials", "epochs", "sae_epochs", "grace_period", "patience", "seed", "top", "folds",
            "encoder_cache", "scheduler", "cpus_per_trial", "experiment"} <= fields & set(args)


def test_a_trial_trains_with_the_studys_settings(tmp_path):
    options = _options(tmp_path, ["--language", "de", "--max-epochs", "7", "--sae-epochs", "2", "--patience", "3"])
    config = train_config({"classifier": {"filters": 8}, "training": {"class_weighting": "sqrt"}}, options)
    assert shared_fields(options, TrainConfig) == {"language": "de", "sae_epochs": 2, "epochs": 7, "patience": 3,
                                                   "seed": 0}
    assert (config.model, config.language, config.epochs, config.sae_epochs, config.patience) == (
        "cnn_features", "de", 7, 2, 3)
    assert config.classifier == {"filters": 8} and config.class_weighting == "sqrt"


def test_resume_names_every_option_that_differs(tmp_path):
    before = _options(tmp_path)
    now = _options(tmp_path, ["--trials", "9", "--max-epochs", "5", "--scheduler", "fifo"], max_concurrent=1,
                   command="other")
    assert resume_differences(before.saved(), now) == ["--trials 6 (now 9)", "--max-epochs 30 (now 5)",
                                                       "--scheduler asha (now fifo)"]
    assert resume_differences(json.loads(json.dumps(before.saved())), _options(tmp_path, max_concurrent=1)) == []
    older = {k: v for k, v in before.saved().items() if k != "scheduler"}  # a state from an older version
    assert resume_differences(older, _options(tmp_path, ["--scheduler", "fifo"])) == []


class _Data:
    key = "a" * 64


def _save(path, options, key):
    path.mkdir(parents=True)
    (path / "mser_study.json").write_text(json.dumps({"parent_run_id": "p", "dataset_key": key,
                                                      "options": options.saved()}))


def test_resume_refuses_other_options_or_data_and_says_what_differs(tmp_path):
    options = _options(tmp_path)
    path = tmp_path / "cnn_features-all"
    with pytest.raises(MserError, match="nothing to resume for cnn_features-all"):
        resumable_state(_Data(), options)
    _save(path, options, _Data.key)
    assert resumable_state(_Data(), _options(tmp_path, max_concurrent=1))["parent_run_id"] == "p"
    with pytest.raises(MserError, match=r"ran with --trials 6 \(now 12\).*same options.*without --resume"):
        resumable_state(_Data(), _options(tmp_path, ["--trials", "12"]))
    other = type("Other", (), {"key": "b" * 64})()
    with pytest.raises(MserError, match="other data .dataset key aaaaaaaaaaaa, now bbbbbbbbbbbb"):
        resumable_state(other, options)


def test_each_option_is_defined_once_its_flag_and_default_read_from_the_field():
    import dataclasses

    from cli.search import build_parser
    from search.options import option_flag

    parser = build_parser()
    actions = {flag: action for action in parser._actions for flag in action.option_strings}
    for f in dataclasses.fields(StudyOptions):
        flag = option_flag(f.name)
        if f.name in ("state_dir", "command", "cache_dir", "tracking_uri", "experiment"):
            continue  # made by the command (or shared options of every command), not options of their own
        action = actions[flag]
        assert action.dest == f.name, flag
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
            assert action.default == f.default, flag  # a --no-... switch keeps the field's default
        elif f.default is not dataclasses.MISSING and f.name not in ("folds", "max_concurrent"):
            assert action.default == f.default, flag  # folds, max_concurrent: None = decided by the space, the cluster


def test_fixed_parameters_define_the_study_and_a_resume_names_them(tmp_path):
    fixed = {"augment.speed": False, "classifier.kernel": 3}
    before = _options(tmp_path, fixed=fixed)
    assert _options(tmp_path).fixed == {}  # no --fix: nothing held
    saved = json.loads(json.dumps(before.saved()))  # as the study's state keeps it
    assert resume_differences(saved, _options(tmp_path, fixed=dict(fixed))) == []
    assert resume_differences(saved, _options(tmp_path)) == [
        "--fix augment.speed=False classifier.kernel=3 (now none)"]
