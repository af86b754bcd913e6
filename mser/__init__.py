"""mser: multilingual speech emotion recognition with stacked convolutional autoencoders.

The science of mser-search: corpora, audio preparation, features, splits, models and
their evaluation. It imports neither Ray nor MLflow (see ``search/`` and ``tracking/``).
"""

import os as _os

# TensorFlow's C++ start-up lines (oneDNN, CUDA probing) say nothing a user can act on.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
