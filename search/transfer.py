"""Across languages: each language's best model scored on the other languages' test speakers.

The transfer matrix of one model space (rows: the languages trained on, columns: the
language tested) needs no retraining. :func:`score_transfer` loads the result of each
single-language study (its refit, or the chosen trial with ``--no-refit``; chosen on that
language's validation speakers, as everywhere) and
scores it on the test speakers of every other language that has a study of the same
space in the experiment, logging on that best run the metric ``transfer_kappa_<train>_to_<test>``
and the predictions ``predictions_transfer_<test>.csv``. The other cells are already
logged: the diagonal is a study's own test score (within-language), the joint model's row
its test score per language, and a held-out-language study (``all-but-it``) fills its
language's column. The report reads them all (:mod:`report.build`).
"""

from __future__ import annotations

from mlflow.tracking import MlflowClient

from mser.corpora import is_one_language, study_order
from mser.dataset import Dataset
from tracking.model import load_pipeline, score_logged_model
from tracking.query import latest_studies, result_run_id
from tracking.schema import (
    DATASET_KEY_TAG,
    MODEL_URI_TAG,
    speakers_tag,
    transfer_metric,
    transfer_predictions_file,
)


def score_transfer(client: MlflowClient, experiment_id: str, space: str, dataset: Dataset) -> list[dict]:
    """Score each single-language best model of ``space`` on the other studied languages' test
    speakers, where not scored yet; return one row per cell scored now.

    Only studies of ``dataset`` (the same dataset key) are used: a model is scored on the
    speakers its study's split held out, read from the data it was searched on.
    """
    studies = {language: parent for (name, language), parent in latest_studies(client, experiment_id).items()
               if name == space and is_one_language(language) and result_run_id(parent) is not None
               and parent.data.tags.get(DATASET_KEY_TAG) == dataset.key}
    best = {language: client.get_run(result_run_id(parent)) for language, parent in studies.items()}
    rows = []
    for train_language, run in sorted(best.items(), key=lambda item: study_order(item[0])):
        missing = [test for test in sorted(best, key=study_order) if test != train_language
                   and transfer_metric(train_language, test) not in run.data.metrics]
        if not missing or MODEL_URI_TAG not in run.data.tags:
            continue
        pipeline = load_pipeline(run.data.tags[MODEL_URI_TAG])
        for test_language in missing:
            speakers = best[test_language].data.tags[speakers_tag("test")].split()
            evaluation = score_logged_model(run, dataset, speakers, pipeline=pipeline)
            metric = transfer_metric(train_language, test_language)
            client.log_metric(run.info.run_id, metric, evaluation.utterances["kappa"])
            client.log_text(run.info.run_id, evaluation.predictions.to_csv(index=False),
                            transfer_predictions_file(test_language))
            rows.append({"space": space, "train": train_language, "test": test_language,
                         "run_id": run.info.run_id, "kappa": evaluation.utterances["kappa"],
                         "utterances": len(evaluation.predictions)})
    return rows
