"""Search spaces, one plain dict per model, keyed by the name ``mser-search --space`` takes.

A trial's config is ``{"sae": {...}, "classifier": {...}, "training": {...}}``: the
keywords of the groups the model's family reads (:meth:`mser.families.Family.groups`:
``sae``, :func:`mser.models.sae.build_autoencoder`, for a model on the code;
``functionals``, :class:`mser.functionals.FunctionalsParams`, for the ``smile_*``
spaces, and both for the ``sae_stats_*`` spaces, whose ``functionals`` group is
:class:`mser.families.code_statistics.CodeStatisticsParams`), of the model's classifier
builder, and of :class:`mser.train.TrainConfig` (a test checks every key against those
signatures).
Autoencoder sizes are coarse choices, so good encoders are asked for again and come
from the encoder cache instead of being retrained.

``PAPER_POINTS`` holds the paper's configuration of each space, derived from the
builders' defaults, which are the paper's values (for the ``smile_*`` spaces, the
field's usual baseline: ComParE_2016, per-speaker normalisation; for the ``sae_stats_*``
spaces, the paper's autoencoder and its code statistics alone, per-speaker normalisation);
it is evaluated first, so a search's best validation objective is never below it.
"""

from __future__ import annotations

import inspect
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from ray import tune

from mser.augment import AugmentParams
from mser.functionals import INPUT_SETS, NO_SET, NORMALISATIONS
from mser.models import get_model
from mser.train import TrainConfig

_SAE = {
    "depth": tune.choice([2, 3, 4]),
    "filters": tune.choice([12, 20, 32]),
    "latent": tune.choice([8, 16, 32]),
}
_TRAINING = {"class_weighting": tune.choice(["none", "balanced", "sqrt"])}

_CNN = {
    "filters": tune.choice([8, 16, 32]),
    "dropout": tune.uniform(0.1, 0.6),
    "pool": tune.choice([2, 3, 4]),
    "learning_rate": tune.loguniform(1e-4, 1e-2),
}

#: Augmentation of the training speakers' audio for the models on features (mser.augment): off at the paper's
#: point; not searched under an autoencoder (see mser.families.windows.WindowFamily.groups).
NOISE_SNRS = (0.0, 20.0, 10.0)
_AUGMENT = {"speed": tune.choice([False, True]), "noise_snr": tune.choice(list(NOISE_SNRS))}

#: Columns a model on functionals may keep (0: all; see mser.functionals.select_columns).
SELECT_CHOICES = (0, 100, 300, 1000)
_FUNCTIONALS = {"feature_set": tune.choice(list(INPUT_SETS)),
                "normalisation": tune.choice(list(NORMALISATIONS)),
                "select": tune.choice(list(SELECT_CHOICES))}
#: The code statistics' own inputs (mser.families.code_statistics): joined to no set or to any set the
#: smile_* spaces search, normalised and selected as they are.
_CODE_STATISTICS = {**_FUNCTIONALS, "feature_set": tune.choice([NO_SET, *INPUT_SETS])}
_SVM = {"kernel": tune.choice(["rbf", "linear"]), "C": tune.loguniform(1e-3, 1e3),
        "gamma": tune.choice(["scale", "auto"])}
_LOGREG = {"C": tune.loguniform(1e-4, 1e2)}
_MLP = {"units": tune.choice([6, 16, 32, 64]), "layers_count": tune.choice([1, 2, 3]),
        "alpha": tune.loguniform(1e-5, 1e-1), "learning_rate_init": tune.loguniform(1e-4, 1e-2)}

SPACES: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "sae_cnn": {
        "sae": _SAE,
        "classifier": {**_CNN, "kernel": tune.choice([25, 50, 100, 200]), "stride": tune.choice([5, 10, 20])},
        "training": _TRAINING,
    },
    "sae_cnn_features": {
        "sae": _SAE,
        "classifier": {**_CNN, "kernel": tune.choice([2, 3, 5])},
        "training": _TRAINING,
    },
    "sae_svm": {
        "sae": _SAE,
        "classifier": {"C": tune.loguniform(0.01, 100.0), "gamma": tune.choice(["scale", "auto"])},
        "training": _TRAINING,
    },
    "sae_mlp": {
        "sae": _SAE,
        "classifier": _MLP,
        "training": _TRAINING,
    },
    "cnn_features": {
        "classifier": {**_CNN, "kernel": tune.choice([2, 3, 5])},
        "augment": _AUGMENT,
        "training": _TRAINING,
    },
    "dnn_features": {
        "classifier": {"units": tune.choice([32, 64, 128, 256]), "layers_count": tune.choice([1, 2, 3]),
                       "dropout": tune.uniform(0.0, 0.6), "learning_rate": tune.loguniform(1e-4, 1e-2)},
        "augment": _AUGMENT,
        "training": _TRAINING,
    },
    "smile_svm": {
        "functionals": _FUNCTIONALS,
        "classifier": _SVM,
        "training": _TRAINING,
    },
    "smile_logreg": {
        "functionals": _FUNCTIONALS,
        "classifier": _LOGREG,
        "training": _TRAINING,
    },
    "smile_mlp": {
        "functionals": _FUNCTIONALS,
        "classifier": _MLP,
        "training": _TRAINING,
    },
    "sae_stats_svm": {
        "sae": _SAE,
        "functionals": _CODE_STATISTICS,
        "classifier": _SVM,
        "training": _TRAINING,
    },
    "sae_stats_logreg": {
        "sae": _SAE,
        "functionals": _CODE_STATISTICS,
        "classifier": _LOGREG,
        "training": _TRAINING,
    },
})

def _defaults(function) -> dict[str, Any]:
    return {name: p.default for name, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty}


def _paper_point(space: str) -> dict[str, dict[str, Any]]:
    """The point of ``space`` where every searched keyword has its builder's default."""
    spec = get_model(space)
    holders = {**spec.family.groups(spec), "classifier": spec.builder, "training": TrainConfig}
    return {group: {key: _defaults(holders[group])[key] for key in domains}
            for group, domains in SPACES[space].items()}


#: The paper's configuration of each space (the builders' defaults, see the module docstring).
PAPER_POINTS: Mapping[str, Mapping[str, Any]] = MappingProxyType({space: _paper_point(space) for space in SPACES})


def pinned_space(space: str, fixed: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The space ``space`` with the parameters ``fixed`` (MLflow names, as :func:`parse_fixed`
    gives them) held at their value: Tune passes a constant to every trial's config as it is,
    and Optuna's sampler does not see it."""
    groups = {group: dict(domains) for group, domains in get_space(space).items()}
    for name, value in (fixed or {}).items():
        group, key = _param_key(name)
        groups[group][key] = value
    return groups


def first_point(space: str, fixed: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """The configuration a study evaluates first: the paper's (:data:`PAPER_POINTS`), with the
    ``fixed`` parameters at their value."""
    point = {group: dict(values) for group, values in PAPER_POINTS[space].items()}
    for name, value in (fixed or {}).items():
        group, key = _param_key(name)
        point[group][key] = value
    return point


def sampled_point(space: str, fixed: Mapping[str, Any] | None = None) -> dict[str, dict[str, Any]]:
    """:func:`first_point` without the fixed parameters: what the sampler is asked to evaluate first."""
    point = first_point(space, fixed)
    for name in fixed or {}:
        group, key = _param_key(name)
        del point[group][key]
    return {group: values for group, values in point.items() if values}


def parse_fixed(space: str, texts: Sequence[str]) -> dict[str, Any]:
    """``mser-search --fix`` values (``PARAM=VALUE``, ``PARAM`` a parameter's MLflow name such as
    ``functionals.feature_set`` or ``class_weighting``) as ``{PARAM: value}``, each value one
    its domain in ``space`` allows, typed as the domain's (a choice's own value, a number in a
    range's bounds).

    Raises:
        ValueError: A text that is not ``PARAM=VALUE``, a parameter ``space`` does not search,
            a value outside its domain, or every parameter fixed; the message names it and
            what is allowed.
    """
    space_groups = get_space(space)
    searched = {param_name(f"{group}/{key}"): domain for group, domains in space_groups.items()
                for key, domain in domains.items()}
    fixed: dict[str, Any] = {}
    for text in texts:
        name, equals, value = text.partition("=")
        name, value = name.strip(), value.strip()
        if not equals or not name or not value:
            raise ValueError(f"--fix {text!r}: expected PARAM=VALUE, e.g. --fix functionals.feature_set=ComParE_2016")
        if name not in searched:
            raise ValueError(f"--fix {text}: {space} searches no parameter {name!r}; it searches "
                             f"{', '.join(searched)}")
        if name in fixed:
            raise ValueError(f"--fix {text}: {name} is fixed twice; give it once")
        fixed[name] = _domain_value(searched[name], value, text)
    if fixed and len(fixed) == len(searched):
        raise ValueError(f"--fix leaves nothing of {space} to search: fix fewer parameters, or train the one "
                         "configuration with mser-train")
    return fixed


def _domain_value(domain, text: str, given: str) -> Any:
    """The value ``text`` names in ``domain`` (a Tune domain), or a ValueError saying what it allows."""
    if isinstance(domain, tune.search.sample.Categorical):
        for category in domain.categories:
            if str(category).lower() == text.lower() or (isinstance(category, float) and _number(text) == category):
                return category
        raise ValueError(f"--fix {given}: expected one of {', '.join(str(c) for c in domain.categories)}")
    number = _number(text)
    if number is None or not domain.lower <= number <= domain.upper:
        raise ValueError(f"--fix {given}: expected a number from {domain.lower:g} to {domain.upper:g}")
    return int(number) if isinstance(domain, tune.search.sample.Integer) else number


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _param_key(name: str) -> tuple[str, str]:
    """The space's ``(group, key)`` of a parameter's MLflow name (the inverse of :func:`param_name`)."""
    group, dot, key = name.partition(".")
    return (group, key) if dot else ("training", name)


def point_label(space: str) -> str:
    """What the point evaluated first is called in a study of ``space``."""
    return "the baseline configuration" if "functionals" in SPACES[space] else "the paper's configuration"


def _values(domain) -> tuple:
    """What a space's entry may take: a choice's values, or the one value ``--fix`` held it at."""
    if domain is None:
        return ()
    return tuple(domain.categories) if isinstance(domain, tune.search.sample.Categorical) else (domain,)


def feature_sets(space: str, fixed: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The feature sets a search of ``space`` (with ``fixed`` parameters) may ask the dataset
    for (none for the paper's spaces; :data:`~mser.functionals.NO_SET` is none); a fused one
    comes after the sets it joins."""
    domain = pinned_space(space, fixed).get("functionals", {}).get("feature_set")
    return tuple(name for name in _values(domain) if name in INPUT_SETS)


def augmentations(space: str, fixed: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The augmentation variants a search of ``space`` (with ``fixed`` parameters) may ask for
    (none for the functionals)."""
    domains = pinned_space(space, fixed).get("augment", {})
    variants = set()
    for speed in _values(domains.get("speed")):
        variants.update(AugmentParams(speed=speed).variants)
    for snr in _values(domains.get("noise_snr")):
        variants.update(AugmentParams(noise_snr=snr).variants)
    return tuple(sorted(variants))


def get_space(name: str) -> Mapping[str, Any]:
    """The space called ``name``, or a ValueError listing the spaces there are."""
    try:
        return SPACES[name]
    except KeyError:
        raise ValueError(f"unknown space {name!r}: expected one of {', '.join(SPACES)}") from None


def is_paper_point(space: str, config: Mapping[str, Any]) -> bool:
    """Whether a trial's sampled ``config`` is the paper's configuration of ``space``."""
    paper = PAPER_POINTS[space]
    return all(dict(config.get(group, {})) == dict(values) for group, values in paper.items())


def param_name(key: str) -> str:
    """The MLflow parameter of a flattened space key: ``sae/depth`` -> ``sae.depth``,
    ``training/class_weighting`` -> ``class_weighting`` (see :func:`tracking.runs.config_params`)."""
    group, _, name = key.partition("/")
    return name if group == "training" else f"{group}.{name}"
