"""Ensemble selection and averaging (mser/ensemble.py), on made-up probabilities."""

import numpy as np
import pandas as pd
import pytest

from mser.ensemble import EnsemblePipeline, combine, select
from mser.errors import SkipFile
from mser.metrics import evaluate, kappa
from mser.pipeline import Prediction

EMOTIONS = ("angry", "happy", "sad")


def _confident(labels: np.ndarray, right: np.ndarray, rng) -> np.ndarray:
    """Probabilities that pick the true label where ``right``, another label elsewhere."""
    picked = np.where(right, labels, (labels + rng.integers(1, 3, len(labels))) % 3)
    probabilities = np.full((len(labels), 3), 0.1)
    probabilities[np.arange(len(labels)), picked] = 0.8
    return probabilities


def test_selection_joins_complementary_candidates_and_leaves_out_noise():
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, 120)
    first_half = np.arange(120) < 60
    a = _confident(truth, first_half | (rng.random(120) < 0.3), rng)  # right on the first half
    b = _confident(truth, ~first_half | (rng.random(120) < 0.3), rng)  # right on the second
    b[first_half] *= 0.5  # less sure where it is wrong, so the average follows the one that knows
    b[first_half] /= b[first_half].sum(axis=1, keepdims=True)
    a[~first_half] = 0.5 * a[~first_half] + 0.5 / 3
    noise = rng.dirichlet(np.ones(3), 120)
    chosen = select([a, noise, b], truth)
    alone = [kappa(truth, p.argmax(axis=1)) for p in (a, noise, b)]
    assert chosen.weights[1] == 0 and chosen.weights[0] > 0 and chosen.weights[2] > 0
    assert sum(chosen.weights) == pytest.approx(1.0)
    assert chosen.kappa > max(alone) and chosen.path[0] == max(alone) and chosen.best_single == int(np.argmax(alone))
    assert chosen.members == [0, 2]


def test_a_candidate_nothing_improves_stands_alone():
    truth = np.array([0, 1, 2] * 20)
    perfect = np.eye(3)[truth] * 0.9 + 0.1 / 3
    chosen = select([np.full((60, 3), 1 / 3), perfect], truth)
    assert chosen.weights == (0.0, 1.0) and chosen.kappa == 1.0
    with pytest.raises(ValueError, match="same 60 utterances"):
        select([perfect[:50]], truth)


def _evaluation(probabilities, order, truth):
    meta = pd.DataFrame({"utterance": order, "language": "de", "label": truth})
    return evaluate(probabilities, meta, emotions=EMOTIONS)


def test_combining_evaluations_matches_utterances_by_id_not_by_row():
    rng = np.random.default_rng(1)
    ids, truth = np.array([f"u{i}" for i in range(30)]), rng.integers(0, 3, 30)
    p, q = rng.dirichlet(np.ones(3), 30), rng.dirichlet(np.ones(3), 30)
    shuffled = rng.permutation(30)
    together = combine([_evaluation(p, ids, truth), _evaluation(q[shuffled], ids[shuffled], truth[shuffled])],
                       [0.25, 0.75])
    expected = _evaluation(0.25 * p + 0.75 * q, ids, truth)
    assert together.utterances == pytest.approx(expected.utterances)
    assert together.predictions["predicted"].tolist() == expected.predictions["predicted"].tolist()
    with pytest.raises(ValueError, match="different utterances"):
        combine([_evaluation(p, ids, truth), _evaluation(q[:20], ids[:20], truth[:20])], [0.5, 0.5])


class _Member:
    """What an ensemble asks of a member: its labels, needs and answers."""

    def __init__(self, answers, requirements=()):
        self.answers, self.requirements, self.emotions = answers, requirements, EMOTIONS

    def predict_signals(self, signals, speakers=None):
        return self.answers[:len(signals)]


def test_an_ensemble_answers_with_the_weighted_average_and_passes_a_members_refusal_on():
    a = _Member([Prediction("angry", {"angry": 0.6, "happy": 0.3, "sad": 0.1}, 3), SkipFile("too short")],
                ("opensmile",))
    b = _Member([Prediction("happy", {"angry": 0.2, "happy": 0.7, "sad": 0.1}, 1),
                 Prediction("sad", {"angry": 0.1, "happy": 0.1, "sad": 0.8}, 1)], ("opensmile", "other"))
    ensemble = EnsemblePipeline((a, b), (0.25, 0.75))
    first, second = ensemble.predict_signals([(np.zeros(8000), 8000)] * 2)
    assert first.emotion == "happy" and first.probabilities["angry"] == pytest.approx(0.25 * 0.6 + 0.75 * 0.2)
    assert first.windows == 3
    assert isinstance(second, SkipFile) and "too short" in str(second)
    assert ensemble.requirements == ("opensmile", "other")
    with pytest.raises(ValueError, match="sum to 1"):
        EnsemblePipeline((a, b), (0.5, 0.6))


def test_stacking_learns_which_member_to_trust_for_which_emotion():
    """A meta-learner on out-of-fold predictions: member a tells angry from happy but calls sad
    one of them, b says sad exactly when it is and guesses otherwise; the stacker reads each
    where it knows, beyond what either does alone (an average cannot: b's guesses are as sure)."""
    from mser.ensemble import fit_stacker, stacked, stacker_weights

    rng = np.random.default_rng(2)

    def members(truth):
        b = np.where(truth == 2, 2, rng.integers(0, 2, len(truth)))
        return [_confident(truth, truth != 2, rng), _confident(b, np.ones(len(truth), bool), rng),
                rng.dirichlet(np.ones(3), len(truth))]

    truth = rng.integers(0, 3, 300)
    stacker = fit_stacker(members(truth), truth)
    fresh = rng.integers(0, 3, 200)
    members = members(fresh)
    probabilities = stacked(stacker, members, 3)
    assert probabilities.shape == (200, 3) and np.allclose(probabilities.sum(axis=1), 1)
    assert kappa(fresh, probabilities.argmax(axis=1)) > max(kappa(fresh, m.argmax(axis=1)) for m in members) + 0.2
    weights = stacker_weights(stacker, 3)
    assert sum(weights) == pytest.approx(1.0) and weights[2] < min(weights[:2])  # the noise is read least


def test_the_judge_fits_selection_and_stacking_on_out_of_fold_predictions_never_on_validation():
    """Member a is right on the validation speakers but guesses on the training folds (a lucky
    trial); b is right on both half the time. Selection fitted on validation would keep a alone
    (validation kappa 1, an optimistic figure); the judge fits both ways on the out-of-fold
    predictions, so b is weighed in, the validation labels change neither way's fit, and the
    validation kappas are measured ones."""
    from mser.ensemble import judge, select, stacked

    rng = np.random.default_rng(4)
    oof_truth, truth = rng.integers(0, 3, 300), rng.integers(0, 3, 60)

    def half_right(labels):
        return _confident(np.where(rng.random(len(labels)) < 0.7, labels, (labels + 1) % 3), np.ones(len(labels), bool),
                          rng)

    oof = [rng.dirichlet(np.ones(3), 300), half_right(oof_truth)]
    validation = [_confident(truth, np.ones(60, bool), rng), half_right(truth)]
    assert select(validation, truth).weights == (1.0, 0.0)  # what fitting on validation would keep
    judged = judge(oof, oof_truth, validation, truth)
    assert judged.selection.weights == select(oof, oof_truth).weights and judged.selection.weights[1] > 0.5
    expected = kappa(truth, np.average(np.stack(validation), axis=0, weights=judged.selection.weights).argmax(axis=1))
    assert judged.kappa["selection"] == pytest.approx(expected)
    by_stacker = stacked(judged.stacker, validation, 3).argmax(axis=1)
    assert judged.kappa["stacking"] == pytest.approx(kappa(truth, by_stacker))
    assert judged.winner == max(("selection", "stacking"), key=lambda m: (judged.kappa[m], m == "selection"))
    # Other validation labels: the same fits (weights, meta-learner), other validation kappas.
    other = judge(oof, oof_truth, validation, (truth + 1) % 3)
    assert other.selection.weights == judged.selection.weights
    assert np.array_equal(other.stacker.coef_, judged.stacker.coef_)
    assert other.kappa != judged.kappa


def test_a_stacked_ensemble_answers_with_its_stacker_and_reloads_as_it_was(tmp_path, monkeypatch):
    from mser import ensemble as ensemble_module
    from mser.ensemble import fit_stacker, stacked

    rng = np.random.default_rng(3)
    truth = rng.integers(0, 3, 90)
    stacker = fit_stacker([_confident(truth, truth != 2, rng), _confident(truth, truth == 2, rng)], truth)
    a = _Member([Prediction("angry", {"angry": 0.6, "happy": 0.3, "sad": 0.1}, 1)])
    b = _Member([Prediction("sad", {"angry": 0.1, "happy": 0.1, "sad": 0.8}, 1)])
    ensemble = EnsemblePipeline((a, b), (0.5, 0.5), ("a", "b"), stacker)
    [answer] = ensemble.predict_signals([(np.zeros(8000), 8000)])
    expected = stacked(stacker, [np.array([[0.6, 0.3, 0.1]]), np.array([[0.1, 0.1, 0.8]])], 3)[0]
    assert ensemble.method == "stacking" and answer.emotion == EMOTIONS[int(expected.argmax())]
    assert [answer.probabilities[e] for e in EMOTIONS] == pytest.approx(list(expected), abs=1e-6)
    # Saved and loaded: the same stacker (members are real pipelines in use; here the fakes are kept).
    monkeypatch.setattr(_Member, "save", lambda self, folder: folder, raising=False)
    folder = ensemble.save(tmp_path / "ensemble")
    from mser.pipeline import EmotionPipeline

    monkeypatch.setattr(EmotionPipeline, "load", classmethod(lambda cls, f: {"member-0": a, "member-1": b}[f.name]))
    reloaded = ensemble_module.EnsemblePipeline.load(folder)
    assert reloaded.method == "stacking" and reloaded.names == ("a", "b")
    assert reloaded.predict_signals([(np.zeros(8000), 8000)]) == [answer]


def test_out_of_fold_predictions_are_of_the_training_speakers_only_each_once(tiny_demo, tmp_path):
    from mser.dataset import load_dataset
    from mser.ensemble import out_of_fold
    from mser.train import TrainConfig, make_split

    data = load_dataset(tiny_demo, cache_dir=tmp_path / "cache", feature_sets=["eGeMAPSv02"])
    configs = [TrainConfig(model=model, language="all", functionals={"feature_set": "eGeMAPSv02"})
               for model in ("smile_logreg", "smile_svm")]
    split = make_split(data, configs[0])
    seen = []
    meta, arrays = out_of_fold(data, configs, split, folds=3, progress=lambda done, total: seen.append((done, total)))
    speaker_of = dict(zip(data.utterances["utterance"], data.utterances["speaker"]))
    trained = data.utterances[data.utterances["speaker"].isin(split.train)]
    assert sorted(meta["utterance"]) == sorted(trained["utterance"])  # every training utterance, once
    speakers = {speaker_of[u] for u in meta["utterance"]}
    assert speakers == set(split.train) and not speakers & (set(split.validation) | set(split.test))
    assert [a.shape for a in arrays] == [(len(trained), len(data.emotions))] * 2
    assert seen[-1] == (6, 6)  # 2 configurations x 3 folds


def test_stacking_a_held_out_language_study_is_refused_in_one_line():
    from mser.errors import MserError
    from tracking.ensemble import build_ensemble

    with pytest.raises(MserError, match="held-out-language study.*--method selection"):
        build_ensemble(None, "0", "all-but-it", None, method="stacking")
