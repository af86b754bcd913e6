"""Fast checks of mser-search's cluster rules and the spaces' helpers."""

import pytest

from mser.errors import MserError
from search.cli import check_cluster_store, main
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
    from search.cli import build_parser

    args = build_parser().parse_args([])
    assert args.scheduler == "asha" and args.encoder_cache is True
    args = build_parser().parse_args(["--scheduler", "fifo", "--no-encoder-cache"])
    assert args.scheduler == "fifo" and args.encoder_cache is False
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--scheduler", "hyperband"])
