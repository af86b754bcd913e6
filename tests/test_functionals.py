"""openSMILE functionals: openSMILE's own values, the cache, per-speaker normalisation, the extra."""

import sys

import mlflow
import numpy as np
import opensmile
import pandas as pd
import pytest

from mser import dataset as dataset_module
from mser import functionals as functionals_module
from mser import testing
from mser.dataset import load_dataset, load_functionals
from mser.functionals import (
    FEATURE_SETS,
    INPUT_SETS,
    LIBROSA,
    FunctionalsParams,
    MissingExtra,
    feature_names,
    per_speaker,
)
from mser.pipeline import EmotionPipeline
from mser.train import TrainConfig, dataset_inputs, train
from tracking.testing.sqlite import copy_template

# EmoDB-named tone files at 16 kHz mono (openSMILE's own rate), six per speaker, and one
# EMOVO speaker as a 48 kHz stereo copy.
EMODB = [f"wav/{speaker}a0{i}{emotion}a.wav" for speaker in ("03", "08", "09", "10", "11", "12", "13", "14")
         for i in (1, 2) for emotion in "WTF"]
EMOVO = ["f1/dis-f1-b1.wav", "f1/rab-f1-b2.wav"]


def _write(root):
    testing.write_tone_files(root / "EmoDB", EMODB, rate=16_000, seconds=1.6)
    testing.write_tone_files(root / "EMOVO", EMOVO, rate=48_000, seconds=1.6, channels=2)
    return root


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """A corpus and its dataset with eGeMAPSv02 functionals, for the tests that only read them."""
    root = _write(tmp_path_factory.mktemp("functionals") / "data")
    return root, load_dataset(root, cache_dir=root.parent / "cache", feature_sets=["eGeMAPSv02"])


@pytest.fixture
def root(tmp_path):
    """A corpus of the test's own, to change."""
    return _write(tmp_path / "data")


@pytest.fixture
def data(shared):
    return shared[1]


def _row(data, feature_set, relpath):
    return data.functionals[feature_set][data.utterances.index[data.utterances["path"] == relpath][0]]


def test_the_functionals_are_opensmiles_own(shared):
    root, data = shared
    # A 16 kHz mono file: openSMILE's plain Smile, reading the file itself.
    plain = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                            feature_level=opensmile.FeatureLevel.Functionals)
    relpath = "EmoDB/" + EMODB[0]
    expected = plain.process_file(str(root / relpath)).to_numpy()[0]
    np.testing.assert_allclose(_row(data, "eGeMAPSv02", relpath), expected, rtol=1e-6)
    # A 48 kHz stereo file: openSMILE mixing it down and resampling it to 16 kHz itself.
    resampling = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                 feature_level=opensmile.FeatureLevel.Functionals,
                                 sampling_rate=16_000, resample=True, mixdown=True)
    relpath = "EMOVO/" + EMOVO[0]
    expected = resampling.process_file(str(root / relpath)).to_numpy()[0]
    np.testing.assert_allclose(_row(data, "eGeMAPSv02", relpath), expected, rtol=1e-6)
    assert data.functionals["eGeMAPSv02"].shape == (len(data.utterances), FEATURE_SETS["eGeMAPSv02"])


def test_the_larger_set_too(root):
    data = load_dataset(root, feature_sets=["ComParE_2016"])
    plain = opensmile.Smile(feature_set=opensmile.FeatureSet.ComParE_2016,
                            feature_level=opensmile.FeatureLevel.Functionals)
    relpath = "EmoDB/" + EMODB[3]
    np.testing.assert_allclose(_row(data, "ComParE_2016", relpath),
                               plain.process_file(str(root / relpath)).to_numpy()[0], rtol=1e-5)


def _no_extraction(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("openSMILE ran again")

    monkeypatch.setattr(dataset_module, "functionals", fail)


def test_a_second_load_reads_the_cache(shared, monkeypatch):
    root, data = shared
    _no_extraction(monkeypatch)
    again = load_dataset(root, cache_dir=root.parent / "cache", feature_sets=["eGeMAPSv02"])
    np.testing.assert_array_equal(again.functionals["eGeMAPSv02"], data.functionals["eGeMAPSv02"])


@pytest.mark.parametrize("change", ["a file", "the opensmile version", "the feature set"])
def test_what_invalidates_the_cache(root, monkeypatch, change):
    data = load_dataset(root, feature_sets=["eGeMAPSv02"])
    calls = []
    real = dataset_module.functionals
    monkeypatch.setattr(dataset_module, "functionals", lambda *a, **k: calls.append(1) or real(*a, **k))
    feature_set = "eGeMAPSv02"
    if change == "a file":
        testing.write_wav(root / "EmoDB" / EMODB[0], testing.tone(1.9, 16_000, freq=310), 16_000)
    elif change == "the opensmile version":
        monkeypatch.setattr(dataset_module, "opensmile_version", lambda: "0.0.0-other")
    else:
        feature_set = "ComParE_2016"
    again = load_dataset(root, feature_sets=[feature_set])
    assert len(calls) == len(again.utterances)
    if change == "a file":
        changed = _row(again, feature_set, "EmoDB/" + EMODB[0])
        assert not np.allclose(changed, _row(data, feature_set, "EmoDB/" + EMODB[0]))


def test_no_cache_extracts_and_stores_nothing(root, tmp_path):
    cache = tmp_path / "elsewhere"
    load_dataset(root, cache_dir=cache, use_cache=False, feature_sets=["eGeMAPSv02"])
    assert not (cache / "functionals").exists()


def test_a_selection_keeps_each_utterance_with_its_functionals(data):
    german = data.for_languages(["de"])
    assert len(german.functionals["eGeMAPSv02"]) == len(german.utterances) == len(EMODB)
    for relpath in german.utterances["path"][:3]:
        np.testing.assert_array_equal(_row(german, "eGeMAPSv02", relpath), _row(data, "eGeMAPSv02", relpath))


def test_per_speaker_normalisation_never_reads_another_speaker():
    rng = np.random.default_rng(0)
    values = rng.normal(5, 3, size=(30, 4))
    speakers = np.repeat(["a", "b", "c"], 10)
    normalised = per_speaker(values, speakers)
    for speaker in "abc":
        rows = speakers == speaker
        np.testing.assert_allclose(normalised[rows].mean(axis=0), 0, atol=1e-6)
        np.testing.assert_allclose(normalised[rows].std(axis=0), 1, atol=1e-5)
    other = values.copy()
    other[speakers != "a"] = rng.normal(-40, 9, size=(20, 4))
    np.testing.assert_array_equal(per_speaker(other, speakers)[speakers == "a"], normalised[speakers == "a"])


def test_a_speakers_model_inputs_are_the_same_whatever_the_others_say(data):
    result = train(data, TrainConfig(model="smile_logreg", language="de",
                                     functionals={"feature_set": "eGeMAPSv02", "normalisation": "speaker"}))
    test_rows = np.flatnonzero(np.isin(data.utterances["speaker"], result.split.test))
    before = dataset_inputs(result.pipeline, data, test_rows)
    scrambled = data.select(np.arange(len(data)))
    values = scrambled.functionals["eGeMAPSv02"].copy()
    others = ~np.isin(scrambled.utterances["speaker"], result.split.test)
    values[others] = values[others][::-1] * 7 + 3
    scrambled.functionals = {"eGeMAPSv02": values}
    np.testing.assert_array_equal(dataset_inputs(result.pipeline, scrambled, test_rows), before)


FUSED = "eGeMAPSv02+ComParE_2016"


@pytest.fixture(scope="module")
def fused(shared):
    """The shared dataset with the fused set too (its ComParE part computed once)."""
    root, data = shared
    load_functionals(data, FUSED, cache_dir=root.parent / "cache")
    return data


def test_a_fused_set_is_its_parts_side_by_side(fused):
    values = fused.functional_values(FUSED)
    assert values.shape == (len(fused.utterances), INPUT_SETS[FUSED]) == (len(fused.utterances), 88 + 6373)
    np.testing.assert_array_equal(values, np.hstack([fused.functionals["eGeMAPSv02"],
                                                     fused.functionals["ComParE_2016"]]))
    assert len(feature_names(FUSED)) == INPUT_SETS[FUSED]
    relpath = fused.utterances["path"].iloc[0]
    samples, rate = _read(fused.root / relpath)
    np.testing.assert_allclose(functionals_module.functionals(samples, rate, feature_set=FUSED),
                               _row(fused, FUSED, relpath), rtol=1e-5)


def test_the_librosa_set_joins_compare_side_by_side(fused):
    joined = load_functionals(fused, f"ComParE_2016+{LIBROSA}")
    assert joined.shape == (len(fused.utterances), 6373 + INPUT_SETS[LIBROSA])
    np.testing.assert_array_equal(joined, np.hstack([fused.functionals["ComParE_2016"], fused.functionals[LIBROSA]]))


def _selecting(data, select=40):
    return train(data, TrainConfig(model="smile_logreg", language="de", seed=0,
                                   functionals={"feature_set": FUSED, "normalisation": "speaker", "select": select}))


def test_feature_selection_is_fitted_on_training_speakers_only(fused):
    result = _selecting(fused)
    pipeline = result.pipeline
    assert len(pipeline.columns) == 40 == len(pipeline.standardizer.mean)
    assert result.metrics()["val_kappa"] == result.validation.utterances["kappa"]
    train_speakers = set(result.split.train)
    # Other speakers' functionals and labels changed beyond recognition: the same columns,
    # the same statistics, the same model.
    changed = fused.select(np.arange(len(fused)))
    others = ~changed.utterances["speaker"].isin(train_speakers).to_numpy()
    changed.functionals = {name: np.where(others[:, None], values[::-1] * 7 + 3, values)
                           for name, values in fused.functionals.items()}
    labels = changed.utterances["label"].to_numpy().copy()
    labels[others] = labels[others][::-1]
    changed.utterances = changed.utterances.assign(label=labels)
    again = train(changed, result.config, split=result.split)
    np.testing.assert_array_equal(again.pipeline.columns, pipeline.columns)
    np.testing.assert_array_equal(again.pipeline.standardizer.mean, pipeline.standardizer.mean)
    probe = np.random.default_rng(0).normal(size=(20, 40)).astype(np.float32)
    np.testing.assert_array_equal(again.pipeline.probabilities(probe), pipeline.probabilities(probe))
    # And the training speakers' own values do decide it.
    shifted = fused.select(np.arange(len(fused)))
    shifted.functionals = {name: np.where(others[:, None], values, values[:, ::-1])
                           for name, values in fused.functionals.items()}
    assert not np.array_equal(train(shifted, result.config, split=result.split).pipeline.columns, pipeline.columns)


def test_a_selecting_model_saves_loads_and_predicts_as_before(fused, tmp_path):
    result = _selecting(fused)
    loaded = EmotionPipeline.load(result.pipeline.save(tmp_path / "pipeline"))
    np.testing.assert_array_equal(loaded.columns, result.pipeline.columns)
    assert loaded.functionals == FunctionalsParams(FUSED, "speaker", 40)
    paths = [fused.root / p for p in fused.utterances["path"][:4]]
    signals = [_read(path) for path in paths]
    assert loaded.predict_signals(signals) == result.pipeline.predict_signals(signals)
    # Serving computes the fused set from the signal as training did.
    test = fused.utterances["speaker"].isin(result.split.test).to_numpy()
    rows = np.flatnonzero(test)
    served = loaded.predict_signals([_read(fused.root / p) for p in fused.utterances["path"][rows]],
                                    list(fused.utterances["speaker"][rows]))
    assert [loaded.emotions.index(p.emotion) for p in served] == list(result.test.predictions["predicted"])


def test_selecting_every_column_or_more_is_no_selection(fused):
    for select in (INPUT_SETS[FUSED], INPUT_SETS[FUSED] + 5):  # whether it selects is known once fitted
        assert _selecting(fused, select=select).pipeline.columns is None


@pytest.mark.parametrize("settings, message", [({"select": -1}, "whole number"), ({"select": 2.5}, "whole number"),
                                               ({"select": True}, "whole number"),
                                               ({"feature_set": "GeMAPS"}, FUSED)])
def test_bad_functionals_settings_are_refused_naming_them(settings, message):
    with pytest.raises(ValueError, match=message.replace("+", r"\+")):
        FunctionalsParams(**settings)


def test_the_missing_extra_is_one_line_naming_it(root, monkeypatch, capsys, tracking_uri, _own_cache):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile now fails
    monkeypatch.setattr(functionals_module, "_LOCAL", type(functionals_module._LOCAL)())
    with pytest.raises(MissingExtra, match=r'pip install -e "\.\[opensmile\]"'):
        functionals_module.smile("eGeMAPSv02")
    from cli.train import main

    assert main(["--model", "smile_svm", "--data-root", str(root)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("mser-train: error: openSMILE functionals need") and "research" in err[0]
    assert not (_own_cache / "datasets").exists()  # refused before any work


def test_a_pipeline_saves_and_loads_and_predicts_as_before(data, tmp_path):
    result = train(data, TrainConfig(model="smile_svm", language="de",
                                     functionals={"feature_set": "eGeMAPSv02", "normalisation": "global"}))
    loaded = EmotionPipeline.load(result.pipeline.save(tmp_path / "pipeline"))
    assert loaded.functionals == result.pipeline.functionals
    path = data.root / data.utterances["path"].iloc[0]
    assert loaded.predict_file(path) == result.pipeline.predict_file(path)
    assert loaded.predict_file(path).windows == 1


@pytest.mark.slow
def test_the_logged_model_predicts_as_in_memory(data, tracking_uri):
    from tracking.model import log_pipeline

    result = train(data, TrainConfig(model="smile_logreg", language="de",
                                     functionals={"feature_set": "eGeMAPSv02", "normalisation": "speaker"}))
    pipeline = result.pipeline
    with mlflow.start_run():
        info = log_pipeline(pipeline)
    model = mlflow.pyfunc.load_model(info.model_uri)
    german = data.utterances[data.utterances["language"] == "de"]
    paths = [str(data.root / p) for p in german["path"]]
    speakers = list(german["speaker"])
    # Alone, each file is standardised with the training speakers' statistics ...
    alone = model.predict(pd.DataFrame({"path": paths}))
    for path, row in zip(paths, alone.to_dict("records")):
        expected = pipeline.predict_file(path)
        assert row["emotion"] == expected.emotion and row["error"] == "" and row["windows"] == 1
        assert [row[f"p_{e}"] for e in expected.probabilities] == pytest.approx(list(expected.probabilities.values()),
                                                                                abs=2e-6)  # both rounded to 1e-6
    # ... and with the speaker named, with that speaker's own, as the test speakers were scored.
    named = model.predict(pd.DataFrame({"path": paths, "speaker": speakers}))
    signals = [_read(path) for path in paths]
    in_memory = pipeline.predict_signals(signals, speakers)
    assert list(named["emotion"]) == [p.emotion for p in in_memory]
    test = np.isin(german["speaker"], result.split.test)
    probabilities = named[[f"p_{e}" for e in in_memory[0].probabilities]].to_numpy()[test]
    scored = result.test.predictions
    assert list(probabilities.argmax(axis=1)) == list(scored["predicted"])


def test_the_librosa_set_summarises_the_windows_features_and_serves_without_opensmile(data, tmp_path, monkeypatch):
    """mser's own set: each of the 41 librosa features' mean, deviation, minimum and maximum over
    every frame of the utterance's windows, made from the dataset's features; a model on it
    needs no openSMILE, and serving computes from the audio what training read."""
    from cli.common import require_functionals

    values = load_functionals(data, LIBROSA)
    names = feature_names(LIBROSA)
    assert values.shape == (len(data.utterances), INPUT_SETS[LIBROSA]) == (len(data.utterances), 41 * 4)
    assert len(names) == len(set(names)) == INPUT_SETS[LIBROSA]
    for i in (0, len(data.utterances) - 1):
        windows = np.flatnonzero(data.meta["utterance"].to_numpy() == data.utterances["utterance"].iloc[i])
        frames = data.features[windows].transpose(0, 2, 1).reshape(-1, 41)  # every frame of every window
        for name, expected in (("logmel1_mean", frames[:, 0].mean()), ("mfcc1_std", frames[:, 16].std()),
                               ("chroma12_min", frames[:, 39].min()), ("centroid_max", frames[:, 40].max())):
            assert values[i, names.index(name)] == pytest.approx(expected, rel=1e-5)
    monkeypatch.setitem(sys.modules, "opensmile", None)  # import opensmile now fails
    monkeypatch.setattr(functionals_module, "_LOCAL", type(functionals_module._LOCAL)())
    require_functionals([LIBROSA])  # nothing to refuse
    result = train(data, TrainConfig(model="smile_logreg", language="de",
                                     functionals={"feature_set": LIBROSA, "normalisation": "speaker"}))
    assert result.pipeline.requirements == ()
    loaded = EmotionPipeline.load(result.pipeline.save(tmp_path / "pipeline"))
    rows = np.flatnonzero(data.utterances["speaker"].isin(result.split.test).to_numpy())
    served = loaded.predict_signals([_read(data.root / p) for p in data.utterances["path"].iloc[rows]],
                                    list(data.utterances["speaker"].iloc[rows]))
    assert [loaded.emotions.index(p.emotion) for p in served] == list(result.test.predictions["predicted"])
    with pytest.raises(MissingExtra):
        require_functionals([f"ComParE_2016+{LIBROSA}"])  # its openSMILE part does need the extra


def _read(path):
    from mser.audio import read_wav

    samples, info = read_wav(path)
    return samples, info.rate


def test_a_model_on_functionals_never_imports_tensorflow(shared, tmp_path):
    """A search worker that runs only such trials starts in about 2 s, not 6: training,
    saving, loading, predicting and recording one never import Keras or TensorFlow."""
    import subprocess

    root, _ = shared
    copy_template(tmp_path / "mlflow.db")
    code = f"""
import sys
from mlflow.tracking import MlflowClient
import search.study, search.trial
from mser.dataset import load_dataset
from mser.pipeline import EmotionPipeline
from mser.train import TrainConfig, train
from tracking.runs import log_result
data = load_dataset({str(root)!r}, cache_dir={str(root.parent / "cache")!r}, feature_sets=["eGeMAPSv02"])
result = train(data, TrainConfig(model="smile_svm", language="de", functionals={{"feature_set": "eGeMAPSv02"}}))
loaded = EmotionPipeline.load(result.pipeline.save({str(tmp_path / "pipeline")!r}))
loaded.predict_file(data.root / data.utterances["path"].iloc[0])
client = MlflowClient("sqlite:///{tmp_path / "mlflow.db"}")
run = client.create_run(client.create_experiment("e"))
log_result(client, run.info.run_id, result, dataset=data)
print(sorted(name for name in ("keras", "tensorflow") if name in sys.modules))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
