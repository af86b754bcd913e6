"""The search's progress line: counts, best kappa, time spent and roughly what is left."""

from types import SimpleNamespace

import pytest
from mlflow.tracking import MlflowClient

from search.callbacks import MlflowStatusCallback
from search.trial import RUN_ID_KEY


def _callback(tmp_path, total=10):
    return MlflowStatusCallback(MlflowClient(f"sqlite:///{tmp_path / 'm.db'}"), total=total, label="sae_cnn-all",
                                stream=None)


def test_a_new_search_counts_from_zero_and_estimates_once_trials_end(tmp_path):
    status = _callback(tmp_path)
    status.on_step_begin(0, [])
    start = status._started
    assert status.line(start + 5) == ("sae_cnn-all: 0/10 trials ended (0 finished, 0 pruned, 0 failed), 0 running; "
                                      "best val kappa -; 5 s")
    status.done, status.pruned, status.best = 1, 1, 0.25
    status.running = {"a", "b"}
    # Two trials in 60 s, eight to go: about 240 s.
    assert status.line(start + 60).endswith("2 running; best val kappa 0.250; 60 s, about 4 min left")
    status.done = 10 - status.pruned
    assert status.line(start + 7200).endswith("best val kappa 0.250; 2.0 h")  # nothing left to estimate


def test_a_resumed_search_counts_the_trials_its_last_session_ended(tmp_path):
    status = _callback(tmp_path)
    trials = [SimpleNamespace(trial_id=str(i), status=state, last_result=result) for i, (state, result) in enumerate([
        ("TERMINATED", {"val_kappa": 0.41}), ("TERMINATED", {"val_kappa": 0.2}), ("ERROR", {}),
        ("PENDING", {"val_kappa": 0.9}),  # to run again: its old result counts for nothing
    ])]
    status.on_step_begin(0, trials)
    line = status.line(status._started + 1)
    assert line.startswith("sae_cnn-all: 3/10 trials ended (0 finished, 0 pruned, 0 failed, 3 before resuming)")
    assert "best val kappa 0.410" in line and "left" not in line
    status.on_step_begin(1, [])  # only the first step counts what came before
    assert status.earlier == 3


def test_the_best_is_a_choosable_models_kappa_and_the_encoder_probe_is_apart(tmp_path):
    from search.schedulers import CLASSIFIER_STEP, ENCODER_STEP

    status = _callback(tmp_path)
    status.on_step_begin(0, [])
    trial = SimpleNamespace(trial_id="a")
    status.on_trial_result(0, [], trial, {"val_kappa": 0.377, ENCODER_STEP: 3})  # the probe of the code
    assert "best val kappa - (encoder probe 0.377)" in status.line()
    status.on_trial_result(0, [], trial, {"val_kappa": 0.315, CLASSIFIER_STEP: 2})
    status.on_trial_result(0, [], trial, {"val_kappa": 0.301, ENCODER_STEP: 4})
    assert "best val kappa 0.315 (encoder probe 0.377);" in status.line()


def test_with_speaker_folds_only_a_trials_final_objective_is_a_best(tmp_path):
    from search.schedulers import CLASSIFIER_STEP
    from search.trial import FINAL_KEY

    status = _callback(tmp_path)
    status.folds = 5
    status.on_step_begin(0, [])
    trial = SimpleNamespace(trial_id="a")
    status.on_trial_result(0, [], trial, {"val_kappa": 0.9, CLASSIFIER_STEP: 1})  # the mean of its first fold
    assert "best val kappa -;" in status.line()
    status.on_trial_result(0, [], trial, {"val_kappa": 0.82, CLASSIFIER_STEP: 5, FINAL_KEY: True})
    assert "best val kappa 0.820;" in status.line()


def test_the_end_of_the_search_repeats_no_line(tmp_path):
    import io

    status = _callback(tmp_path, total=1)
    status.stream = io.StringIO()
    status.on_step_begin(0, [])
    status.done = 1
    status._print(force=True)
    status.on_experiment_end([])  # nothing changed since the last line
    assert status.stream.getvalue().count("1/1 trials ended") == 1


class _Away:
    """A tracking client whose store does not answer until ``back`` is set (a server restarting)."""

    def __init__(self, client):
        self.client, self.back = client, False

    def __getattr__(self, name):
        if not self.back:
            raise ConnectionError("the tracking server does not answer")
        return getattr(self.client, name)


def test_a_failed_trial_is_recorded_once_the_store_answers_again(tmp_path):
    from mlflow.entities import RunStatus

    status = _callback(tmp_path)
    client = status.client
    run = client.create_run(client.create_experiment("e"))
    status.client = _Away(client)
    trial = SimpleNamespace(trial_id="t1", status="ERROR", last_result={RUN_ID_KEY: run.info.run_id})
    status.on_trial_recover(0, [trial], trial)  # the store is away: nothing raises into Tune
    status.on_step(1, [trial])
    assert client.get_run(run.info.run_id).info.status == "RUNNING" and status.retried == 1
    status.client.back = True
    status.on_step(2, [trial])
    ended = client.get_run(run.info.run_id)
    assert ended.info.status == RunStatus.to_string(RunStatus.FAILED) and ended.data.tags["retried"] == "true"
    assert status._unfailed == []


def test_a_trials_clock_is_readable_while_it_trains_and_leaves_out_the_time_aside(monkeypatch):
    """Each epoch logs the trial's training seconds so far, so a trial whose worker ends
    before the trial does (a search's last stopped trials) still has its train_seconds."""
    from search import trial as trial_module
    from search.trial import _Clock

    now = [100.0]  # a clock the test moves: the arithmetic, not the machine's speed, is under test
    monkeypatch.setattr(trial_module.time, "perf_counter", lambda: now[0])
    clock = _Clock()
    with clock.training():
        now[0] += 0.05
        with clock.aside():  # logging and reporting: not training
            now[0] += 0.2
            during = clock.metric().value
        now[0] += 0.05
        assert clock.elapsed == pytest.approx(0.1)
    assert during == pytest.approx(0.25) and clock.elapsed == clock.seconds
    assert clock.seconds == pytest.approx(0.1) and clock.metric().key == "train_seconds"
