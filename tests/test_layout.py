"""The package boundaries the project is built on: mser/ is the science, free of ray and mlflow."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imported_modules(package: str) -> dict[str, set[str]]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        names = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


@pytest.mark.parametrize("forbidden", ["ray", "mlflow", "optuna", "search", "tracking"])
def test_mser_imports_neither_ray_nor_mlflow(forbidden):
    offenders = [path for path, names in _imported_modules("mser").items() if forbidden in names]
    assert not offenders, f"{forbidden} imported by {offenders}: mser/ is the science, keep it out"


def test_mser_knows_no_scheduler_stop():
    """A scheduler stops a training through ``on_epoch`` with mser's own TrainingStopped; how
    Ray Tune stops a trial (``SystemExit`` from ``tune.report``) is search/'s business."""
    offenders = []
    for path in (ROOT / "mser").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "SystemExit":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        for word in ("Ray Tune", "tune.report"):
            if word in path.read_text():
                offenders.append(f"{path.relative_to(ROOT)} names {word}")
    assert not offenders, f"mser/ handles the search's stop itself: {offenders}"


#: Who may import whom: mser/ <- tracking/ <- search/ <- report/ <- cli/ (each may use those before it).
LAYERS = ["mser", "tracking", "search", "report", "cli"]


@pytest.mark.parametrize("package", LAYERS[:-1])
def test_each_layer_imports_only_the_layers_below(package):
    above = set(LAYERS[LAYERS.index(package) + 1:])
    offenders = {path: sorted(names & above) for path, names in _imported_modules(package).items() if names & above}
    assert not offenders, f"{package}/ imports a layer above it: {offenders} (order: {' <- '.join(LAYERS)})"


def test_tracking_does_not_import_ray():
    offenders = [path for path, names in _imported_modules("tracking").items() if "ray" in names]
    assert not offenders, f"ray imported by {offenders}: tracking/ wraps mlflow only"


_MLFLOW_READS = {"tags", "metrics", "params"}
_MLFLOW_WRITES = {"set_tag": 1, "log_metric": 1, "log_param": 1, "log_dict": 2, "log_text": 2, "log_figure": 2,
                  "get_metric_history": 1, "log_artifact": 2, "log_artifacts": 2, "Metric": 0, "RunTag": 0,
                  "Param": 0}


def _literal_name(node: ast.AST) -> str | None:
    """A name written by hand: a string literal, or an f-string that starts with literal text
    (``f"test_{k}"``; ``f"{PREFIX}{k}"`` builds on a schema name and passes)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
        return node.values[0].value + "{...}"
    return None


def _mlflow_name_literals(tree: ast.AST) -> list[tuple[int, str]]:
    """String literals used as MLflow names: ``run.data.tags["x"]``, ``.tags.get("x")``,
    ``client.set_tag(run, "x", ...)``, ``log_dict(run, d, "x.json")``, and ``tags.x`` in filters."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) \
                and node.value.attr in _MLFLOW_READS and _literal_name(node.slice) is not None:
            found.append((node.lineno, _literal_name(node.slice)))
        elif isinstance(node, ast.Call) and isinstance(node.func, (ast.Attribute, ast.Name)):
            owner = node.func.value if isinstance(node.func, ast.Attribute) else None
            name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
            if name == "get" and isinstance(owner, ast.Attribute) and owner.attr in _MLFLOW_READS \
                    and node.args and _literal_name(node.args[0]) is not None:
                found.append((node.lineno, _literal_name(node.args[0])))
            position = _MLFLOW_WRITES.get(name)
            if position is not None and len(node.args) > position and _literal_name(node.args[position]) is not None:
                found.append((node.lineno, _literal_name(node.args[position])))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and any(f"{kind}." in node.value for kind in _MLFLOW_READS | {"attributes"}) \
                and "=" in node.value and "attributes.status" not in node.value:
            found.append((node.lineno, node.value))
    return found


def test_the_schema_check_sees_literal_names():
    code = ("run.data.tags['model_uri']; run.data.metrics.get('val_kappa'); client.set_tag(r, 'pruned', 'true')\n"
            "client.log_dict(r, {}, 'space.json'); q = f\"tags.model = '{space}'\"; ok = f\"tags.{NAME} = '{v}'\"\n"
            "client.log_metric(r, f'test_{k}', 1); Metric(f'{PREFIX}{k}', 1, 0, 0); run.data.metrics[f'test_{k}']")
    assert sorted(value for _, value in _mlflow_name_literals(ast.parse(code))) == sorted([
        "model_uri", "val_kappa", "pruned", "space.json", "tags.model = '", "test_{...}", "test_{...}"])


@pytest.mark.parametrize("package", ["search", "tracking", "report", "cli"])
def test_mlflow_names_are_defined_once_in_the_schema(package):
    """Tag, param, metric and artifact names come from tracking/schema.py, never retyped."""
    offenders = []
    for path in (ROOT / package).rglob("*.py"):
        if path.name == "schema.py":
            continue
        offenders += [f"{path.relative_to(ROOT)}:{line} {value!r}"
                      for line, value in _mlflow_name_literals(ast.parse(path.read_text()))]
    assert not offenders, f"MLflow names written as literals (import them from tracking.schema): {offenders}"


def test_the_parent_tag_is_mlflows_own():
    from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID

    from tracking.schema import PARENT_TAG

    assert PARENT_TAG == MLFLOW_PARENT_RUN_ID
