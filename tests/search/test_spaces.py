import dataclasses
import inspect

import pytest
from ray.tune.search.sample import Categorical, Float

from mser.functionals import FunctionalsParams
from mser.models import MODELS
from mser.models.sae import build_autoencoder
from mser.train import TrainConfig
from search.spaces import PAPER_POINTS, SPACES, get_space


def _keywords(function) -> set[str]:
    return set(inspect.signature(function).parameters)


@pytest.mark.parametrize("name", list(SPACES))
def test_space_keys_are_the_builders_keywords(name):
    space, spec = SPACES[name], MODELS[name]
    groups = spec.family.groups(spec)  # what the model's family reads besides classifier and training
    assert set(space) == {*groups, "classifier", "training"}
    for group, holder in groups.items():
        assert set(space[group]) <= _keywords(holder)
    assert groups.get("sae") in (None, build_autoencoder)
    assert groups.get("functionals") is None or issubclass(groups["functionals"], FunctionalsParams)
    assert ("functionals" in space) == spec.uses_functionals
    assert set(space["classifier"]) <= _keywords(spec.builder)
    assert set(space["training"]) <= {f.name for f in dataclasses.fields(TrainConfig)}
    assert ("sae" in space) == spec.uses_code


@pytest.mark.parametrize("name", list(SPACES))
def test_the_paper_point_is_inside_the_space_and_is_the_builders_default(name):
    space, point = SPACES[name], PAPER_POINTS[name]
    assert set(point) == set(space)
    for group, domains in space.items():
        assert set(point[group]) == set(domains), (name, group)
        for key, domain in domains.items():
            value = point[group][key]
            if isinstance(domain, Categorical):
                assert value in domain.categories, (name, group, key)
            elif isinstance(domain, Float):
                assert domain.lower <= value <= domain.upper, (name, group, key)


def test_the_paper_points_are_the_papers_values():
    """The points are derived from the builders' defaults; the defaults must be the paper's (section 6)."""
    assert PAPER_POINTS["sae_cnn"]["sae"] == {"depth": 3, "filters": 20, "latent": 16}
    assert {k: PAPER_POINTS["sae_cnn"]["classifier"][k] for k in ("filters", "kernel", "stride")} == {
        "filters": 16, "kernel": 100, "stride": 10}
    assert PAPER_POINTS["sae_cnn_features"]["classifier"]["kernel"] == 3
    assert PAPER_POINTS["sae_svm"]["classifier"] == {"C": 1.0, "gamma": "scale"}
    assert PAPER_POINTS["smile_svm"]["functionals"] == {"feature_set": "ComParE_2016", "normalisation": "speaker",
                                                        "select": 0}  # every column
    assert all(point["training"] == {"class_weighting": "balanced"} for point in PAPER_POINTS.values())


def test_unknown_space():
    with pytest.raises(ValueError, match="unknown space 'cnn'.*sae_cnn"):
        get_space("cnn")


def test_every_model_has_a_space_and_every_space_a_model():
    # mser-search offers the models' names as --space choices without importing the spaces (Ray Tune).
    assert set(SPACES) == set(MODELS)


def test_fix_holds_parameters_at_values_their_domains_allow():
    from search.spaces import augmentations, feature_sets, first_point, parse_fixed, pinned_space, sampled_point

    recipe = parse_fixed("smile_svm", ["functionals.feature_set=ComParE_2016", "functionals.normalisation=speaker",
                                       "functionals.select=0", "classifier.C=10", "class_weighting=none"])
    # Typed as the domain's values: the choice's own int, a float in the range's bounds.
    assert recipe == {"functionals.feature_set": "ComParE_2016", "functionals.normalisation": "speaker",
                      "functionals.select": 0, "classifier.C": 10.0, "class_weighting": "none"}
    assert isinstance(recipe["functionals.select"], int)
    space = pinned_space("smile_svm", recipe)
    assert space["functionals"]["feature_set"] == "ComParE_2016" and space["training"]["class_weighting"] == "none"
    assert isinstance(space["classifier"]["kernel"], Categorical)  # the rest is still searched
    assert get_space("smile_svm")["functionals"]["feature_set"] is not space["functionals"]["feature_set"]
    # Only the sets and augmented audio the pinned space can ask for are prepared.
    assert feature_sets("smile_svm", recipe) == ("ComParE_2016",)
    assert augmentations("cnn_features", parse_fixed("cnn_features", ["augment.speed=false",
                                                                      "augment.noise_snr=0"])) == ()
    assert augmentations("cnn_features", parse_fixed("cnn_features", ["augment.noise_snr=20"])) == (
        "noise20", "speed0.9", "speed1.1")
    # First: the paper's point at the fixed values; the sampler is asked for the rest of it only.
    first = first_point("smile_svm", recipe)
    assert first["classifier"] == {**PAPER_POINTS["smile_svm"]["classifier"], "C": 10.0}
    assert sampled_point("smile_svm", recipe) == {"classifier": {"kernel": "rbf", "gamma": "scale"}}


@pytest.mark.parametrize("texts, message", [
    (["functionals.feature_set"], "expected PARAM=VALUE"),
    (["classifier.degree=3"], "smile_svm searches no parameter 'classifier.degree'; it searches .*classifier.C"),
    (["classifier.C=1e9"], "expected a number from 0.001 to 1000"),
    (["classifier.C=big"], "expected a number from 0.001 to 1000"),
    (["functionals.select=7"], "expected one of 0, 100, 300, 1000"),
    (["classifier.C=1", "classifier.C=2"], "classifier.C is fixed twice; give it once"),
    (["functionals.feature_set=ComParE_2016", "functionals.normalisation=speaker", "functionals.select=0",
      "classifier.kernel=rbf", "classifier.C=1", "classifier.gamma=scale", "class_weighting=none"],
     "leaves nothing of smile_svm to search.*mser-train"),
])
def test_fix_refuses_what_the_space_does_not_search(texts, message):
    from search.spaces import parse_fixed

    with pytest.raises(ValueError, match=message):
        parse_fixed("smile_svm", texts)
