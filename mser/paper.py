"""What the paper reported: Table 4, Cohen's kappa on the test speakers.

Rows are this project's model names; columns the languages (``all``: trained on the
three jointly). A missing cell is one the paper did not run.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

from mser.corpora import is_one_language

TABLE4: Mapping[str, Mapping[str, float]] = MappingProxyType({
    "dnn_features": {"it": 0.0, "de": 0.002, "en": 0.0},
    "cnn_features": {"it": 0.12, "de": 0.436, "en": 0.124, "all": 0.141},
    "sae_svm": {"it": 0.0, "de": 0.092, "en": 0.056},
    "sae_mlp": {"it": 0.0, "de": 0.0, "en": 0.0},
    "sae_cnn": {"it": 0.0, "de": 0.254, "en": 0.003},
    "sae_cnn_features": {"it": 0.133, "de": 0.153, "en": 0.542, "all": 0.171},
})

#: Classifier epochs the paper trained for, per language and jointly (sections 6.2, 6.2.3).
EPOCHS = {"it": 100, "de": 100, "en": 100, "all": 300}


def paper_epochs(language: str) -> int:
    """The paper's classifier epochs for ``language``: a single language's (any language, the
    paper's three or a corpus index's), or, for a model on several languages (``all``, and an
    ``all-but-*`` one, which the paper did not train), the joint model's."""
    return EPOCHS.get(language, EPOCHS["it"] if is_one_language(language) else EPOCHS["all"])


def table4_runs() -> list[tuple[str, str]]:
    """Every (model, language) cell of Table 4, in the paper's row order."""
    return [(model, language) for model, row in TABLE4.items() for language in row]
