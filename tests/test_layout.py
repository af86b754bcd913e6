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


def test_tracking_does_not_import_ray():
    offenders = [path for path, names in _imported_modules("tracking").items() if "ray" in names]
    assert not offenders, f"ray imported by {offenders}: tracking/ wraps mlflow only"
