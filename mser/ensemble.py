"""Ensembles: several trained models as one, their utterance probabilities averaged with weights.

The weights are chosen on validation speakers by Caruana et al.'s ensemble selection
(*Ensemble selection from libraries of models*, ICML 2004; the method auto-sklearn builds
its ensembles with): start from the best candidate alone, then again and again add the
candidate (one already in, or a new one) whose addition most raises the validation kappa of
the average, and keep the round that scored best. A candidate's weight is the share of the
kept rounds that picked it, so a weak or redundant one gets none. Selection reads validation
predictions only; test speakers are scored once, by the caller, after the choice.

Stacking (Wolpert 1992) is the other way to combine: a meta-learner (multinomial logistic
regression on the members' log probabilities) learns how to weigh the members from their
*out-of-fold* predictions over the training speakers (:func:`out_of_fold`): each candidate's
configuration is trained again on K speaker folds of the training speakers, for the epochs
its trial found and without early stopping, and predicts the fold it did not see. So the
meta-learner never reads a validation or test speaker; the stacked ensemble is then judged
on the validation speakers like any candidate (the members are the trial models, trained on
every training speaker).

An :class:`EnsemblePipeline` answers like an :class:`~mser.pipeline.EmotionPipeline` (raw
audio in, one prediction per signal out), whatever its members read: each member pools its
own windows per utterance first, so models on windows and on utterance functionals mix.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from mser.errors import SkipFile
from mser.metrics import evaluate, kappas, probability_column

if TYPE_CHECKING:
    import pandas as pd

    from mser.dataset import Dataset
    from mser.metrics import Evaluation
    from mser.pipeline import EmotionPipeline, Prediction
    from mser.splits import Split
    from mser.train import TrainConfig

#: Rounds of ensemble selection (Caruana et al. found gains level off within a few dozen).
DEFAULT_ROUNDS = 25
#: Best candidates of each search offered to the selection.
DEFAULT_TOP = 3
#: Speaker folds of the training speakers for stacking's out-of-fold predictions.
DEFAULT_STACK_FOLDS = 5
#: How an ensemble combines its members: the selection's weighted average, or a stacker.
METHODS = ("selection", "stacking")
_FORMAT = 1
MANIFEST = "ensemble.json"
STACKER = "stacker.joblib"
#: Probabilities are floored here before their log is taken (a member's 0 is not -inf).
_FLOOR = 1e-6


@dataclass(frozen=True)
class Selection:
    """What ensemble selection chose.

    Attributes:
        weights: One per candidate, in the candidates' order, summing to 1 (0 for one not picked).
        kappa: The validation kappa of the weighted average.
        path: The validation kappa after each round (the first is the best candidate's alone).
        best_single: Index of the best candidate alone (ties to the first).
    """

    weights: tuple[float, ...]
    kappa: float
    path: tuple[float, ...]
    best_single: int

    @property
    def members(self) -> list[int]:
        """Indexes of the candidates with a weight, in the candidates' order."""
        return [i for i, weight in enumerate(self.weights) if weight > 0]


def select(probabilities: Sequence[np.ndarray], truth: np.ndarray, *, rounds: int = DEFAULT_ROUNDS) -> Selection:
    """Ensemble selection with replacement over candidates' probabilities of the same
    utterances (validation speakers only), maximising Cohen's kappa.

    Args:
        probabilities: One ``(utterances, emotions)`` array per candidate, same rows.
        truth: The utterances' labels.
        rounds: Additions at most (the best round is kept, so more rounds never score worse).
    """
    stacked = np.stack([np.asarray(p, dtype=float) for p in probabilities])
    if stacked.ndim != 3 or stacked.shape[1] != len(truth) or len(truth) == 0:
        raise ValueError(f"candidates' probabilities must be (utterances, emotions) for the same {len(truth)} "
                         f"utterances, got {stacked.shape}")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    alone = kappas(truth[None, :], stacked.argmax(axis=2))
    first = int(np.argmax(alone))
    counts = np.zeros(len(stacked))
    counts[first] = 1
    total, path = stacked[first].copy(), [float(alone[first])]
    best, best_counts = path[0], counts.copy()
    for size in range(2, rounds + 1):
        scores = kappas(truth[None, :], ((total[None] + stacked) / size).argmax(axis=2))
        pick = int(np.argmax(scores))  # ties go to the candidate listed first (the better ranked)
        total += stacked[pick]
        counts[pick] += 1
        path.append(float(scores[pick]))
        if scores[pick] > best:
            best, best_counts = float(scores[pick]), counts.copy()
    return Selection(tuple(float(w) for w in best_counts / best_counts.sum()), best, tuple(path), first)


def average(probabilities: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """The weighted average of the members' probabilities (rows summing to 1)."""
    return np.tensordot(np.asarray(weights, dtype=float), np.stack(probabilities), axes=1)


def out_of_fold(dataset: Dataset, configs: Sequence[TrainConfig], split: Split, *,
                 folds: int = DEFAULT_STACK_FOLDS, seed: int = 0,
                 progress=None) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Each configuration's out-of-fold predictions of the training speakers of ``split``.

    The training speakers (``split.train`` only: never a validation or test speaker) are cut
    into ``folds`` speaker folds (:func:`mser.splits.grouped_kfold`, fewer if there are fewer
    speakers); each configuration is trained on the other folds for exactly its epochs (no
    early stopping: nothing to stop on) and predicts the fold's utterances.

    Returns:
        The training utterances (utterance, language, label), and one ``(utterances,
        emotions)`` probability array per configuration, in that order.
    """
    from mser.splits import Split as SplitType
    from mser.splits import grouped_kfold
    from mser.train import train

    speakers = sorted(split.train)
    k = min(folds, len(speakers))
    if k < 2:
        raise ValueError(f"stacking needs at least 2 training speakers for its folds, got {len(speakers)}")
    parts = grouped_kfold(speakers, k, seed=seed)
    per_config = []
    for index, config in enumerate(configs):
        evaluations = []
        for number, fold in enumerate(parts, start=1):
            fold_split = SplitType(f"{split.name}-oof{number}", train=fold.train, test=fold.test)
            evaluations.append(train(dataset, config, split=fold_split).test)
            if progress is not None:
                progress(index * len(parts) + number, len(configs) * len(parts))
        per_config.append(_concatenated(evaluations))
    return aligned(per_config)


def _concatenated(evaluations: Sequence[Evaluation]) -> Evaluation:
    """The evaluation of the union of disjoint folds' predictions (each utterance once)."""
    import pandas as pd

    predictions = pd.concat([e.predictions for e in evaluations], ignore_index=True)
    emotions = tuple(evaluations[0].emotions)
    return evaluate(predictions[[probability_column(e) for e in emotions]].to_numpy(),
                    predictions[["utterance", "language", "label"]], emotions=emotions)


def stacker_features(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    """The meta-learner's inputs: every member's log probabilities side by side."""
    return np.hstack([np.log(np.clip(np.asarray(p, dtype=float), _FLOOR, 1.0)) for p in probabilities])


def fit_stacker(probabilities: Sequence[np.ndarray], truth: np.ndarray, *, seed: int = 0):
    """A multinomial logistic regression (scikit-learn, class-balanced) fitted on the members'
    out-of-fold ``probabilities`` of the training speakers and their labels ``truth``."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=1.0, class_weight="balanced", max_iter=2000, random_state=seed).fit(
        stacker_features(probabilities), np.asarray(truth))


def stacked(stacker, probabilities: Sequence[np.ndarray], n_classes: int) -> np.ndarray:
    """The stacked ensemble's probabilities of the members' ``probabilities`` (rows sum to 1)."""
    from mser.pipeline import classifier_probabilities

    return classifier_probabilities(stacker, stacker_features(probabilities), n_classes)


def stacker_weights(stacker, members: int) -> tuple[float, ...]:
    """Each member's share of the meta-learner's absolute coefficients: how much it reads each."""
    coefficients = np.abs(np.asarray(stacker.coef_, dtype=float)).reshape(len(stacker.coef_), members, -1)
    shares = coefficients.sum(axis=(0, 2))
    return tuple(float(w) for w in shares / shares.sum()) if shares.sum() > 0 else (1.0 / members,) * members


@dataclass(frozen=True)
class Judged:
    """Selection and stacking, both fitted on the same out-of-fold predictions, judged on validation.

    Attributes:
        selection: Ensemble selection over the out-of-fold predictions (weights in the candidates' order).
        stacker: The meta-learner fitted on them.
        kappa: Each way's validation kappa (``selection``, ``stacking``): neither was fitted on it.
    """

    selection: Selection
    stacker: object
    kappa: dict[str, float]

    @property
    def winner(self) -> str:
        """The way with the higher validation kappa (selection on a tie: it is the simpler)."""
        return "stacking" if self.kappa["stacking"] > self.kappa["selection"] else "selection"


def judge(out_of_fold: Sequence[np.ndarray], oof_truth: np.ndarray, validation: Sequence[np.ndarray],
          truth: np.ndarray, *, rounds: int = DEFAULT_ROUNDS, seed: int = 0) -> Judged:
    """Fit selection's weights and the stacker on the candidates' ``out_of_fold`` predictions of
    the training speakers (labels ``oof_truth``), and score each on their ``validation``
    predictions (labels ``truth``): like judged with like, the validation speakers fit neither."""
    selection = select(out_of_fold, oof_truth, rounds=rounds)
    stacker = fit_stacker(out_of_fold, oof_truth, seed=seed)
    n_classes = np.asarray(validation[0]).shape[1]
    scores = {"selection": average(validation, selection.weights), "stacking": stacked(stacker, validation, n_classes)}
    return Judged(selection, stacker, {name: float(kappas(np.asarray(truth)[None, :], p.argmax(axis=1)[None, :])[0])
                                       for name, p in scores.items()})


def aligned(evaluations: Sequence[Evaluation]) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """Several models' evaluations of the same utterances, matched by utterance id in the
    first's order: ``(utterance, language and label of each, one probability array per model)``.

    Raises:
        ValueError: They predict different label sets, or did not score the same utterances.
    """
    first = evaluations[0]
    order = first.predictions["utterance"]
    arrays = []
    for evaluation in evaluations:
        if tuple(evaluation.emotions) != tuple(first.emotions):
            raise ValueError(f"models predict different labels: {evaluation.emotions} and {first.emotions}")
        table = evaluation.predictions.set_index("utterance")
        if len(table) != len(order) or set(table.index) != set(order):
            raise ValueError("models were scored on different utterances")
        arrays.append(table.loc[order, [probability_column(e) for e in first.emotions]].to_numpy())
    return first.predictions[["utterance", "language", "label"]].reset_index(drop=True), arrays


def combine(evaluations: Sequence[Evaluation], weights: Sequence[float]) -> Evaluation:
    """The evaluation of the weighted average of several models' evaluations of the same utterances."""
    meta, arrays = aligned(evaluations)
    return evaluate(average(arrays, weights), meta, emotions=tuple(evaluations[0].emotions))


@dataclass(frozen=True)
class EnsemblePipeline:
    """Trained models answering as one: the weighted average of their probabilities.

    Attributes:
        members: The trained models (:class:`~mser.pipeline.EmotionPipeline`), one label set.
        weights: One per member, summing to 1: the average's weights; with a ``stacker``, each
            member's share of its coefficients (:func:`stacker_weights`), for the record.
        names: What to call each member (e.g. the run it came from).
        stacker: A meta-learner fitted on out-of-fold predictions (:func:`fit_stacker`): it
            combines the members instead of the weighted average.
    """

    members: tuple[EmotionPipeline, ...]
    weights: tuple[float, ...]
    names: tuple[str, ...] = ()
    stacker: object = None

    def __post_init__(self) -> None:
        if not self.members or len(self.weights) != len(self.members):
            raise ValueError(f"an ensemble needs members and one weight each, got {len(self.members)} and "
                             f"{len(self.weights)}")
        if any(w < 0 for w in self.weights) or not np.isclose(sum(self.weights), 1.0):
            raise ValueError(f"weights must be non-negative and sum to 1, got {self.weights}")
        labels = {tuple(m.emotions) for m in self.members}
        if len(labels) > 1:
            raise ValueError(f"members predict different label sets: {sorted(labels)}")

    @property
    def emotions(self) -> tuple[str, ...]:
        return tuple(self.members[0].emotions)

    @property
    def requirements(self) -> tuple[str, ...]:
        """The packages its members need beyond the project's own."""
        return tuple(dict.fromkeys(r for m in self.members for r in m.requirements))

    @property
    def method(self) -> str:
        """How it combines its members (one of :data:`METHODS`)."""
        return "selection" if self.stacker is None else "stacking"

    def combine(self, probabilities: Sequence[np.ndarray]) -> np.ndarray:
        """The ensemble's probabilities of its members' ``(rows, emotions)`` probabilities."""
        if self.stacker is None:
            return average(probabilities, self.weights)
        return stacked(self.stacker, probabilities, len(self.emotions))

    def predict_signals(self, signals: Sequence[tuple[np.ndarray, int]],
                        speakers: Sequence[str | None] | None = None) -> list[Prediction | SkipFile]:
        """Classify several signals as every member does, and average: a signal one member
        cannot use gets that member's reason."""
        from mser.pipeline import prediction

        answers = [member.predict_signals(signals, speakers) for member in self.members]
        results: list[Prediction | SkipFile] = []
        for index in range(len(signals)):
            each = [member_answers[index] for member_answers in answers]
            skipped = next((a for a in each if isinstance(a, SkipFile)), None)
            if skipped is not None:
                results.append(skipped)
                continue
            pooled = self.combine([np.array([[a.probabilities[e] for e in self.emotions]]) for a in each])[0]
            results.append(prediction(pooled, max(a.windows for a in each), self.emotions))
        return results

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the members (``member-0``...) and the weights (``ensemble.json``) to ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for index, member in enumerate(self.members):
            member.save(folder / f"member-{index}")
        if self.stacker is not None:
            import joblib

            joblib.dump(self.stacker, folder / STACKER)
        (folder / MANIFEST).write_text(json.dumps({"format": _FORMAT, "weights": list(self.weights),
                                                   "names": list(self.names), "method": self.method}, indent=2))
        return folder

    @classmethod
    def load(cls, folder: str | os.PathLike) -> EnsemblePipeline:
        """Read an ensemble written by :meth:`save`."""
        from mser.pipeline import EmotionPipeline

        folder = Path(folder)
        manifest = json.loads((folder / MANIFEST).read_text())
        if manifest.get("format") != _FORMAT:
            raise ValueError(f"{folder} holds an ensemble of format {manifest.get('format')}, this version reads "
                             f"{_FORMAT}: build it again")
        members = tuple(EmotionPipeline.load(folder / f"member-{i}") for i in range(len(manifest["weights"])))
        stacker = None
        if manifest.get("method", "selection") == "stacking":
            import joblib

            stacker = joblib.load(folder / STACKER)
        return cls(members, tuple(manifest["weights"]), tuple(manifest.get("names", ())), stacker)
