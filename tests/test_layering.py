"""Imports point only downwards: track, physics, sensors, objects, env, logs, train, lab, cli.

An AST scan of every module in racer/, including imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "racer"
RANK = {"errors": 0, "units": 0, "resources": 1, "config": 1, "track": 2, "physics": 3,
        "raceline": 4, "sensors": 4, "reward": 4, "formats": 4, "objects": 5, "env": 6,
        "plots": 7, "logs": 7, "export": 7, "train": 8, "viewer": 8, "lab": 9, "cli": 10}
FORBIDDEN = {
    "track": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "physics": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "sensors": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "raceline": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "reward": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib"},
    "formats": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
    "objects": {"gymnasium", "torch", "stable_baselines3", "pygame", "matplotlib", "shapely"},
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


def _core_uses(path: Path):
    """(line, text) of every ``<...>core._private`` access and every step of a core by hand."""
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Attribute):
            continue
        owner = node.value
        named = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", "")
        if named == "core" and node.attr.startswith("_"):
            yield node.lineno, f"core.{node.attr}"
        if named == "core" and node.attr in {"reset_cars", "advance", "step"}:
            yield node.lineno, f".{node.attr}"


OUTSIDE_ENV = [p for p in MODULES if layer_of(p) != "env"]


@pytest.mark.parametrize("path", OUTSIDE_ENV, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_outside_env_no_one_touches_the_cores_insides_or_drives_it_by_hand(path):
    """The core's private state is its own, and cars are driven through `racer.env.rollout`."""
    found = list(_core_uses(path))
    assert not found, f"{path}: {found} (use RacerCore's public record or racer.env.rollout)"
