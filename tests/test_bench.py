"""The benchmark's arithmetic on made-up searches (its figures come from real runs, not tests)."""

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "bench" / "performance.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("mser_bench_performance", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _trial(ended, kappa, curve, status="FINISHED", params=None, cache="hit"):
    return {"ended_s": ended, "val_kappa": kappa, "curve": curve, "status": status, "params": params or {},
            "encoder_cache": cache, "train_seconds": 1.0, "run_seconds": 1.2}


def test_asha_time_to_the_best_both_searches_reach(bench):
    asha = {"best_val_kappa": 0.3, "search_s": 100.0, "counts": {"pruned": 5},
            "trials": [_trial(10, 0.2, [0.2]), _trial(40, 0.3, [0.3]), _trial(5, None, [0.1], status="KILLED")]}
    fifo = {"best_val_kappa": 0.4, "search_s": 300.0,
            "trials": [_trial(50, 0.25, [0.25]), _trial(120, 0.3, [0.3]), _trial(200, 0.4, [0.4])]}
    result = bench._asha(asha, fifo)
    assert result["target_val_kappa"] == 0.3  # the best both reached, not the better one
    assert (result["asha_s"], result["fifo_s"], result["speedup"]) == (40, 120, 3.0)


def test_encoder_cache_compares_the_same_configurations(bench):
    a, b = {"x": "1"}, {"x": "2"}
    with_cache = {"trials": [_trial(1, 0.2, [0.1, 0.2], params=a), _trial(2, 0.3, [0.3], params=b)],
                  "search_s": 100.0, "encoders_trained": 1, "best_val_kappa": 0.3}
    without = {"trials": [_trial(1, 0.2, [0.1, 0.2, 0.2], params=a), _trial(2, 0.1, [0.1], params=b)],
               "search_s": 300.0, "encoders_trained": 0, "best_val_kappa": 0.2}
    result = bench._encoder_cache({"default": with_cache, "no_encoder_cache": without})
    assert result["speedup"] == 3.0
    assert (result["configurations_in_both"], result["same_curves"]) == (2, 1)


def test_early_ranking_and_verdicts(bench):
    search = {"trials": [_trial(i, k, [k] * 30) for i, k in enumerate((0.1, 0.2, 0.3))]}
    assert bench._early_ranking(search) == {"epoch_3": 1.0, "epoch_9": 1.0, "epoch_27": 1.0}
    verdicts = bench._verdicts({"overhead": {"fraction": 0.12}, "features": {"speedup": 4.0}})
    assert verdicts["overhead_fraction"]["met"] is False and verdicts["features_speedup"]["met"] is True
    assert "asha_speedup" not in verdicts  # not measured, not judged


def test_the_command_has_help_and_refuses_unknown_benchmarks():
    assert "--trials" in subprocess.run([sys.executable, str(BENCH), "--help"], capture_output=True, text=True,
                                        check=True).stdout
    refused = subprocess.run([sys.executable, str(BENCH), "--only", "speed"], capture_output=True, text=True)
    assert refused.returncode == 2 and "unknown benchmark(s) speed" in refused.stderr


def test_overhead_splits_slot_time_into_training_logging_and_outside_runs(bench):
    search = {"max_concurrent": 2, "search_s": 10.0, "trials": [_trial(i, 0.1, [0.1]) for i in range(5)]}
    assert bench._overhead(search) == {"fraction": 0.75, "sum_train_s": 5.0, "in_run_not_training_s": 1.0,
                                       "outside_runs_s": 14.0}


@pytest.fixture(scope="module")
def objectives():
    sys.path.insert(0, str(BENCH.parent))  # the bench imports its sibling performance.py
    spec = importlib.util.spec_from_file_location("mser_bench_objectives", BENCH.parent / "objectives.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(objective, test, split=None, paper=False):
    return {"objective": objective, "split_val_kappa": objective if split is None else split, "test_kappa": test,
            "paper": paper, "started": 0}


def test_objectives_share_the_trainings_of_a_search(objectives):
    assert [objectives.trial_count(o, 36, 3, 8) for o in objectives.OBJECTIVES] == [36, 9, 4]
    assert objectives.trial_count("loso", 10, 3, 20) == 2  # never fewer than 2 trials


def test_objective_figures_of_one_search(objectives):
    rows = [_row(0.5, 0.2, split=0.1, paper=True), _row(0.9, 0.3, split=0.2), _row(0.7, 0.5, split=0.6),
            _row(0.1, 0.1, split=0.3)]
    out = objectives.summarise({"objective": "loso", "rows": rows, "search_s": 10.0})
    assert out["chosen_test_kappa"] == 0.3 and out["best_test_kappa"] == 0.5 and out["regret"] == pytest.approx(0.2)
    assert out["rho"] == pytest.approx(0.8) and out["paper_test_kappa"] == 0.2
    assert out["split_chosen_test_kappa_same_trials"] == 0.5 and out["rho_split_same_trials"] == pytest.approx(0.4)
    assert objectives.summarise({"objective": "split", "rows": rows[:3]})["rho"] is None  # too few trials


def test_objectives_are_compared_pairwise_on_the_same_language_and_seed(objectives):
    def search(objective, language, kappa):
        return {"objective": objective, "language": language, "seed": 0, "trials": 4, "rho": 0.5,
                "chosen_test_kappa": kappa, "regret": 0.0, "search_s": 1.0}

    summary = objectives.compare([search("split", "it", 0.2), search("split", "de", 0.3),
                                  search("loso", "it", 0.4), search("loso", "de", 0.2)])
    assert summary["loso"]["vs_split"]["pairs"] == 2
    assert summary["loso"]["vs_split"]["mean_difference"] == pytest.approx(0.05)
    assert (summary["loso"]["vs_split"]["wins"], summary["loso"]["vs_split"]["losses"]) == (1, 1)
    assert "vs_split" not in summary["split"] and "kfold" not in summary


def test_worker_memory_growth_and_pace(objectives):  # the fixture put bench/ on sys.path
    spec = importlib.util.spec_from_file_location("mser_bench_worker_memory", BENCH.parent / "worker_memory.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.summarise({"rss_mib": [100.0, 110.0, 120.0, 130.0, 140.0, 150.0]})
    assert (out["first_mib"], out["last_mib"], out["peak_mib"], out["growth_mib"]) == (100.0, 150.0, 150.0, 50.0)
    assert out["mib_per_trial_second_half"] == pytest.approx(10.0)
    from ray import tune

    configs = module._configs({"a": {"b": tune.choice([1, 2])}, "c": 3}, 3)
    assert len(configs) == 3 and all(c["a"]["b"] in (1, 2) and c["c"] == 3 for c in configs)


def _module(name: str):
    if str(BENCH.parent) not in sys.path:  # the benchmarks import each other, as they do run from bench/
        sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location(f"mser_bench_{name}", BENCH.parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_peer_summary_counts_trials_per_hour_and_when_the_best_was_reached():
    peer = _module("peer")
    search = {"trials": [_trial(30, 0.2, []), _trial(60, 0.3, []), _trial(90, 0.3, []),
                         {**_trial(20, None, [], status="KILLED"), "pruned": True}]}
    for trial in search["trials"]:
        trial.setdefault("pruned", False)
    summary = peer._summary(search, 120.0, 2)
    assert (summary["trials"], summary["finished"], summary["pruned"]) == (4, 3, 1)
    assert summary["trials_per_hour"] == 120.0 and summary["best_val_kappa"] == 0.3 and summary["best_reached_s"] == 60
    train = sum(t["train_seconds"] for t in search["trials"])
    assert summary["overhead"] == round(1 - train / (2 * 120.0), 3)


def test_the_peer_summary_of_several_studies_gives_each_language_its_best():
    peer = _module("peer")
    trials = [{**_trial(30, 0.2, []), "language": "it"}, {**_trial(60, 0.5, []), "language": "it"},
              {**_trial(90, 0.4, []), "language": "all"}]
    for trial in trials:
        trial["pruned"] = False
    summary = peer._summary({"trials": trials}, 100.0, 2)
    assert summary["best_val_kappa"] == {"it": 0.5, "all": 0.4} and "best_reached_s" not in summary


def test_asha_payoff_is_the_time_to_the_best_kappa_every_search_reaches():
    asha = _module("asha")

    def search(ends, kappas, pruned=(), encoder_epochs=(), encoders=1):
        trials = [{**_trial(end, kappa, [kappa] if kappa is not None else [],
                            status="KILLED" if kappa is None else "FINISHED"),
                   "pruned": i in pruned, "encoder_epochs": encoder_epochs[i] if encoder_epochs else 10}
                  for i, (end, kappa) in enumerate(zip(ends, kappas))]
        return {"trials": trials, "best_val_kappa": max(k for k in kappas if k is not None), "search_s": max(ends),
                "counts": {"pruned": len(pruned)}, "encoders_trained": encoders, "command": "mser-search"}

    runs = {"fifo": search([50, 100, 200], [0.2, 0.3, 0.4]),
            "classifier_rungs": search([40, 80], [0.1, 0.3]),
            "encoder_rungs": search([10, 20, 25], [None, 0.3, 0.35], pruned=(0,), encoder_epochs=(3, 10, 10))}
    out = asha.summarise(runs)
    assert out["target_val_kappa"] == 0.3  # the best all three reach
    assert out["speedup"] == {"classifier_rungs": 1.25, "encoder_rungs": 5.0}
    assert out["met"] == {"classifier_rungs": False, "encoder_rungs": True}
    encoder = out["searches"]["encoder_rungs"]
    assert (encoder["encoders_stopped"], encoder["encoder_epochs"], encoder["classifier_epochs"]) == (1, 23, 2)


@pytest.mark.parametrize("name", ["peer", "real_size", "asha"])
def test_the_new_benchmarks_have_help(name):
    out = subprocess.run([sys.executable, str(BENCH.parent / f"{name}.py"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--trials" in out and "results.json" in out


@pytest.mark.parametrize("name", ["ensemble", "ablation", "refit", "peer", "recipe"])
def test_the_accuracy_benchmarks_run_on_a_users_corpora_too(name):
    out = subprocess.run([sys.executable, str(BENCH.parent / f"{name}.py"), "--help"], capture_output=True, text=True,
                         check=True).stdout
    assert "--data-root" in out


@pytest.fixture(scope="module")
def refit_bench(objectives):  # the objectives fixture put bench/ on sys.path
    spec = importlib.util.spec_from_file_location("mser_bench_refit", BENCH.parent / "refit.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _predictions(predicted, truth=(0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2)):
    import pandas as pd

    return pd.DataFrame({"utterance": [f"u{i}" for i in range(len(truth))], "label": list(truth),
                         "predicted": list(predicted)})


def test_refit_comparisons_pair_the_same_utterances_and_adjust_with_holm(refit_bench):
    right, half = [0, 1, 2] * 4, [0, 1, 2] * 2 + [1, 2, 0] * 2
    studies = [{"space": "smile_svm", "language": "de", "objective": objective, "search_s": 1.0,
                "chosen": _predictions(half), "refit": _predictions(right if objective == "grouped" else half)}
               for objective in refit_bench.OBJECTIVES]
    out = refit_bench.compare(studies)
    by_objective = {row["objective"]: row for row in out["refit_vs_chosen"]}
    assert by_objective["split"]["difference"] == 0.0 and by_objective["grouped"]["difference"] > 0
    assert all(row["n"] == 12 and row["holm_p"] >= row["mcnemar_p"] for row in out["refit_vs_chosen"])
    [grouped] = out["grouped_vs_split"]  # both refit, the grouped one better
    assert grouped["kappa_a"] == 1.0 and grouped["difference"] > 0
    summary = out["summary"]["refit_vs_chosen"]
    assert summary["smile_svm"]["better"] == 1 and summary["smile_svm"]["worse"] == 0
    assert summary["all"]["comparisons"] == 2


def test_the_ensemble_benchmark_refuses_an_unknown_method_and_a_reuse_without_a_store(tmp_path):
    script = str(BENCH.parent / "ensemble.py")
    unknown = subprocess.run([sys.executable, script, "--methods", "selection,bogus"], capture_output=True, text=True)
    assert unknown.returncode == 2 and "--methods: unknown bogus" in unknown.stderr
    reuse = subprocess.run([sys.executable, script, "--reuse", "--work", str(tmp_path)], capture_output=True, text=True)
    assert reuse.returncode == 2 and "--reuse needs --work" in reuse.stderr
    assert not list(tmp_path.iterdir())  # refused before any work


def test_stacking_and_selection_are_compared_on_the_same_test_utterances(objectives, tracking_uri):
    """The ensemble benchmark's paired comparison of the two ways, from the runs' logged test
    predictions (made up here), joined on the utterance, Holm over the languages."""
    import pandas as pd
    from mlflow.tracking import MlflowClient

    spec = importlib.util.spec_from_file_location("mser_bench_ensemble", BENCH.parent / "ensemble.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("e")
    truth = [0, 1, 2] * 6
    rows = []
    for language, predicted in (("de", {"stacking": truth, "selection": truth[:-6] + [0] * 6}),
                                ("it", {"stacking": truth, "selection": truth})):
        for method, labels in predicted.items():
            run = client.create_run(experiment).info.run_id
            frame = pd.DataFrame({"utterance": [f"{language}{i}" for i in range(len(truth))], "label": truth,
                                  "predicted": labels}).sample(frac=1, random_state=1)  # any order
            client.log_text(run, frame.to_csv(index=False), "predictions_test.csv")
            client.set_terminated(run)
            rows.append({"language": language, "asked": method, "run_id": run, "test_kappa": 0.0})
    de, it = module._stacking_vs_selection(tracking_uri, rows)
    assert de["language"] == "de" and de["utterances"] == 18 and de["difference"] > 0
    assert it["difference"] == 0 and it["mcnemar_p"] == 1
    assert de["holm_p"] >= de["mcnemar_p"]


def test_the_recipe_benchmark_holds_each_kind_of_space_to_its_recipe():
    from search.spaces import parse_fixed

    recipe = _module("recipe")
    for space in ("smile_svm", "smile_logreg", "smile_mlp"):  # the field's inputs; the classifier searched
        assert parse_fixed(space, recipe.held(space)) == {
            "functionals.feature_set": "ComParE_2016", "functionals.normalisation": "speaker", "functionals.select": 0}
    for space in ("cnn_features", "dnn_features"):  # no augmentation
        assert parse_fixed(space, recipe.held(space)) == {"augment.speed": False, "augment.noise_snr": 0.0}
    with pytest.raises(SystemExit, match="sae_cnn: it searches neither"):
        recipe.held("sae_cnn")


def test_the_cpu_probe_times_its_loop_and_prints_one_line():
    probe = _module("cpu_probe")
    assert 0 < probe.probe(1_000) < probe.probe(2_000_000)
    printed = subprocess.run([sys.executable, str(BENCH.parent / "cpu_probe.py")], capture_output=True, text=True,
                             check=True).stdout
    assert printed.startswith("CPU probe: ") and printed.endswith(" s (20 million Python multiply-adds; lower is "
                                                                   "faster)\n")


def test_the_slots_time_is_split_into_fitting_recording_other_runs_between_and_the_rest():
    peer = _module("peer")
    one, two = ("p", "n", "1"), ("p", "n", "2")
    spans = [{"start": 0.0, "end": 2.0, "fit": 1.5, "finished": True, "worker": one},
             {"start": 2.5, "end": 3.0, "fit": 0.4, "finished": False, "worker": one},
             {"start": 1.0, "end": 4.0, "fit": 2.0, "finished": True, "worker": two}]
    split = peer.slot_time(spans, 5.0, 2)
    assert (split["slot_s"], split["fitting_s"], split["recording_finished_s"]) == (10.0, 3.9, 1.5)
    assert (split["other_runs_s"], split["between_runs_s"], split["rest_s"]) == (0.1, 0.5, 4.0)
    assert split["recording_finished_median_s"] == 0.75
    assert split["overhead_if_finished_recorded_nothing"] == round(1 - 3.9 / 8.5, 3)
