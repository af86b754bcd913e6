"""MLflow side of mser-search: the tracking store, runs, logged models, the registry and ensembles.

It never imports Ray; :mod:`mser` never imports MLflow (tests/test_layout.py checks both).
"""

import os as _os

import mser as _mser  # noqa: F401 - quiets TensorFlow before MLflow may import it

# Progress bars of artifact downloads (MLflow validates every logged model's input
# example) would interleave with the commands' own output.
_os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# With a tracking server, MLflow 3 prints a "View run ... at: URL" line on stdout for every
# run it ends, which would break the commands' tables and --json output.
_os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
