import librosa
import numpy as np
import pytest

from mser import features
from mser.features import FeatureParams, reference_features, window_features


def _windows() -> np.ndarray:
    rng = np.random.default_rng(1)
    t = np.arange(8000) / 8000
    voiced = [0.3 * np.sin(2 * np.pi * f * t * (1 + 0.1 * t)) * np.hanning(8000) for f in (110, 190, 260)]
    noise = [0.05 * rng.standard_normal(8000), 1e-4 * rng.standard_normal(8000)]
    mixed = [voiced[0] + noise[0], np.zeros(8000)]
    return np.stack(voiced + noise + mixed).astype(np.float32)


def test_shape_is_41_by_16():
    assert window_features(_windows(), 8000).shape == (7, 41, 16)
    assert FeatureParams().rows == 41 and FeatureParams().frames(8000) == 16


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning")
def test_equal_to_four_plain_librosa_calls():
    windows = _windows()
    fast = window_features(windows, 8000)
    for window, row in zip(windows, fast):
        plain = reference_features(window, 8000)
        np.testing.assert_allclose(row, plain, rtol=1e-5, atol=1e-4)


def test_a_window_does_not_change_with_its_batch():
    # top_db clipping and chroma tuning are per window, so only float rounding may differ.
    windows = _windows()
    alone = window_features(windows[1:2], 8000)
    in_batch = window_features(windows, 8000)[1:2]
    np.testing.assert_allclose(alone, in_batch, rtol=1e-6, atol=1e-5)


def test_bad_params_are_refused():
    with pytest.raises(ValueError, match="n_mels must be positive"):
        FeatureParams(n_mels=0)


def _spectra(windows: np.ndarray) -> np.ndarray:
    return np.abs(librosa.stft(windows, n_fft=2048, hop_length=512)) ** 2


@pytest.mark.filterwarnings("ignore:Trying to estimate tuning")
def test_batched_peaks_and_tunings_equal_librosa_per_window():
    # Voiced, noise, a quiet noise floor, silence (no peak at all): piptrack's peaks
    # and estimate_tuning's result per window, bit for bit.
    power = _spectra(_windows())
    window, pitch, mag = features._piptrack_peaks(power, 8000, 2048)
    tunings = features._tunings(power, 8000, 12)
    for i, p in enumerate(power):
        plain_pitch, plain_mag = librosa.piptrack(S=p, sr=8000)
        found = plain_pitch > 0
        np.testing.assert_array_equal(pitch[window == i], plain_pitch[found])
        np.testing.assert_array_equal(mag[window == i], plain_mag[found])
        assert tunings[i] == librosa.estimate_tuning(S=p, sr=8000, bins_per_octave=12)
    assert not (window == 6).any() and tunings[6] == 0.0  # the silent window


def test_one_window_and_a_batch_across_chunks(monkeypatch):
    monkeypatch.setattr(features, "_CHUNK", 3)
    windows = _windows()
    batch = window_features(windows, 8000)
    assert window_features(windows[0], 8000).shape == (1, 41, 16)
    for i in (0, 3, 6):
        np.testing.assert_allclose(window_features(windows[i:i + 1], 8000), batch[i:i + 1],
                                   rtol=1e-6, atol=1e-5)


def test_silence_gives_finite_features():
    out = window_features(np.zeros((2, 8000), dtype=np.float32), 8000)
    assert np.isfinite(out).all()
    assert (out[:, 28:40] == 0).all() and (out[:, 40] == 0).all()  # chroma, centroid
