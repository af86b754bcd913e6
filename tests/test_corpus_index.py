"""A corpus described by a CSV index: reading it, its bad cases, label synonyms, the label
set, the drawn split, and the dataset, split and commands built on it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cli.data import main as data_main
from mser import testing
from mser.corpora import EMOTIONS, canonical_emotion, parse_emotions
from mser.dataset import load_dataset
from mser.demo import INDEX_LABELS, write_index_corpus
from mser.discovery import corpus_name, discover_index, draw_test_speakers
from mser.errors import DataError
from mser.train import TrainConfig, make_split, train

GENDERS = {"a": "f", "b": "m", "c": "f", "d": "m", "e": "f", "f": "m"}


def _index(folder: Path, rows: list[dict], name: str = "extra.csv", *, audio: bool = True) -> Path:
    """Tone files for every row's file, and the index listing them."""
    if audio:
        testing.write_tone_files(folder, sorted({r["file"] for r in rows if r.get("file")}), rate=16_000)
    path = folder / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _rows(speakers: str = "abcdef", emotions=("anger", "Joy", "neutral", "SAD"), language: str = "fr",
          split: dict | None = None) -> list[dict]:
    rows = []
    for speaker in speakers:
        for emotion in emotions:
            row = {"file": f"wav/{speaker}_{emotion.lower()}.wav", "speaker": speaker, "emotion": emotion,
                   "language": language, "gender": GENDERS[speaker]}
            if split is not None:
                row["split"] = split[speaker]
            rows.append(row)
    return rows


def test_labels_are_matched_by_name_and_synonym_case_insensitively():
    assert [canonical_emotion(x) for x in ("Anger", "ANGRY", "happiness", "Joy", "sadness", "fearful", "Fear",
                                           "disgusted", "Surprised", "bored", " neutral ")] == [
        "angry", "angry", "happy", "happy", "sad", "fear", "fear", "disgust", "surprise", "boredom", "neutral"]
    assert canonical_emotion("Frustrated") == "frustrated"  # a label of its own, lowercased
    assert parse_emotions("Neutral, anger,joy sad") == ("neutral", "angry", "happy", "sad")
    for bad, message in (("angry", "at least two"), ("angry,anger", "given twice"), ("angry,?!", "not a name")):
        with pytest.raises(ValueError, match=message):
            parse_emotions(bad)


def test_an_index_becomes_a_corpus_with_namespaced_speakers_and_its_split(tmp_path):
    split = {"a": "train", "b": "train", "c": "train", "d": "train", "e": "test", "f": "test"}
    found = discover_index(_index(tmp_path, _rows(split=split), "My Corpus.csv"))
    [corpus] = found.corpora.values()
    assert corpus.name == corpus_name("My Corpus.csv") == "my_corpus" and corpus.language == "fr"
    assert corpus.test_speakers == ("e", "f") and found.drawn == []
    assert {u.parsed.speaker_id for u in found.utterances} == {f"my_corpus-{s}" for s in "abcdef"}
    assert {u.parsed.emotion for u in found.utterances} == {"angry", "happy", "neutral", "sad"}
    assert all(u.path.is_absolute() and u.path.is_file() for u in found.utterances)
    rows = _rows()
    for row in rows:
        row["speaker"] = f"speaker {row['speaker']}"
    spaced = discover_index(_index(tmp_path, rows, "spaced.csv"))
    assert {u.parsed.speaker_id for u in spaced.utterances} == {f"spaced-speaker_{s}" for s in "abcdef"}


def test_rows_outside_the_label_set_are_excluded_and_counted(tmp_path):
    rows = _rows(emotions=("anger", "neutral", "surprised", "contempt"))
    found = discover_index(_index(tmp_path, rows))
    reasons = [reason for _, reason in found.excluded]
    assert len(found.utterances) == 12 and len(reasons) == 12
    assert "emotion surprised is not one of the six shared emotions" in reasons
    wider = discover_index(_index(tmp_path, rows), emotions=("neutral", "angry", "surprise"))
    assert len(wider.utterances) == 18 and {r for _, r in wider.excluded} == {
        "emotion contempt is not in the label set (neutral, angry, surprise)"}


@pytest.mark.parametrize("content, message", [
    (None, "does not exist: give --corpus a CSV file"),
    ("", r"is not a readable CSV table \(it is empty\)"),
    ('file,speaker\n"a.wav,unclosed\n', "is not a readable CSV table"),
    ("file,speaker,emotion\na.wav,a,angry\n", "has no language column: it needs file, speaker, emotion, language"),
    ("file,speaker,emotion,language\n", "has a header but no rows"),
])
def test_a_broken_index_is_one_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    if content is not None:
        path.write_text(content)
    with pytest.raises(DataError, match=message) as error:
        discover_index(path)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_speaker_in_both_splits_or_half_split_is_refused(tmp_path):
    rows = _rows(split=dict.fromkeys("abcdef", "train"))
    rows[1]["split"] = "test"
    with pytest.raises(DataError, match=r"speaker a is listed as train \(row 2\) and test \(row 3\)"):
        discover_index(_index(tmp_path, rows))
    rows = _rows(split={**dict.fromkeys("abcde", "train"), "f": ""})
    with pytest.raises(DataError, match="speaker f has no split while others have one"):
        discover_index(_index(tmp_path, rows))


def test_unusable_rows_are_skipped_each_with_its_reason(tmp_path):
    rows = _rows()
    testing.write_tone_files(tmp_path, [r["file"] for r in rows], rate=16_000)
    rows[0]["file"] = "wav/missing.wav"
    rows[1]["language"] = "French"
    rows[2]["gender"] = "x"
    rows[3]["speaker"] = ""
    rows.append(dict(rows[5]))
    (tmp_path / "wav" / "folder.wav").mkdir()
    rows.append({**rows[6], "file": "wav/folder.wav"})
    found = discover_index(_index(tmp_path, rows, audio=False))
    reasons = {s.relpath: s.reason for s in found.skipped}
    assert reasons["extra.csv row 2 (wav/missing.wav)"].startswith("no such file")
    assert "is not a language code" in reasons["extra.csv row 3 (wav/a_joy.wav)"]
    assert reasons["extra.csv row 4 (wav/a_neutral.wav)"] == "gender 'x' is not f or m (leave it empty if unknown)"
    assert reasons["extra.csv row 5 (wav/a_sad.wav)"] == "no speaker"
    assert reasons[f"extra.csv row 26 ({rows[5]['file']})"] == "listed twice (also row 7)"
    assert reasons["extra.csv row 27 (wav/folder.wav)"] == "is a folder, not a wav file"
    assert len(found.utterances) == 24 - 4


def test_the_drawn_split_is_deterministic_balanced_and_speaker_disjoint(tmp_path):
    speakers = [f"s{i}" for i in range(10)]
    genders = {s: "fm"[i % 2] for i, s in enumerate(speakers)}
    first = draw_test_speakers(speakers, genders, seed=3)
    assert first == draw_test_speakers(list(reversed(speakers)), genders, seed=3)
    assert len(first) == 3 and {genders[s] for s in first} == {"f", "m"}
    assert any(draw_test_speakers(speakers, genders, seed=s) != first for s in range(1, 6))
    assert len(draw_test_speakers(speakers[:3], genders)) == 1  # two left: train and validation
    with pytest.raises(ValueError, match="at least 3"):
        draw_test_speakers(speakers[:2], genders)
    index = _index(tmp_path, _rows())
    found = discover_index(index, seed=0)
    [corpus] = found.corpora.values()
    assert found.drawn == ["extra"] and len(corpus.test_speakers) == 2
    assert not set(corpus.train_speakers) & set(corpus.test_speakers)
    assert {GENDERS[s] for s in corpus.test_speakers} == {"f", "m"}


def test_the_dataset_key_covers_the_index_the_label_set_and_the_drawn_split(tmp_path):
    index = _index(tmp_path, _rows())
    cache = tmp_path / "cache"
    data = load_dataset(None, indexes=[index], cache_dir=cache)
    assert data.emotions == EMOTIONS and data.languages == ("fr",)
    assert load_dataset(None, indexes=[index], cache_dir=cache).key == data.key  # from the cache
    again = load_dataset(None, indexes=[index], cache_dir=cache)
    assert again.speakers_table.equals(data.speakers_table) and again.corpora.equals(data.corpora)
    keys = {data.key}
    keys.add(load_dataset(None, indexes=[index], cache_dir=cache, emotions=("neutral", "angry", "sad")).key)
    seeds = [s for s in range(1, 8) if set(draw_test_speakers(list("abcdef"), GENDERS, seed=s))
             != set(draw_test_speakers(list("abcdef"), GENDERS, seed=0))]
    keys.add(load_dataset(None, indexes=[index], cache_dir=cache, split_seed=seeds[0]).key)
    rows = _rows()
    rows[0]["emotion"] = "sad"  # the same audio, another label
    keys.add(load_dataset(None, indexes=[_index(tmp_path, rows)], cache_dir=cache).key)
    assert len(keys) == 4


def test_a_label_set_orders_the_labels_and_a_model_follows_it(tmp_path):
    index = _index(tmp_path, _rows(emotions=("anger", "neutral", "surprised")))
    data = load_dataset(None, indexes=[index], emotions=("surprise", "angry", "neutral"),
                        cache_dir=tmp_path / "cache")
    assert data.emotions == ("surprise", "angry", "neutral")
    labels = dict(zip(data.utterances["emotion"], data.utterances["label"]))
    assert labels == {"surprise": 0, "angry": 1, "neutral": 2}
    result = train(
        data, TrainConfig(model="cnn_features", language="fr", epochs=2, patience=1))
    assert result.pipeline.emotions == data.emotions and result.test.confusion.shape == (3, 3)
    assert result.test.emotions == data.emotions
    prediction = result.pipeline.predict_file(next(iter(data.utterances["path"])))
    assert set(prediction.probabilities) == set(data.emotions)


def test_a_held_out_language_takes_its_test_speakers_from_its_own_corpus(tmp_path, tiny_demo):
    index = _index(tmp_path, _rows())
    data = load_dataset(tiny_demo, indexes=[index], cache_dir=tmp_path / "cache")
    assert data.languages == ("it", "de", "en", "fr")
    config = TrainConfig(model="cnn_features", language="all-but-fr")
    trained_on = data.for_languages(config.languages(data.languages))
    split = make_split(trained_on, config)  # the part without French still knows its test speakers
    drawn = data.speakers_table
    assert set(split.test) == set(drawn.loc[(drawn["language"] == "fr") & (drawn["split"] == "test"), "speaker"])
    assert not any(s.startswith("extra-") for s in split.train + split.validation)
    joint = make_split(data, TrainConfig(model="cnn_features", language="all"))
    assert {s.split("-")[0] for s in joint.validation} == {"emovo", "emodb", "ravdess", "extra"}
    assert np.isin(split.test, joint.test).all()


def test_two_indexes_of_one_name_or_a_built_in_name_are_refused(tmp_path):
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    first = _index(tmp_path / "one", _rows())
    second = _index(tmp_path / "two", _rows())
    with pytest.raises(DataError, match="two corpora are named extra: rename one of the CSV files"):
        load_dataset(None, indexes=[first, second], cache_dir=tmp_path / "cache")
    with pytest.raises(DataError, match="emodb is a built-in corpus's name"):
        discover_index(_index(tmp_path, _rows(), "EmoDB.csv"))


def test_inspect_shows_an_index_corpus_its_drawn_speakers_and_what_it_lacks(tmp_path, tiny_demo, capsys):
    index = write_index_corpus(tmp_path / "urdu", speakers=4, takes=1)
    assert data_main(["inspect", "--data-root", str(tiny_demo), "--corpus", str(index)]) == 0
    out = capsys.readouterr().out
    assert "4 languages (it, de, en, ur)" in out and "Label set: neutral, sad, angry, happy, fear, disgust." in out
    line = next(line for line in out.splitlines() if line.strip().startswith("urdu.csv"))
    assert line.split()[:3] == ["urdu.csv", "ur", "drawn"] and line.split()[-1] == "fear,disgust"
    assert "urdu.csv has no fear, disgust: it is used with the emotions it has" in out
    assert "urdu: test speakers drawn" in out
    assert f"emotion {INDEX_LABELS['surprise']} is not one of the six shared emotions" in out
    assert data_main(["inspect", "--corpus", str(index), "--emotions", "neutral,angry,happy,sad,surprise",
                      "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["labels"] == ["neutral", "angry", "happy", "sad", "surprise"]
    assert report["drawn"] == ["urdu"] and report["lacking"] == {}
    assert len(report["split"]["test"]) == 1 and all(s.startswith("urdu-") for s in report["split"]["train"])


@pytest.mark.parametrize("args, message", [
    (["--corpus", "{tmp}/nope.csv"], "nope.csv does not exist: give --corpus a CSV file"),
    (["--corpus", "{tmp}"], "is a folder, not a CSV file"),
])
def test_the_commands_refuse_bad_corpus_options_in_one_line(tmp_path, capsys, args, message):
    assert data_main(["inspect", *[a.format(tmp=tmp_path) for a in args]]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_bad_label_set_is_a_usage_error(capsys):
    with pytest.raises(SystemExit):
        data_main(["inspect", "--emotions", "angry"])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last == "mser-data inspect: error: argument --emotions: a label set needs at least two emotions, got angry"


def test_a_label_no_corpus_has_is_said_before_anything_is_trained(tmp_path, capsys):
    index = _index(tmp_path, _rows())
    assert data_main(["inspect", "--corpus", str(index), "--emotions", "neutral,angry,contempt"]) == 0
    assert "no utterance is labelled contempt: its class has no example" in capsys.readouterr().err


def test_a_label_no_corpus_can_have_is_refused_before_any_audio_is_read(tmp_path, capsys):
    from cli.train import main as train_main

    missing = tmp_path / "no-such-root"  # never read: the label is refused first
    for main, command in ((train_main, []), (data_main, ["inspect"])):
        assert main([*command, "--data-root", str(missing), "--emotions", "angry,sad,bogus"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "--emotions: no corpus has bogus" in err and "--corpus" in err
    assert not (tmp_path / "mlruns").exists()


def test_a_label_no_utterance_has_stops_training_before_a_run_is_written(tmp_path, monkeypatch, capsys):
    from cli.train import main as train_main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    index = _index(tmp_path, _rows())
    assert train_main(["--corpus", str(index), "--language", "fr", "--emotions", "neutral,angry,contempt",
                       "--cache-dir", str(tmp_path / "cache")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "--emotions: no utterance is labelled contempt" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (tmp_path / "mlruns").exists()
