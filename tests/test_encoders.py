"""The encoder cache's record of trainings stopped before their end (the trained encoders
themselves are checked in tests/test_train.py)."""

from mser.encoders import EncoderCache

MATERIAL = {"dataset": "abc", "sae": {"depth": 3}, "seed": 0}


def test_the_longest_curve_a_stopped_training_reached_is_kept(tmp_path):
    cache = EncoderCache(tmp_path)
    assert cache.interrupted_curve(MATERIAL) == []
    cache.record_interrupted(MATERIAL, [{"sae_loss": 0.5, "sae_probe_kappa": 0.1}, {"sae_loss": 0.4}])
    cache.record_interrupted(MATERIAL, [{"sae_loss": 0.9}])  # shorter: says nothing new
    assert cache.interrupted_curve(MATERIAL) == [{"sae_loss": 0.5, "sae_probe_kappa": 0.1}, {"sae_loss": 0.4}]
    assert EncoderCache(tmp_path).interrupted_curve({**MATERIAL, "seed": 1}) == []  # another encoder
    assert EncoderCache(tmp_path).interrupted_curve(MATERIAL)[1] == {"sae_loss": 0.4}  # on disk, for every process


def test_an_unreadable_record_is_no_record(tmp_path):
    cache = EncoderCache(tmp_path)
    cache.record_interrupted(MATERIAL, [{"sae_loss": 0.5}])
    next(cache.folder.glob("*.interrupted.json")).write_text("{not json")
    assert cache.interrupted_curve(MATERIAL) == []
    cache.record_interrupted(MATERIAL, [{"sae_loss": 0.5}])
    assert cache.interrupted_curve(MATERIAL) == [{"sae_loss": 0.5}]
