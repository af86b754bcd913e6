"""Models on an utterance's statistics of the autoencoder's code (mser.families.code_statistics)."""

import mlflow
import numpy as np
import pandas as pd
import pytest

from mser.dataset import load_dataset
from mser.families.code_statistics import CodeStatisticsParams, code_statistics
from mser.functionals import INPUT_SETS, LIBROSA, NO_SET, FunctionalsParams
from mser.models import MODELS
from mser.pipeline import EmotionPipeline
from mser.train import TrainConfig, train

MODEL = "sae_stats_svm"
QUICK = dict(sae_epochs=2, epochs=5, patience=3, seed=1)


def test_the_code_statistics_are_each_units_statistics_over_every_step_of_every_window():
    code = np.random.default_rng(0).normal(size=(3, 5, 4)).astype(np.float32)  # windows, steps, latent units
    values = code_statistics(code)
    assert values.shape == (4 * 4,)  # mean, std, min, max of each unit, unit by unit
    unit = code[:, :, 2].reshape(-1)
    np.testing.assert_allclose(values[8:12], [unit.mean(), unit.std(), unit.min(), unit.max()], rtol=1e-5)


def test_the_settings_default_to_the_code_alone_and_are_checked():
    assert CodeStatisticsParams() == CodeStatisticsParams(NO_SET, "speaker", 0) and CodeStatisticsParams().parts == ()
    assert CodeStatisticsParams(f"ComParE_2016+{LIBROSA}").parts == ("ComParE_2016", LIBROSA)
    with pytest.raises(ValueError, match="unknown feature set 'GeMAPS'"):
        TrainConfig(model=MODEL, functionals={"feature_set": "GeMAPS"})
    with pytest.raises(ValueError, match="unknown normalisation"):
        TrainConfig(model=MODEL, functionals={"normalisation": "corpus"})
    with pytest.raises(ValueError, match="models on windows"):
        TrainConfig(model=MODEL, augment={"speed": True})
    with pytest.raises(ValueError, match="unknown feature set 'none'"):  # a model on functionals reads some
        FunctionalsParams(NO_SET)


def test_the_models_read_the_autoencoders_and_the_functionals_groups():
    from cli.train import _feature_set, build_parser
    from search.spaces import PAPER_POINTS, feature_sets

    for name in ("sae_stats_svm", "sae_stats_logreg"):
        spec = MODELS[name]
        assert spec.unit == "utterance" and not spec.family.window_scores and spec.needs_keras
        assert set(spec.family.groups(spec)) == {"sae", "functionals"}
        assert PAPER_POINTS[name]["functionals"] == {"feature_set": NO_SET, "normalisation": "speaker", "select": 0}
        assert PAPER_POINTS[name]["sae"] == PAPER_POINTS["sae_svm"]["sae"]
        assert NO_SET not in feature_sets(name) and LIBROSA in feature_sets(name)  # none is no set to compute
        assert _feature_set(build_parser().parse_args(["--model", name]), name) == NO_SET
    assert _feature_set(build_parser().parse_args(["--model", "smile_svm"]), "smile_svm") == "ComParE_2016"


@pytest.fixture(scope="module")
def dataset(tiny_demo, tmp_path_factory, shared_datasets):
    cache = shared_datasets(tmp_path_factory.mktemp("cache"))
    return load_dataset(tiny_demo, cache_dir=cache, feature_sets=[LIBROSA])


@pytest.fixture(scope="module")
def trained(dataset):
    """The model at its default point: the paper's autoencoder, its code statistics alone, per speaker."""
    return train(dataset, TrainConfig(model=MODEL, language="all", **{**QUICK, "sae_epochs": 3}))


def _read(path):
    from mser.audio import read_wav

    samples, info = read_wav(path)
    return samples, info.rate


@pytest.mark.slow
def test_it_trains_and_beats_chance_on_held_out_speakers(trained, dataset):
    metrics = trained.metrics()
    assert metrics["test_kappa"] > 0.1, metrics
    assert not any("window" in name for name in metrics)  # one example per utterance
    assert len(trained.test.predictions) == int(np.isin(dataset.utterances["speaker"], trained.split.test).sum())
    assert trained.history["sae_loss"] and trained.history["sae_val_loss"]


@pytest.mark.slow
def test_the_encoder_and_the_statistics_are_fitted_on_training_speakers_only(dataset, monkeypatch):
    """The autoencoder trains on the training speakers' windows; with one epoch the validation
    windows (early stopping, as for the sae_* models) choose nothing either. Other speakers'
    audio, functionals and labels changed beyond recognition: the same encoder, the same
    statistics, the same columns."""
    import mser.families.windows as windows_module
    from mser.dataset import capped_rows

    fitted = []
    real = windows_module.train_autoencoder
    monkeypatch.setattr(windows_module, "train_autoencoder",
                        lambda windows, *a, **k: fitted.append(len(windows)) or real(windows, *a, **k))
    config = TrainConfig(model=MODEL, language="all", **{**QUICK, "sae_epochs": 1}, sae={"latent": 8},
                         functionals={"feature_set": LIBROSA, "normalisation": "global", "select": 40})
    result = train(dataset, config)
    split, pipeline, family = result.split, result.pipeline, MODELS[MODEL].family
    train_windows = capped_rows(dataset.meta, split.indices(dataset.speakers, "train"),
                                config.max_windows_per_utterance)
    assert fitted == [len(train_windows)]
    # The input's size: 4 statistics of each of the 8 code units, then the librosa set; 40 columns kept.
    train_utterances = split.indices(dataset.utterances["speaker"].to_numpy(), "train")
    raw = family.raw_values(pipeline, dataset, train_utterances)
    assert raw.shape == (len(train_utterances), 4 * 8 + INPUT_SETS[LIBROSA])
    assert len(pipeline.columns) == 40 and family.inputs(pipeline, dataset, train_utterances).shape[1] == 40
    np.testing.assert_allclose(pipeline.standardizer.mean, raw.mean(axis=0)[pipeline.columns], rtol=1e-4, atol=1e-5)

    changed = dataset.select(np.arange(len(dataset)))
    others = ~np.isin(changed.speakers, split.train)
    changed.windows = np.where(others[:, None], np.asarray(dataset.windows)[::-1] * 0.3, dataset.windows)
    others_utterances = ~changed.utterances["speaker"].isin(split.train).to_numpy()
    changed.functionals = {name: np.where(others_utterances[:, None], values[::-1] * 7 + 3, values)
                           for name, values in dataset.functionals.items()}
    changed.utterances = changed.utterances.assign(label=np.where(others_utterances, 0, changed.utterances["label"]))
    again = train(changed, config, split=split)
    for ours, theirs in zip(again.pipeline.encoder.get_weights(), pipeline.encoder.get_weights()):
        np.testing.assert_array_equal(ours, theirs)
    assert again.pipeline.window_range == pipeline.window_range
    np.testing.assert_array_equal(again.pipeline.columns, pipeline.columns)
    np.testing.assert_array_equal(again.pipeline.standardizer.mean, pipeline.standardizer.mean)
    np.testing.assert_array_equal(again.pipeline.standardizer.scale, pipeline.standardizer.scale)
    assert again.test.utterances != result.test.utterances  # the changed test speakers were read


@pytest.mark.slow
def test_a_saved_model_predicts_from_raw_audio_as_in_memory_and_as_scored(trained, dataset, tmp_path):
    pipeline, family = trained.pipeline, MODELS[MODEL].family
    assert pipeline.standardizer.mean.shape == (4 * 16,)  # the paper's 16 code units, nothing joined
    loaded = EmotionPipeline.load(pipeline.save(tmp_path / "pipeline"))
    assert loaded.functionals == pipeline.functionals and isinstance(loaded.functionals, CodeStatisticsParams)
    rows = np.flatnonzero(dataset.utterances["speaker"].isin(trained.split.test).to_numpy())
    signals = [_read(dataset.root / path) for path in dataset.utterances["path"].iloc[rows]]
    speakers = list(dataset.utterances["speaker"].iloc[rows])
    served = loaded.predict_signals(signals, speakers)
    assert served == pipeline.predict_signals(signals, speakers)
    # Serving makes from the audio what training read from the dataset's windows.
    np.testing.assert_allclose(family.signal_values(loaded, *signals[0]),
                               family.raw_values(pipeline, dataset, rows[:1])[0], rtol=1e-4, atol=1e-5)
    assert [loaded.emotions.index(p.emotion) for p in served] == list(trained.test.predictions["predicted"])
    assert pipeline.requirements == ()  # no openSMILE set joined


@pytest.mark.slow
def test_the_logged_model_predicts_raw_audio_as_in_memory(trained, dataset, tracking_uri):
    from tracking.model import log_pipeline

    with mlflow.start_run():
        info = log_pipeline(trained.pipeline)
    model = mlflow.pyfunc.load_model(info.model_uri)
    paths = [str(dataset.root / path) for path in dataset.utterances["path"].iloc[:4]]
    answers = model.predict(pd.DataFrame({"path": paths}))
    for path, row in zip(paths, answers.to_dict("records")):
        expected = trained.pipeline.predict_file(path)
        assert row["emotion"] == expected.emotion and row["error"] == ""
        assert [row[f"p_{e}"] for e in expected.probabilities] == pytest.approx(
            list(expected.probabilities.values()), abs=2e-6)


@pytest.mark.slow
def test_it_shares_the_encoder_of_a_sae_model_and_is_probed_on_windows(dataset, tmp_path, monkeypatch):
    import mser.families.windows as windows_module
    from mser.encoders import EncoderCache
    from mser.metrics import SAE_PROBE_KAPPA

    fits = []
    real = windows_module.train_autoencoder
    monkeypatch.setattr(windows_module, "train_autoencoder", lambda *a, **k: fits.append(1) or real(*a, **k))
    cache = EncoderCache(tmp_path)
    settings = dict(language="de", sae={"latent": 8}, **QUICK)
    windows = train(dataset, TrainConfig(model="sae_svm", **settings), encoder_cache=cache, score_test=False)
    epochs = []
    stats = train(dataset, TrainConfig(model=MODEL, **settings), encoder_cache=cache, score_test=False,
                  on_epoch=lambda stage, epoch, values: epochs.append((stage, dict(values))))
    assert len(fits) == 1  # one encoder for both models
    assert stats.history["sae_loss"] == windows.history["sae_loss"]
    probed = train(dataset, TrainConfig(model=MODEL, **settings), score_test=False, probe_encoder=True,
                   on_epoch=lambda stage, epoch, values: epochs.append((stage, dict(values))))
    probes = [values[SAE_PROBE_KAPPA] for stage, values in epochs if SAE_PROBE_KAPPA in values]
    assert len(probes) == len(probed.history["sae_loss"]) and all(-1 <= p <= 1 for p in probes)
