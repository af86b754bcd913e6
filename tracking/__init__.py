"""MLflow side of mser-search: the tracking store, runs, logged models and the registry.

The only package that imports mlflow; :mod:`mser` never does.
"""
