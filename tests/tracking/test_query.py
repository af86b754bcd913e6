"""Reading runs back: every page of a query, and the one definition of the best run."""

import time

from mlflow.tracking import MlflowClient

from tracking import query
from tracking.schema import PARENT_TAG


def _run(client, experiment, **metrics):
    run = client.create_run(experiment, tags={PARENT_TAG: "p"})
    for name, value in metrics.items():
        client.log_metric(run.info.run_id, name, value)
    client.set_terminated(run.info.run_id)
    time.sleep(0.002)  # distinct start times, the tie-breaker
    return run.info.run_id


def test_every_page_is_read(tracking_uri, monkeypatch):
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("pages")
    ids = [_run(client, experiment, val_kappa=i / 10) for i in range(7)]
    monkeypatch.setattr(query, "PAGE_SIZE", 2)  # 4 pages
    assert [r.info.run_id for r in query.all_runs(client, [experiment])] == ids
    assert [r.info.run_id for r in query.children(client, experiment, "p", "metrics.val_kappa > 0.35")] == ids[4:]
    assert [r.info.run_id for r in query.all_runs(client, [experiment], order_by=query.NEWEST_FIRST)] == ids[::-1]


def test_the_best_run_ties_to_the_earlier_and_ignores_missing_or_nan(tracking_uri):
    client = MlflowClient(tracking_uri)
    experiment = client.create_experiment("best")
    first = _run(client, experiment, val_kappa=0.4)
    _run(client, experiment, val_kappa=float("nan"))
    second = _run(client, experiment, val_kappa=0.4)
    _run(client, experiment, other=1.0)
    low = _run(client, experiment, val_kappa=0.1)
    runs = query.all_runs(client, [experiment], order_by=query.NEWEST_FIRST)  # the order given does not matter
    assert query.best_by(runs, "val_kappa").info.run_id == first
    assert [r.info.run_id for r in query.ranked(runs, "val_kappa")] == [first, second, low]
    assert query.best_by(runs, "test_kappa") is None


def test_held_values_read_the_parents_tag_and_keep_an_edited_one_as_it_reads():
    from types import SimpleNamespace

    from tracking.schema import FIXED_TAG

    def parent(**tags):
        return SimpleNamespace(data=SimpleNamespace(tags=tags))

    assert query.held_values(parent()) == {}
    assert query.held_values(parent(**{FIXED_TAG: '{"augment.speed": false}'})) == {"augment.speed": False}
    for edited in ("not json", "[1, 2]", "3"):  # the UI edits tags: never a crash, never a match
        assert query.held_values(parent(**{FIXED_TAG: edited})) == {FIXED_TAG: edited}
