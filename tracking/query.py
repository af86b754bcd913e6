"""Reading runs back: every page of a query, a study's trials, and the best run by a metric.

MLflow answers ``search_runs`` a page at a time (at most 1000 runs per page against a
server); :func:`all_runs` follows the pages, so a large search is never cut silently.
:func:`ranked` and :func:`best_by` are the one definition of "the best run": the
highest value of a metric, ties to the run that started first.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Iterable, Sequence

if TYPE_CHECKING:
    from mlflow.entities import Run
    from mlflow.tracking import MlflowClient

from tracking.schema import (
    BEST_RUN_TAG,
    FIXED_TAG,
    LANGUAGE_TAG,
    LEGACY_PRUNED_TAG,
    OUTCOME_TAG,
    PARENT_ROLE,
    PARENT_TAG,
    RESULT_RUN_TAG,
    SEARCH_TAG,
    SPACE_TAG,
    Outcome,
)

#: Runs per page: the most an MLflow server returns in one answer.
PAGE_SIZE = 1000
OLDEST_FIRST = ("attributes.start_time ASC",)
NEWEST_FIRST = ("attributes.start_time DESC",)


def all_runs(client: MlflowClient, experiment_ids: Sequence[str], filter_string: str = "", *,
             order_by: Sequence[str] = OLDEST_FIRST) -> list[Run]:
    """Every run of ``experiment_ids`` matching ``filter_string``, in ``order_by`` order, all pages."""
    runs, token = [], None
    while True:
        page = client.search_runs(list(experiment_ids), filter_string, max_results=PAGE_SIZE,
                                  order_by=list(order_by), page_token=token)
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def children(client: MlflowClient, experiment_id: str, parent_run_id: str, extra: str = "") -> list[Run]:
    """The runs nested under ``parent_run_id`` (a study's trials), oldest first, with an optional
    extra filter clause such as ``attributes.status = 'FINISHED'``."""
    query = f"tags.{PARENT_TAG} = '{parent_run_id}'" + (f" and {extra}" if extra else "")
    return all_runs(client, [experiment_id], query)


def outcome(run: Run) -> Outcome | None:
    """How a trial's run ended for its study (the one reader of :data:`~tracking.schema.OUTCOME_TAG`):
    the driver's word when it has written it; else, for a run of an older store or one the
    driver has not settled yet, what its status says (None while it is RUNNING)."""
    written = run.data.tags.get(OUTCOME_TAG)
    if written in {o.value for o in Outcome}:
        return Outcome(written)
    if run.data.tags.get(LEGACY_PRUNED_TAG) == "true":
        return Outcome.PRUNED
    return {"FINISHED": Outcome.FINISHED, "FAILED": Outcome.FAILED}.get(run.info.status)


def metric_of(run: Run, metric: str) -> float | None:
    """The run's ``metric``, or None when it is missing or not a finite number."""
    value = run.data.metrics.get(metric)
    return value if value is not None and math.isfinite(value) else None


def ranked(runs: Iterable[Run], metric: str, *, spread: str | None = None) -> list[Run]:
    """The runs with a finite ``metric``, best first; ties go to the run with the lowest
    ``spread`` metric if given (e.g. the spread of the objective over speaker folds: the
    steadier configuration), then to the run that started first."""
    scored = [run for run in runs if metric_of(run, metric) is not None]
    return sorted(scored, key=lambda run: (-run.data.metrics[metric],
                                           (metric_of(run, spread) if spread else None) or 0.0,
                                           run.info.start_time or 0))


def best_by(runs: Iterable[Run], metric: str, *, spread: str | None = None) -> Run | None:
    """The first run of :func:`ranked`, or None."""
    order = ranked(runs, metric, spread=spread)
    return order[0] if order else None


def latest_studies(client: MlflowClient, experiment_id: str) -> dict[tuple[str, str], Run]:
    """The parent run of the latest finished study of each (space, language) in the experiment."""
    parents = all_runs(client, [experiment_id], f"tags.{SEARCH_TAG} = '{PARENT_ROLE}' and attributes.status = "
                       "'FINISHED'", order_by=NEWEST_FIRST)
    latest: dict[tuple[str, str], Run] = {}
    for parent in parents:
        latest.setdefault((parent.data.tags[SPACE_TAG], parent.data.tags[LANGUAGE_TAG]), parent)
    return latest


def held_values(parent: "Run") -> dict:
    """What a study's parent run says its search held with ``--fix`` (parameter to value), ``{}``
    for a search of the whole space. A tag edited into something else (the UI edits tags) is
    kept as it reads, ``{"fixed_params": text}``: it matches no search's held values, so no warm
    start takes it, and the report shows it as it is."""
    text = parent.data.tags.get(FIXED_TAG, "{}")
    try:
        held = json.loads(text)
    except ValueError:
        held = None
    return held if isinstance(held, dict) else {FIXED_TAG: text}


def result_run_id(parent: Run) -> str | None:
    """The run id of a study's result: its refit, or its chosen trial (studies without a
    refit, and those recorded before refits existed); None if no trial finished."""
    tags = parent.data.tags
    return tags.get(RESULT_RUN_TAG) or tags.get(BEST_RUN_TAG)
