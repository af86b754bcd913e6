"""Each model trains on the tiny demo corpus and is judged on held-out speakers (slow)."""

import numpy as np
import pytest

from mser.dataset import load_dataset
from mser.errors import TrainingStopped
from mser.functionals import FEATURE_SETS
from mser.models import MODELS
from mser.pipeline import EmotionPipeline
from mser.train import TrainConfig, make_split, train

pytestmark = pytest.mark.slow
QUICK = dict(sae_epochs=3, epochs=12, patience=6, seed=1)


@pytest.fixture(scope="module")
def dataset(tiny_demo, tmp_path_factory, shared_datasets):
    cache = shared_datasets(tmp_path_factory.mktemp("cache"))
    return load_dataset(tiny_demo, cache_dir=cache, feature_sets=FEATURE_SETS)


@pytest.mark.parametrize("model", list(MODELS))
def test_each_model_trains_and_scores_held_out_speakers(dataset, model):
    epochs = []
    result = train(dataset, TrainConfig(model=model, language="all", **QUICK),
                   on_epoch=lambda stage, epoch, values: epochs.append((stage, epoch, dict(values))))
    metrics = result.metrics()
    assert set(result.split.test).isdisjoint(result.split.train + result.split.validation)
    assert -1 <= metrics["test_kappa"] <= 1 and -1 <= metrics["val_kappa"] <= 1
    assert {"test_kappa_it", "test_kappa_de", "test_kappa_en"} <= set(metrics)
    assert result.test.confusion.sum() == result.test.predictions.shape[0]
    if MODELS[model].uses_code:
        assert any(stage == "sae" and "sae_val_loss" in values for stage, _, values in epochs)
    if MODELS[model].keras:
        assert result.history["val_kappa"] and result.best_epoch == int(np.argmax(result.history["val_kappa"]))
        assert any(stage == "classifier" and "val_kappa" in values for stage, _, values in epochs)


@pytest.mark.parametrize("model", ["cnn_features", "dnn_features"])
def test_feature_models_beat_chance_on_held_out_speakers(dataset, model):
    result = train(dataset, TrainConfig(model=model, language="all", **{**QUICK, "epochs": 30, "patience": 10}))
    assert result.metrics()["test_kappa"] > 0.1


@pytest.mark.parametrize("model", ["smile_svm", "smile_logreg", "smile_mlp"])
@pytest.mark.parametrize("feature_set", list(FEATURE_SETS))
@pytest.mark.parametrize("normalisation", ["global", "speaker"])
def test_functionals_models_beat_chance_on_held_out_speakers(dataset, model, feature_set, normalisation):
    result = train(dataset, TrainConfig(model=model, language="all",
                                        functionals={"feature_set": feature_set, "normalisation": normalisation}))
    metrics = result.metrics()
    assert metrics["test_kappa"] > 0.2, metrics
    assert not any("window" in name for name in metrics)  # one example per utterance: no window scores
    assert len(result.test.predictions) == result.test.confusion.sum() == int(
        np.isin(dataset.utterances["speaker"], result.split.test).sum())


def test_per_language_training_uses_that_language_only(dataset):
    result = train(dataset, TrainConfig(model="cnn_features", language="de", **QUICK))
    assert set(result.test.predictions["language"]) == {"de"}
    assert all(s.startswith("emodb-") for s in result.split.train + result.split.test + result.split.validation)
    # The [0, 1] window scaling: the training speakers' range, and everything else clipped into it.
    raw = np.asarray(dataset.windows[result.split.indices(dataset.speakers, "train")])
    assert result.pipeline.window_range == (float(raw.min()), float(raw.max()))
    scaled = result.pipeline.scale_windows(dataset.windows)
    assert scaled.min() >= 0.0 and scaled.max() <= 1.0


def test_a_held_out_language_is_neither_trained_nor_validated_on_and_is_what_is_tested(dataset):
    config = TrainConfig(model="cnn_features", language="all-but-it", **QUICK)
    # The training side never sees Italian: train from a dataset without it, test it afterwards.
    result = train(dataset, config, score_test=False)
    assert not any(s.startswith("emovo-") for s in result.split.train + result.split.validation)
    assert {s.split("-")[0] for s in result.split.train} == {"emodb", "ravdess"}
    assert result.split.test and all(s.startswith("emovo-") for s in result.split.test)
    scored = train(dataset, config)
    assert set(scored.test.predictions["language"]) == {"it"}
    tested = dataset.utterances[dataset.utterances["speaker"].isin(scored.split.test)]
    assert set(scored.test.predictions["utterance"]) == set(tested["utterance"])
    assert scored.split.train == result.split.train and scored.split.validation == result.split.validation


def test_a_held_out_language_without_data_is_refused_before_training(dataset):
    from mser.errors import DataError

    without_italian = dataset.for_languages(["de", "en"])
    epochs = []
    with pytest.raises(DataError, match="no data for language it"):
        train(without_italian, TrainConfig(model="cnn_features", language="all-but-it", **QUICK),
              on_epoch=lambda *args: epochs.append(args))
    assert not epochs  # nothing trained for nothing
    assert train(without_italian, TrainConfig(model="cnn_features", language="all-but-it", **QUICK),
                 score_test=False).test is None


def test_test_speakers_never_influence_a_choice(dataset):
    """Scramble the test speakers' audio and labels: every choice made must stay the same."""
    config = TrainConfig(model="sae_cnn_features", language="all", **QUICK)
    split = make_split(dataset, config)
    test_rows = split.indices(dataset.speakers, "test")
    scrambled = dataset.select(np.arange(len(dataset)))
    rng = np.random.default_rng(7)
    scrambled.windows = np.array(scrambled.windows)
    scrambled.features = np.array(scrambled.features)
    scrambled.windows[test_rows] = rng.uniform(-1, 1, scrambled.windows[test_rows].shape)
    scrambled.features[test_rows] = rng.normal(size=scrambled.features[test_rows].shape)
    scrambled.meta.loc[test_rows, "label"] = rng.integers(0, 6, len(test_rows))
    original, other = train(dataset, config), train(scrambled, config)
    assert other.best_epoch == original.best_epoch
    assert other.history == original.history
    assert other.validation.utterances == original.validation.utterances
    assert other.pipeline.window_range == original.pipeline.window_range
    assert other.test.utterances != original.test.utterances


def test_saved_pipeline_predicts_the_same(dataset, tiny_demo, tmp_path):
    result = train(dataset, TrainConfig(model="sae_cnn_features", language="all", **QUICK))
    loaded = EmotionPipeline.load(result.pipeline.save(tmp_path / "model"))
    rows = np.arange(20)
    np.testing.assert_allclose(loaded.window_probabilities(np.asarray(dataset.windows[rows])),
                               result.pipeline.window_probabilities(np.asarray(dataset.windows[rows])), atol=1e-6)
    path = tiny_demo / "EmoDB/wav" / sorted(p.name for p in (tiny_demo / "EmoDB/wav").iterdir())[0]
    assert loaded.predict_file(path) == result.pipeline.predict_file(path)


def test_a_cached_encoder_gives_the_same_result_as_training_it(dataset, tmp_path):
    # The encoder cache must change the time a trial takes, never its result.
    from mser.encoders import EncoderCache

    config = TrainConfig(model="sae_cnn", language="de", sae_epochs=2, epochs=3, patience=5)
    cache = EncoderCache(tmp_path)
    fresh = train(dataset, config, score_test=False)
    missed = train(dataset, config, encoder_cache=cache, score_test=False)
    hit = train(dataset, config, encoder_cache=cache, score_test=False)
    assert len(list((tmp_path / "encoders").iterdir())) >= 1
    for result in (missed, hit):
        # A hit shows the curves of the training that made its encoder.
        np.testing.assert_allclose(result.history["sae_loss"], fresh.history["sae_loss"], rtol=1e-5)
        np.testing.assert_allclose(result.history["val_kappa"], fresh.history["val_kappa"])
        np.testing.assert_allclose(result.history["loss"], fresh.history["loss"], rtol=1e-5)
        assert result.validation.utterances["kappa"] == fresh.validation.utterances["kappa"]


def test_the_encoder_probe_reports_each_epoch_and_changes_nothing_else(dataset):
    """The probe's kappa is measured on validation speakers every encoder epoch; the model
    trained with it is the model trained without."""
    from mser.metrics import SAE_PROBE_KAPPA

    config = TrainConfig(model="sae_cnn", language="de", sae_epochs=3, epochs=3, patience=5)
    epochs = []
    probed = train(dataset, config, score_test=False, probe_encoder=True,
                   on_epoch=lambda stage, epoch, values: epochs.append((stage, epoch, dict(values))))
    plain = train(dataset, config, score_test=False)
    probes = [values[SAE_PROBE_KAPPA] for stage, _, values in epochs if stage == "sae"]
    assert len(probes) == len(probed.history["sae_loss"]) == 3
    assert all(-1 <= value <= 1 for value in probes)
    assert not any(SAE_PROBE_KAPPA in values for stage, _, values in epochs if stage == "classifier")
    np.testing.assert_allclose(probed.history["sae_loss"], plain.history["sae_loss"], rtol=1e-5)
    assert probed.validation.utterances == plain.validation.utterances


def test_the_probe_kappa_is_the_utterance_kappa_of_a_logistic_regression():
    import pandas as pd

    from mser.families.windows import probe_kappa

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    separable = np.eye(3)[labels] * 4 + rng.normal(size=(120, 3))
    meta = pd.DataFrame({"utterance": np.arange(120) // 2, "label": labels})
    assert probe_kappa(separable, labels, separable, meta) > 0.9
    noise = rng.normal(size=(120, 3))
    assert abs(probe_kappa(noise[:60], labels[:60], noise[60:], meta.iloc[60:].reset_index(drop=True))) < 0.5


def test_an_encoder_stopped_while_it_trains_is_replayed_not_retrained(dataset, tmp_path, monkeypatch):
    """A judge that stopped an encoder at its second epoch meets the same two epochs again in
    the next trial that asks for it, without a training; if it lets that trial go on, the
    encoder trains from its start, each epoch reported once, and the same curve as before."""
    import mser.families.windows as training
    from mser.encoders import EncoderCache
    from mser.metrics import SAE_PROBE_KAPPA

    cache = EncoderCache(tmp_path)
    config = TrainConfig(model="sae_cnn", language="de", sae_epochs=4, epochs=2, patience=5)
    fits = []
    real = training.train_autoencoder
    monkeypatch.setattr(training, "train_autoencoder", lambda *a, **k: fits.append(1) or real(*a, **k))

    def judged(stop_at):
        seen = []

        def on_epoch(stage, epoch, values):
            seen.append((stage, epoch, dict(values)))
            if stage == "sae" and epoch + 1 == stop_at:
                raise TrainingStopped
        return seen, on_epoch

    first, stop = judged(2)
    with pytest.raises(TrainingStopped):
        train(dataset, config, on_epoch=stop, encoder_cache=cache, score_test=False, probe_encoder=True)
    assert len(fits) == 1 and [e for _, e, _ in first] == [0, 1]
    again, stop = judged(2)
    with pytest.raises(TrainingStopped):
        train(dataset, config, on_epoch=stop, encoder_cache=cache, score_test=False, probe_encoder=True)
    assert len(fits) == 1 and again == first  # replayed: the same values, nothing trained
    onward, go_on = judged(None)
    result = train(dataset, config, on_epoch=go_on, encoder_cache=cache, score_test=False, probe_encoder=True)
    sae = [(epoch, values) for stage, epoch, values in onward if stage == "sae"]
    assert len(fits) == 2 and [epoch for epoch, _ in sae] == list(range(len(result.history["sae_loss"])))
    assert [epoch for epoch, _ in sae[:2]] == [0, 1] and len(sae) > 2
    for (_, _, replayed), (_, trained) in zip(first, sae):
        assert trained[SAE_PROBE_KAPPA] == pytest.approx(replayed[SAE_PROBE_KAPPA], abs=1e-6)
        assert trained["sae_loss"] == pytest.approx(replayed["sae_loss"], rel=1e-5)
