"""Augmentation of the training speakers' audio (mser/augment.py): what each variant does to a
signal, its cache, and that no perturbed window reaches a validation or test score."""

import numpy as np
import pytest

from mser import augment as augment_module
from mser.augment import (
    COPY_MARK,
    AugmentParams,
    augmentation_path,
    load_augmentation,
    parse_variant,
    perturb,
    with_training_copies,
)
from mser.dataset import load_dataset
from mser.train import TrainConfig, make_split


@pytest.fixture(scope="module")
def data(tiny_demo, tmp_path_factory):
    cache = tmp_path_factory.mktemp("augment-cache")
    dataset = load_dataset(tiny_demo, cache_dir=cache)
    for variant in ("speed0.9", "speed1.1", "noise20"):
        load_augmentation(dataset, variant, cache_dir=cache)
    return dataset


def test_the_variants_of_each_setting_and_bad_settings_refused():
    assert AugmentParams().variants == ()
    assert AugmentParams(speed=True, noise_snr=20.0).variants == ("speed0.9", "speed1.1", "noise20")
    assert parse_variant("speed1.1") == ("speed", 1.1) and parse_variant("noise10") == ("noise", 10.0)
    for bad in ("speedy", "noise-3", "reverb"):
        with pytest.raises(ValueError, match="unknown augmentation"):
            parse_variant(bad)
    with pytest.raises(ValueError, match="noise_snr"):
        AugmentParams(noise_snr=-5)
    with pytest.raises(ValueError, match="speed"):
        AugmentParams(speed="yes")
    with pytest.raises(ValueError, match="models on windows"):
        TrainConfig(model="smile_svm", augment={"speed": True})
    with pytest.raises(ValueError, match="noise_snr"):
        TrainConfig(model="cnn_features", augment={"noise_snr": -1.0})


def test_speed_reads_the_same_samples_faster_and_noise_sits_at_its_snr():
    rng = np.random.default_rng(0)
    signal = np.sin(np.arange(48_000) * 0.05) + 0.1 * rng.normal(size=48_000)
    samples, rate = perturb(signal, 16_000, "speed1.1", name="a.wav")
    assert rate == 17_600 and np.array_equal(samples, signal)  # resampled to 8 kHz later: 1.1 times as fast
    noisy, rate = perturb(signal, 16_000, "noise10", name="a.wav")
    noise = noisy - signal
    assert rate == 16_000 and 10 * np.log10(np.mean(signal ** 2) / np.mean(noise ** 2)) == pytest.approx(10, abs=0.2)
    assert np.array_equal(perturb(signal, 16_000, "noise10", name="a.wav")[0], noisy)  # the same file, the same noise
    assert not np.array_equal(perturb(signal, 16_000, "noise10", name="b.wav")[0], noisy)


def test_each_variant_is_computed_once_and_cached_under_its_own_key(data, tiny_demo, tmp_path, monkeypatch):
    slower, faster = data.augmented["speed0.9"], data.augmented["speed1.1"]
    assert len(slower.windows) > len(data.windows) > len(faster.windows)  # a slower file lasts longer
    assert set(slower.utterance) <= set(data.utterances["utterance"])
    paths = {augmentation_path(data, v, tmp_path) for v in ("speed0.9", "speed1.1", "noise20", "noise10")}
    assert len(paths) == 4  # the key covers the variant ...
    other = load_dataset(tiny_demo, cache_dir=tmp_path / "cache", emotions=("angry", "happy", "sad", "neutral"))
    assert augmentation_path(other, "noise20", tmp_path) != augmentation_path(data, "noise20", tmp_path)  # ... and data
    load_augmentation(other, "noise20", cache_dir=tmp_path / "cache")
    again = load_dataset(tiny_demo, cache_dir=tmp_path / "cache", emotions=("angry", "happy", "sad", "neutral"))
    monkeypatch.setattr(augment_module, "augment_dataset", lambda *a, **k: pytest.fail("recomputed"))
    cached = load_augmentation(again, "noise20", cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(cached.windows, other.augmented["noise20"].windows)


def test_copies_are_of_the_training_speakers_only_and_follow_a_selection(data):
    split = make_split(data, TrainConfig(model="cnn_features", language="all"))
    grown = with_training_copies(data, AugmentParams(speed=True, noise_snr=20.0), split.train)
    copies = grown.meta["utterance"].str.contains(COPY_MARK, regex=False).to_numpy()
    assert copies.sum() > 0 and len(grown.windows) == len(grown.meta) == len(grown.features)
    assert set(grown.meta["speaker"][copies]) <= set(split.train)
    speakers = grown.meta["speaker"].to_numpy()
    for side in ("validation", "test"):
        assert not copies[split.indices(speakers, side)].any()
    assert grown.key != data.key  # what is trained on it (an encoder in the cache) is told apart
    assert grown.utterances["windows"].sum() == len(grown.meta)  # each copy an utterance of its own
    german = data.for_languages(["de"])
    assert set(german.augmented["noise20"].utterance) <= set(german.utterances["utterance"])
    assert with_training_copies(data, AugmentParams(), split.train) is data


@pytest.mark.slow
def test_augmented_audio_is_trained_on_and_never_scored(data, monkeypatch):
    from mser import train as train_module

    seen = {}
    fit = train_module._fit_classifier

    def spy(spec, inputs, labels, *args, **kwargs):
        seen.update({side: len(x) for side, x in inputs.items()})
        return fit(spec, inputs, labels, *args, **kwargs)

    monkeypatch.setattr(train_module, "_fit_classifier", spy)
    config = TrainConfig(model="dnn_features", language="de", epochs=2, patience=2, seed=0)
    plain = train_module.train(data, config)
    plain_sizes = dict(seen)
    augmented = train_module.train(data, TrainConfig(**{**config.__dict__, "augment": {"speed": True}}))
    assert seen["train"] > plain_sizes["train"] and seen["validation"] == plain_sizes["validation"]
    for result in (plain, augmented):
        for evaluation in (result.validation, result.test):
            assert not evaluation.predictions["utterance"].str.contains(COPY_MARK, regex=False).any()
    assert len(augmented.test.predictions) == len(plain.test.predictions)
