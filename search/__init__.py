"""Ray Tune side of mser-search: a study's options, search spaces, the trainable, schedulers,
the driver's callbacks, refits, repeats and the transfer matrix (the command is :mod:`cli.search`).

Wires :mod:`mser` (the science) and :mod:`tracking` (MLflow) into Ray Tune with Optuna.
"""

import os as _os

import tracking as _tracking  # noqa: F401 - quiets TensorFlow and MLflow first

# Tune's own console output (tables, banners) would interleave with mser-search's
# progress lines; the legacy output engine honours verbose=0.
_os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
# A stopped trial's thread ends at its next report (one epoch later) or once it has
# logged its model; Ray waits only 2 s by default before giving up on reusing the
# worker, and then fails the next trial.
_os.environ.setdefault("TUNE_FUNCTION_THREAD_TIMEOUT_S", "60")
