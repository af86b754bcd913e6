"""Ray Tune side of mser-search: search spaces, trainables and the ``mser-search`` command.

Wires :mod:`mser` (the science) and :mod:`tracking` (MLflow) into Ray Tune with Optuna.
"""
