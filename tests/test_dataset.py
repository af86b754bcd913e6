import numpy as np
import pandas as pd
import pytest

from mser import dataset as dataset_module
from mser import testing
from mser.audio import MAX_UTTERANCE_WINDOWS
from mser.dataset import PrepParams, capped_rows, load_dataset
from mser.errors import DataError
from mser.features import FeatureParams

FILES = {
    # EMOVO as a 48 kHz stereo copy, EmoDB resampled to 22.05 kHz, RAVDESS at 48 kHz mono.
    "EMOVO": (["f1/dis-f1-b1.wav", "f3/rab-f3-b2.wav", "m1/tri-m1-l1.wav"], 48_000, 2),
    "EmoDB": (["wav/03a01Fa.wav", "wav/09a02Wb.wav", "wav/16b10Ta.wav"], 22_050, 1),
    "RAVDESS": (["Actor_01/03-01-05-01-01-01-01.wav", "Actor_10/03-01-04-02-01-01-10.wav"], 48_000, 1),
}


@pytest.fixture
def root(tmp_path):
    root = tmp_path / "data"
    for folder, (names, rate, channels) in FILES.items():
        testing.write_tone_files(root / folder, names, rate=rate, seconds=2.3, channels=channels)
    return root


def test_builds_windows_features_and_metadata(root):
    data = load_dataset(root)
    assert data.windows.shape == (16, 8000) and data.features.shape == (16, 41, 16)
    assert len(data.utterances) == 8 and set(data.utterances["windows"]) == {2}
    assert set(data.utterances["rate"]) == {48_000, 22_050}
    assert set(data.meta["language"]) == {"it", "de", "en"}
    row = data.meta[data.meta["utterance"] == "emodb/09a02Wb"].iloc[0]
    assert (row.speaker, row.gender, row.emotion, row.split) == ("emodb-09", "f", "angry", "train")
    assert data.meta.groupby("utterance")["window"].apply(list).map(lambda w: w == [0, 1]).all()


def test_second_load_comes_from_the_cache(root, monkeypatch):
    first = load_dataset(root)

    def fail(*args, **kwargs):
        raise AssertionError("audio was read again")

    monkeypatch.setattr(dataset_module, "load_windows", fail)
    second = load_dataset(root)
    assert second.key == first.key
    np.testing.assert_array_equal(second.windows, first.windows)
    np.testing.assert_array_equal(second.features, first.features)
    assert second.meta.equals(first.meta) and second.utterances.equals(first.utterances)


def test_a_changed_file_or_parameter_invalidates_the_cache(root):
    first = load_dataset(root)
    path = root / "EmoDB/wav/03a01Fa.wav"
    testing.write_wav(path, testing.tone(3.4, 22_050, freq=300), 22_050)
    changed = load_dataset(root)
    assert changed.key != first.key
    assert changed.utterances.set_index("utterance").loc["emodb/03a01Fa", "windows"] == 3
    other = load_dataset(root, params=PrepParams(features=FeatureParams(n_mels=20)))
    assert other.key != changed.key and other.features.shape[1] == 45


def test_the_cache_survives_a_moved_root(root, tmp_path):
    first = load_dataset(root)
    moved = root.rename(tmp_path / "moved")
    again = load_dataset(moved)
    assert again.key == first.key and again.root == moved.resolve()


def test_bad_files_are_skipped_counted_and_the_rest_goes_on(root):
    testing.write_truncated(root / "EmoDB/wav/11a01Wa.wav")
    testing.write_empty(root / "EmoDB/wav/12a01Wa.wav")
    testing.write_silent(root / "EmoDB/wav/13a01Wa.wav")
    testing.write_short(root / "EmoDB/wav/14a01Wa.wav")
    testing.write_garbage(root / "EmoDB/wav/15a01Wa.wav")
    data = load_dataset(root)
    reasons = dict(zip(data.skipped["path"], data.skipped["reason"]))
    assert {k.rsplit("/", 1)[1]: v.split(":")[0].split(" ")[0] for k, v in reasons.items()} == {
        "11a01Wa.wav": "truncated", "12a01Wa.wav": "empty", "13a01Wa.wav": "silent",
        "14a01Wa.wav": "too", "15a01Wa.wav": "unreadable"}
    assert set(data.skipped["corpus"]) == {"emodb"}
    assert len(data.utterances) == 8
    assert load_dataset(root).skipped.equals(data.skipped)


def test_a_root_with_no_readable_file_is_an_error(tmp_path):
    testing.write_truncated(tmp_path / "wav/03a01Fa.wav")
    with pytest.raises(DataError, match="could be read.*truncated"):
        load_dataset(tmp_path)


def test_language_selection(root):
    data = load_dataset(root).for_languages(["de"])
    assert set(data.meta["corpus"]) == {"emodb"} and len(data.windows) == 6
    with pytest.raises(DataError, match="no data for language fr"):
        load_dataset(root).for_languages(["fr"])
    everything = load_dataset(root)
    present = sorted(set(everything.meta["language"]))
    assert everything.for_languages(present) is everything  # nothing left out: no copy of the windows
    assert data.for_languages(["de"]) is data


def test_a_long_file_keeps_at_most_the_cap_of_windows_evenly_spread():
    sizes = {"long": 600, "short": 2, "at_cap": MAX_UTTERANCE_WINDOWS}
    meta = pd.DataFrame({"utterance": [u for u, n in sizes.items() for _ in range(n)],
                         "window": [w for n in sizes.values() for w in range(n)]})
    rows = np.arange(len(meta))
    kept = meta.iloc[capped_rows(meta, rows, MAX_UTTERANCE_WINDOWS)]
    assert kept.groupby("utterance").size().to_dict() == {"long": 10, "short": 2, "at_cap": 10}
    spread = kept.loc[kept["utterance"] == "long", "window"].to_numpy()
    assert spread[0] == 0 and spread[-1] == 599 and np.ptp(np.diff(spread)) <= 1
    np.testing.assert_array_equal(capped_rows(meta, rows, None), rows)
    later = rows[rows >= 300]  # a subset of the rows: the cap counts the windows selected
    assert len(capped_rows(meta, later, 5)) == 5 + 2 + 5
