"""What a resumed search keeps of the runs its dead driver left: one run per trial."""

from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from search.study import _close_orphans, _drop_superseded
from tracking.schema import INTERRUPTED_TAG, PARENT_TAG, RETRIED_TAG, TRIAL_TAG


def _child(client, experiment, parent, trial, *, status=None, **tags):
    run = client.create_run(experiment, tags={PARENT_TAG: parent, TRIAL_TAG: trial, **tags})
    if status:
        client.set_terminated(run.info.run_id, status)
    return run.info.run_id


def _ids(client, experiment, parent, view=ViewType.ACTIVE_ONLY):
    return {r.info.run_id for r in client.search_runs([experiment], f"tags.mlflow.parentRunId = '{parent}'",
                                                      run_view_type=view)}


def test_a_resumed_search_keeps_one_run_per_trial(tracking_uri):
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("resume")
    parent = client.create_run(experiment).info.run_id
    done = _child(client, experiment, parent, "t1", status="FINISHED")
    retried = _child(client, experiment, parent, "t2", status="FAILED", **{RETRIED_TAG: "true"})
    # Trials the dead driver started after it last saved Tune's state: one ended, one had a
    # worker fault, one was running. The resumed search knows none of them.
    unsaved = [_child(client, experiment, parent, "t4", status="FINISHED"),
               _child(client, experiment, parent, "t6", status="FAILED", **{RETRIED_TAG: "true"}),
               _child(client, experiment, parent, "t6")]
    # Left RUNNING too: t2 (in the saved state, runs again) and t3 (pruned as the driver died:
    # saved as ended, so it does not run again).
    rerun, pruned = (_child(client, experiment, parent, t) for t in ("t2", "t3"))
    _close_orphans(client, experiment, parent)
    for run_id in (rerun, pruned, unsaved[2]):
        run = client.get_run(run_id)
        assert run.info.status == "KILLED" and run.data.tags[INTERRUPTED_TAG] == "true"
    again = _child(client, experiment, parent, "t2", status="FINISHED")
    new = _child(client, experiment, parent, "t5", status="FINISHED")

    # Interrupted again: the trials are not all known, only superseded runs go.
    assert _drop_superseded(client, experiment, parent, None) == 0
    assert _ids(client, experiment, parent, ViewType.DELETED_ONLY) == {rerun}
    # Complete: runs of unknown trials go to the trash too.
    assert _drop_superseded(client, experiment, parent, {"t1", "t2", "t3", "t5"}) == 3
    assert _ids(client, experiment, parent) == {done, retried, pruned, again, new}
    assert _ids(client, experiment, parent, ViewType.DELETED_ONLY) == {rerun, *unsaved}
    client.set_terminated(parent)
