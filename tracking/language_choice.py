"""Which model serves a language: its own study's result, or a joint study's.

A language's test speakers may be served better by the joint model than by the
language's own. :func:`language_choice` compares, for one language, the latest study of
that language and the latest joint (``all``) study of each space, on **that language's
validation speakers only**, never its test speakers:

- if every study measured speaker folds, the kappa of its chosen trial's pooled
  out-of-fold predictions on the language's training speakers (``cv_val_kappa_<lang>``);
- otherwise the chosen trial's kappa on the language's validation speakers of the one
  split (``val_kappa`` of the language's own study, ``val_kappa_<lang>`` of a joint one;
  each corpus's validation speakers are drawn the same whichever corpora a split holds).

The study chosen serves the language through its result (its refit, or its chosen trial).
Ties go to the language's own study, then to the space listed first. The own study's
figure is the one its search maximised, so the comparison leans towards it, never
against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.tracking import MlflowClient

from mser.corpora import JOINT
from mser.metrics import VAL_KAPPA, per_language
from mser.models import MODELS
from tracking.query import latest_studies, result_run_id
from tracking.schema import BEST_RUN_TAG, CV_VAL_KAPPA, DATASET_KEY_TAG

#: What the studies were compared by: pooled out-of-fold predictions, or the one validation split.
OUT_OF_FOLD = "out-of-fold predictions on the language's training speakers"
ONE_SPLIT = "the language's validation speakers of the one split"


@dataclass(frozen=True)
class Option:
    """One study that can serve the language, with the figure it is judged by."""

    space: str
    study: str
    parent_run_id: str
    chosen_run_id: str
    result_run_id: str
    val_kappa: float


@dataclass(frozen=True)
class LanguageChoice:
    """The studies that can serve ``language``, best first, and what they were compared by."""

    language: str
    measure: str
    options: tuple[Option, ...]

    @property
    def chosen(self) -> Option:
        return self.options[0]


def language_choice(client: MlflowClient, experiment_id: str, language: str, *,
                    space: str | None = None) -> LanguageChoice | None:
    """The choice for ``language`` among the latest studies of ``experiment_id`` (of ``space``
    only, if given); None when no study can serve it. Studies on other data than the
    language's own study (another dataset key) are left out: they were not measured on the
    same speakers."""
    studies = {key: parent for key, parent in latest_studies(client, experiment_id).items()
               if key[1] in (language, JOINT) and key[0] in MODELS and (space is None or key[0] == space)
               and BEST_RUN_TAG in parent.data.tags}
    own_keys = {p.data.tags.get(DATASET_KEY_TAG) for (_, lang), p in studies.items() if lang == language}
    if own_keys:
        studies = {key: p for key, p in studies.items() if p.data.tags.get(DATASET_KEY_TAG) in own_keys}
    chosen = {key: client.get_run(parent.data.tags[BEST_RUN_TAG]) for key, parent in studies.items()}
    folds = per_language(CV_VAL_KAPPA, language)
    every_fold = bool(chosen) and all(folds in run.data.metrics for run in chosen.values())
    options = []
    for (name, study), parent in studies.items():
        metrics = chosen[(name, study)].data.metrics
        metric = folds if every_fold else VAL_KAPPA if study == language else per_language(VAL_KAPPA, language)
        if metric not in metrics:
            continue
        options.append(Option(name, study, parent.info.run_id, chosen[(name, study)].info.run_id,
                              result_run_id(parent), float(metrics[metric])))
    if not options:
        return None
    order = list(MODELS)
    options.sort(key=lambda o: (-o.val_kappa, o.study != language, order.index(o.space)))
    return LanguageChoice(language, OUT_OF_FOLD if every_fold else ONE_SPLIT, tuple(options))
