"""The README's code examples run as written (file names swapped for the bundled example)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from tests.conftest import DEEPRACER_TRACKS, NO_SHARED_TRACKS

README = Path(__file__).resolve().parents[1] / "README.md"
REWARD = Path(__file__).resolve().parents[1] / "reward_functions" / "follow_center_line.py"


def python_blocks():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    return [textwrap.dedent(b) for b in blocks]


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    setup = text[text.index("## Set-up") :].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in setup.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert "make test" in (README.parent / ".ci" / "run").read_text()


def make_recipe(target):
    """The command lines of a Makefile target."""
    lines = (README.parent / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_test_lists_the_skip_reasons():
    # What CI runs is what the README says: `make test`, whose pytest prints every skip reason.
    for target in ("test", "test-slow"):
        (command,) = [c for c in make_recipe(target) if "pytest" in c]
        assert " -rs" in command and " -q" in command, (target, command)
    ci = [line.strip() for line in (README.parent / ".ci" / "run").read_text().splitlines()]
    assert ci[-1] == "make test"


def test_params_example_runs(tmp_path, monkeypatch):
    block = next(b for b in python_blocks() if "params_at_pose" in b)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_reward.py").write_text(REWARD.read_text())
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)
    tests = [v for k, v in namespace.items() if k.startswith("test_")]
    assert tests
    for test in tests:
        test()


def test_env_example_runs(tmp_path, monkeypatch):
    block = next(b for b in python_blocks() if "RacerVecEnv(config" in b)
    shared = DEEPRACER_TRACKS
    if not (shared / "reinvent_base.npy").exists():
        pytest.skip(NO_SHARED_TRACKS)
    meta = Path(__file__).resolve().parent / "data/model_metadata/discrete_five_actions.json"
    block = (block.replace("path/to/reinvent_base.npy", str(shared / "reinvent_base.npy"))
             .replace('"my_reward.py"', repr(str(REWARD)))
             .replace('"model_metadata.json"', repr(str(meta))))  # fmt: skip
    exec(compile(block, "README.md", "exec"), {})


def test_rollout_example_runs(capsys):
    block = next(b for b in python_blocks() if "autopilot_driver(core)" in b)
    exec(compile(block, "README.md", "exec"), {})
    assert capsys.readouterr().out.startswith("lap_complete ")
