from collections import Counter

import pytest

from mser.corpora import CORPORA, EMODB, EMOTIONS, EMOVO, RAVDESS, Corpus, corpus_for_language, parse_any
from mser.demo.names import demo_names
from mser.errors import SkipFile


def _parsed(corpus: str):
    return [parse_any(rel.rsplit("/", 1)[1]) for rel in demo_names("full")[corpus]]


def test_full_size_name_lists_have_the_corpora_counts():
    names = demo_names("full")
    assert {c: len(n) for c, n in names.items()} == {"emovo": 588, "emodb": 535, "ravdess": 1440}
    for corpus, relpaths in names.items():
        assert len(set(relpaths)) == len(relpaths), f"{corpus} names repeat"


def test_emovo_every_code():
    parsed = _parsed("emovo")
    assert Counter(p.emotion_code for p in parsed) == {c: 84 for c in ("dis", "gio", "neu", "pau", "rab", "sor", "tri")}
    assert Counter(p.speaker for p in parsed) == {a: 98 for a in ("f1", "f2", "f3", "m1", "m2", "m3")}
    assert Counter(p.sentence for p in parsed) == {s: 42 for s in ("b1", "b2", "b3", "d1", "d2", "l1", "l2",
                                                                    "l3", "l4", "n1", "n2", "n3", "n4", "n5")}
    mapping = {p.emotion_code: p.emotion for p in parsed}
    assert mapping == {"dis": "disgust", "gio": "happy", "neu": "neutral", "pau": "fear", "rab": "angry",
                       "sor": "surprise", "tri": "sad"}
    assert all(p.gender == p.speaker[0] for p in parsed)


def test_emodb_every_code():
    parsed = _parsed("emodb")
    assert Counter(p.emotion_code for p in parsed) == {"W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46}
    assert {p.emotion_code: p.emotion for p in parsed} == {
        "W": "angry", "L": "boredom", "E": "disgust", "A": "fear", "F": "happy", "T": "sad", "N": "neutral"}
    genders = {p.speaker: p.gender for p in parsed}
    assert genders == {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f",
                       "14": "f", "15": "m", "16": "f"}
    assert {p.sentence for p in parsed} == {"a01", "a02", "a04", "a05", "a07", "b01", "b02", "b03", "b09", "b10"}
    assert {p.repetition for p in parsed} <= set("abcdef")


def test_ravdess_every_code():
    parsed = _parsed("ravdess")
    emotions = Counter(p.emotion_code for p in parsed)
    assert emotions == {"01": 96, **{f"0{i}": 192 for i in range(2, 9)}}
    assert Counter(p.speaker for p in parsed) == {f"{a:02d}": 60 for a in range(1, 25)}
    assert Counter(p.intensity for p in parsed) == {"normal": 768, "strong": 672}
    assert {p.emotion_code: p.emotion for p in parsed} == {
        "01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fear",
        "07": "disgust", "08": "surprise"}
    assert all(p.gender == ("m" if int(p.speaker) % 2 else "f") for p in parsed)
    assert {p.sentence for p in parsed} == {"01", "02"} and {p.repetition for p in parsed} == {"01", "02"}


def test_protocol_counts_match_the_paper():
    kept = Counter()
    for corpus in CORPORA:
        for p in _parsed(corpus):
            c = CORPORA[p.corpus]
            if c.exclusion(p) is None:
                kept[(corpus, c.split_of(p.speaker))] += 1
    per_corpus = {c: kept[(c, "train")] + kept[(c, "test")] for c in CORPORA}
    assert per_corpus == {"emovo": 504, "emodb": 454, "ravdess": 528}
    assert sum(v for (c, s), v in kept.items() if s == "train") == 1050
    assert sum(v for (c, s), v in kept.items() if s == "test") == 436


def test_exclusion_reasons():
    assert "surprise" in EMOVO.exclusion(EMOVO.parse("sor-f1-b1.wav"))
    assert "boredom" in EMODB.exclusion(EMODB.parse("03a01La.wav"))
    assert "calm" in RAVDESS.exclusion(RAVDESS.parse("03-01-02-01-01-01-01.wav"))
    assert "13-24" in RAVDESS.exclusion(RAVDESS.parse("03-01-05-01-01-01-13.wav"))
    assert RAVDESS.exclusion(RAVDESS.parse("03-01-05-02-01-01-12.wav")) is None


@pytest.mark.parametrize("name, reason", [
    ("03-02-05-01-01-01-12.wav", "song"),
    ("01-01-05-01-01-01-12.wav", "audio-video"),
    ("02-01-05-01-01-01-12.wav", "video-only"),
    ("03-01-09-01-01-01-12.wav", "emotion"),
    ("03-01-01-02-01-01-12.wav", "neutral has no strong"),
    ("03-01-05-01-01-01-25.wav", "actor"),
    ("xyz-f1-b1.wav", "emotion code"),
    ("dis-f4-b1.wav", "actor"),
    ("dis-f1-z9.wav", "sentence"),
    ("04a01Fa.wav", "speaker"),
    ("03a03Fa.wav", "text code"),
    ("03a01Xa.wav", "emotion letter"),
    ("03a01Fz.wav", "version"),
])
def test_corpus_shaped_names_with_bad_codes_are_skipped_with_the_reason(name, reason):
    with pytest.raises(SkipFile, match=reason):
        parse_any(name)


@pytest.mark.parametrize("name", ["readme.wav", "dis-f1-b1.mp3", "03a01Fa.txt", "03-01-05-01-02-01-12 (1).wav"])
def test_names_of_no_corpus_are_not_parsed(name):
    assert parse_any(name) is None


def test_extension_case_is_ignored():
    assert parse_any("03a01Fa.WAV").speaker_id == "emodb-03"


def test_paper_split_speakers():
    assert EMOVO.train_speakers == ("f1", "f2", "m1", "m2") and EMOVO.test_speakers == ("f3", "m3")
    assert set(EMODB.test_speakers) == {"03", "08"} and len(EMODB.train_speakers) == 8
    assert RAVDESS.test_speakers == ("09", "10", "11", "12")


def test_corpus_refuses_a_speaker_on_both_sides():
    with pytest.raises(ValueError, match="both train and test"):
        Corpus(name="x", title="X", language="xx", native_rate=8000, native_channels=1, layout="",
               emotion_codes={}, train_speakers=("a", "b"), test_speakers=("b",),
               parser=lambda name: None)


def test_languages_and_emotions():
    assert corpus_for_language("de") is EMODB
    assert EMOTIONS == ("neutral", "sad", "angry", "happy", "fear", "disgust")
    with pytest.raises(ValueError, match="unknown language"):
        corpus_for_language("fr")
