"""Imports point only downwards: track, physics, sensors, env, logs, train, lab, cli (see RANK).

An AST scan of every module in racer/, including imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "racer"
RANK = {"errors": 0, "units": 0, "resources": 1, "config": 1, "track": 2, "physics": 3,
        "raceline": 4, "sensors": 4, "reward": 4, "env": 5, "plots": 6, "logs": 6, "export": 6,
        "train": 7, "viewer": 7, "lab": 8, "cli": 9}  # fmt: skip
FORBIDDEN = {
    "track": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "physics": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "sensors": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "raceline": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "reward": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib"},
    "env": {"torch", "pygame", "matplotlib"},
}
SAME_RANK_ALLOWED: set[tuple[str, str]] = set()


def layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    return rel.parts[0].removesuffix(".py")


def imports(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module


MODULES = [p for p in sorted(PACKAGE.rglob("*.py")) if p != PACKAGE / "__init__.py"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_downwards(path):
    layer = layer_of(path)
    if layer not in RANK:
        pytest.fail(f"{path} is in no known layer; add it to RANK")
    for name in imports(path):
        top = name.split(".")[0]
        if top == "racer":
            parts = name.split(".")
            if len(parts) == 1:
                pytest.fail(f"{path} imports the racer package itself")
            target = parts[1]
            if target == layer:
                continue
            assert RANK[target] < RANK[layer] or (layer, target) in SAME_RANK_ALLOWED, (
                f"{path} ({layer}) imports {name} ({target}): imports must point downwards"
            )
        else:
            assert top not in FORBIDDEN.get(layer, set()), f"{path} ({layer}) imports {top}"


def test_only_vec_env_imports_stable_baselines3():
    for path in (PACKAGE / "env").rglob("*.py"):
        if path.name != "vec_env.py":
            assert "stable_baselines3" not in {n.split(".")[0] for n in imports(path)}, path


def test_physics_does_not_know_tracks():
    for path in (PACKAGE / "physics").rglob("*.py"):
        assert not any(n.startswith("racer.track") for n in imports(path)), path
