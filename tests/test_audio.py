import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from mser import testing
from mser.audio import frame_windows, load_windows, read_wav, resample, to_mono
from mser.errors import SkipFile


def _energy_at(signal: np.ndarray, rate: int, freq: float) -> float:
    spectrum = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / rate)
    return float(spectrum[np.abs(freqs - freq) < 20].sum() / spectrum.sum())


@pytest.mark.parametrize("rate", [48_000, 22_050, 16_000, 44_100, 24_000, 96_000, 8_000])
def test_resample_keeps_speech_band_and_length(rate):
    t = np.arange(rate * 2) / rate
    out = resample(np.sin(2 * np.pi * 1000 * t), rate)
    assert abs(len(out) - 16_000) <= 1
    assert _energy_at(out[200:-200], 8000, 1000) > 0.95


@pytest.mark.parametrize("rate, alias_freq", [(48_000, 5_000), (22_050, 6_000), (16_000, 6_500)])
def test_resample_filters_what_would_alias(rate, alias_freq):
    t = np.arange(rate * 2) / rate
    tone = np.sin(2 * np.pi * alias_freq * t)
    out = resample(tone, rate)
    # Without an anti-aliasing filter the tone would fold back at full power.
    assert np.sqrt(np.mean(out[400:-400] ** 2)) < 0.05 * np.sqrt(np.mean(tone**2))


def test_integer_ratios_use_decimate(monkeypatch):

    calls = []
    monkeypatch.setattr(scipy.signal, "decimate", lambda x, q, **kw: calls.append(q) or x[::q])
    resample(np.zeros(48_000), 48_000)
    resample(np.zeros(16_000), 16_000)
    resample(np.zeros(192_000), 192_000)
    assert calls == [6, 2, 12, 2]


def test_stereo_is_averaged():
    stereo = np.stack([np.ones(10), np.zeros(10)], axis=1)
    assert np.allclose(to_mono(stereo), 0.5)


def test_windows_drop_the_remainder():
    windows = frame_windows(np.arange(20_500), length=8000)
    assert windows.shape == (2, 8000) and windows[1, 0] == 8000
    assert frame_windows(np.arange(7999), length=8000).shape == (0, 8000)


@pytest.mark.parametrize("subtype", ["PCM_16", "PCM_24", "FLOAT"])
@pytest.mark.parametrize("rate, channels", [(48_000, 2), (22_050, 1), (16_000, 1)])
def test_any_rate_depth_and_channel_count_loads(tmp_path, subtype, rate, channels):
    path = testing.write_wav(tmp_path / "x.wav", testing.tone(2.6, rate, channels=channels), rate, subtype=subtype)
    samples, info = read_wav(path)
    assert (info.rate, info.channels, info.subtype) == (rate, channels, subtype)
    windows, _ = load_windows(path)
    assert windows.shape == (2, 8000) and windows.dtype == np.float32


@pytest.mark.parametrize("writer, reason", [
    (testing.write_empty, "empty file"),
    (testing.write_truncated, "truncated"),
    (testing.write_garbage, "unreadable"),
    (testing.write_header_only, "no audio frames"),
    (testing.write_silent, "silent"),
    (testing.write_short, "too short"),
    (testing.write_one_sample, "too short"),
    (testing.write_non_finite, "not finite"),
    (lambda path: testing.write_non_finite(path, value=np.nan), "not finite"),
    (lambda path: testing.write_wav(path, np.full(32_000, np.nan), 16_000, subtype="FLOAT"), "not finite"),
])
def test_bad_files_are_refused_with_the_reason(tmp_path, writer, reason):
    path = writer(tmp_path / "bad.wav")
    with pytest.raises(SkipFile, match=reason):
        load_windows(path)


@pytest.mark.parametrize("rate", [8_000, 16_000, 44_100, 48_000, 96_000])
@pytest.mark.parametrize("frames", [1, 2, 5, 30])
def test_a_few_samples_at_any_rate_are_too_short_not_an_error(tmp_path, rate, frames):
    path = testing.write_wav(tmp_path / "few.wav", np.full(frames, 0.5), rate)
    with pytest.raises(SkipFile, match="too short"):
        load_windows(path)


@pytest.mark.parametrize("rate, frames, windows", [(16_000, 15_999, 1), (16_000, 15_998, 0), (44_100, 44_100, 1),
                                                     (44_100, 44_094, 0)])
def test_the_length_check_agrees_with_the_resampler(tmp_path, rate, frames, windows):
    path = testing.write_wav(tmp_path / "edge.wav", testing.tone(frames / rate, rate)[:frames], rate)
    if windows:
        assert load_windows(path)[0].shape == (windows, 8000)
    else:
        with pytest.raises(SkipFile, match="too short"):
            load_windows(path)


def test_truncated_check_accepts_a_file_with_trailing_bytes(tmp_path):
    path = testing.write_wav(tmp_path / "x.wav", testing.tone(1.5, 16_000), 16_000)
    path.write_bytes(path.read_bytes() + b"LIST\x04\x00\x00\x00abcd")
    assert load_windows(path)[0].shape == (1, 8000)
    assert sf.info(path).frames == 24_000
