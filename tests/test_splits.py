from collections import Counter

import numpy as np
import pytest

from mser.corpora import CORPORA
from mser.splits import (
    LOSO,
    Split,
    corpus_of,
    grouped_kfold,
    leave_one_speaker_out,
    paper_split,
    validation_folds,
    with_validation,
)

ALL_SPEAKERS = [f"{c.name}-{s}" for c in CORPORA.values() for s in c.protocol_speakers]
GENDERS = {s: ("m" if s.endswith(("m1", "m2", "m3", "03", "10", "11", "12", "15")) else "f") for s in ALL_SPEAKERS}


def _assert_disjoint(split: Split) -> None:
    sides = [set(split.train), set(split.validation), set(split.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2]), split


def test_paper_split():
    split = paper_split()
    _assert_disjoint(split)
    assert set(split.test) == {"emovo-f3", "emovo-m3", "emodb-08", "emodb-03", "ravdess-09", "ravdess-10",
                               "ravdess-11", "ravdess-12"}
    assert len(split.train) == 4 + 8 + 8
    assert paper_split(["emodb"]).test == ("emodb-08", "emodb-03")


def test_a_speaker_on_two_sides_is_refused():
    with pytest.raises(ValueError, match="in both train and test"):
        Split("bad", ("a", "b"), ("b",))
    with pytest.raises(ValueError, match="in both train and validation"):
        Split("bad", ("a", "b"), ("c",), ("a",))
    with pytest.raises(ValueError, match="no training speakers"):
        Split("bad", (), ("c",))


def test_leave_one_speaker_out_tests_each_speaker_once():
    splits = leave_one_speaker_out(ALL_SPEAKERS)
    assert len(splits) == len(ALL_SPEAKERS)
    assert Counter(s for split in splits for s in split.test) == Counter(ALL_SPEAKERS)
    for split in splits:
        _assert_disjoint(split)
        assert len(split.train) == len(ALL_SPEAKERS) - 1


@pytest.mark.parametrize("k", [2, 4, 6])
def test_grouped_kfold_partitions_speakers_and_mixes_corpora(k):
    splits = grouped_kfold(ALL_SPEAKERS, k, seed=3)
    assert len(splits) == k
    assert Counter(s for split in splits for s in split.test) == Counter(ALL_SPEAKERS)
    for split in splits:
        _assert_disjoint(split)
        assert {corpus_of(s) for s in split.test} == {"emovo", "emodb", "ravdess"}
    assert [s.test for s in grouped_kfold(ALL_SPEAKERS, k, seed=3)] == [s.test for s in splits]


def test_grouped_kfold_refuses_more_folds_than_speakers():
    with pytest.raises(ValueError, match="2 <= k <= 3"):
        grouped_kfold(["a-1", "a-2", "a-3"], 4)


def test_validation_comes_from_training_speakers_of_every_corpus():
    split = with_validation(paper_split(), fraction=0.25, seed=0, genders=GENDERS)
    _assert_disjoint(split)
    assert split.test == paper_split().test
    assert set(split.validation) <= set(paper_split().train)
    assert Counter(corpus_of(s) for s in split.validation) == {"emovo": 1, "emodb": 2, "ravdess": 2}
    for corpus in ("emodb", "ravdess"):
        assert {GENDERS[s] for s in split.validation if corpus_of(s) == corpus} == {"f", "m"}
    with pytest.raises(ValueError, match="between 0 and 1"):
        with_validation(paper_split(), fraction=1.0)


def test_validation_folds_keep_test_out():
    folds = validation_folds(paper_split(), 4, seed=1)
    assert Counter(s for f in folds for s in f.validation) == Counter(paper_split().train)
    for fold in folds:
        _assert_disjoint(fold)
        assert fold.test == paper_split().test


def test_leave_one_speaker_out_folds_hold_out_each_training_speaker_once_and_no_test_speaker():
    split = with_validation(paper_split(["emovo"]), seed=0)
    folds = validation_folds(split, LOSO)
    pool = split.train + split.validation
    assert len(folds) == len(pool)
    assert sorted(s for f in folds for s in f.validation) == sorted(pool)  # every training speaker, once
    for fold in folds:
        assert len(fold.validation) == 1 and sorted(fold.train + fold.validation) == sorted(pool)
        assert fold.test == split.test and not set(fold.train + fold.validation) & set(split.test)
        _assert_disjoint(fold)


def test_validation_folds_refuse_more_folds_than_training_speakers():
    split = paper_split(["emovo"])
    with pytest.raises(ValueError, match="k-fold over speakers needs"):
        validation_folds(split, len(split.train) + 1)


def test_indices_never_put_a_speakers_windows_on_two_sides():
    rng = np.random.default_rng(0)
    speakers = rng.choice(ALL_SPEAKERS, size=2000)
    split = with_validation(paper_split(), seed=2)
    parts = {side: set(speakers[split.indices(speakers, side)]) for side in ("train", "validation", "test")}
    assert not (parts["train"] & parts["test"] or parts["train"] & parts["validation"]
                or parts["validation"] & parts["test"])
    assert sum(len(split.indices(speakers, side)) for side in parts) == 2000


def test_a_held_out_language_split_names_its_test_speakers_without_its_data():
    from mser.corpora import study_languages, study_order
    from mser.train import TrainConfig

    config = TrainConfig(model="cnn_features", language="all-but-de")
    every = ("en", "ur", "it", "de")
    assert config.held_out == "de" and config.languages(every) == ("it", "en", "ur")
    assert config.test_languages(every) == ("de",)
    assert TrainConfig(model="cnn_features", language="de").held_out is None
    assert TrainConfig(model="cnn_features", language="all").languages(every) == ("it", "de", "en", "ur")
    assert study_languages(every, held_out=True) == ("it", "de", "en", "ur", "all", "all-but-it", "all-but-de",
                                                     "all-but-en", "all-but-ur")
    assert sorted(["all-but-ur", "all", "ur", "en", "all-but-it", "it"], key=study_order) == [
        "it", "en", "ur", "all", "all-but-it", "all-but-ur"]
    TrainConfig(model="cnn_features", language="all-but-ur")  # any language code
    for wrong in ("all-but-French", "French", "each", "all-but-all", ""):
        with pytest.raises(ValueError, match="unknown language"):
            TrainConfig(model="cnn_features", language=wrong)


def test_a_corpus_draws_the_same_validation_speakers_whichever_corpora_the_split_holds():
    # So a joint model and a language's own model are validated on the same voices of that language.
    joint = with_validation(paper_split(), seed=3, genders=GENDERS)
    for corpus in ("emovo", "emodb", "ravdess"):
        alone = with_validation(paper_split([corpus]), seed=3, genders=GENDERS)
        assert alone.validation == tuple(s for s in joint.validation if s.startswith(f"{corpus}-"))


def test_a_refit_split_trains_on_every_training_speaker_and_keeps_the_test_speakers():
    from mser.train import refit_split

    split = with_validation(paper_split(), seed=0, genders=GENDERS)
    refit = refit_split(split)
    assert set(refit.train) == set(split.train) | set(split.validation) and not refit.validation
    assert refit.test == split.test and not set(refit.train) & set(refit.test)
