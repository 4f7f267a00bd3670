"""Load a user's ``reward_function.py`` and call it under guard (SPEC section 1.1).

The file is imported once as its own module, by path, under a unique name, so module-level state
persists across steps and episodes as on DeepRacer; several cars get one module each (DeepRacer
runs one module per rollout worker). Every result goes through ``float()`` and must be finite and
within +-1e5; anything else raises `RewardFunctionError` naming the user's file and line.
"""

from __future__ import annotations

import importlib.util
import inspect
import itertools
import math
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from racer.errors import RewardFunctionError
from racer.resources import bundled_dir

REWARD_LIMIT = 1e5  # DeepRacer rejects |reward| > 1e5
_module_ids = itertools.count()


def bundled_reward_functions_dir() -> Path:
    """The folder of racer's example reward functions (in the wheel or the checkout)."""
    return bundled_dir("reward_functions", RewardFunctionError)


def resolve_reward_path(name_or_path: str | Path) -> Path:
    """A reward file path, or the name of a bundled example (``follow_center_line``)."""
    path = Path(name_or_path).expanduser()
    if path.exists():
        return path
    if path.suffix != ".py" and "/" not in str(name_or_path):
        bundled = bundled_reward_functions_dir() / f"{name_or_path}.py"
        if bundled.exists():
            return bundled
    names = sorted(p.stem for p in bundled_reward_functions_dir().glob("*.py"))
    raise RewardFunctionError(
        f"reward function file {path} does not exist. Give the path of a Python file defining "
        f"reward_function(params), or a bundled example: {', '.join(names)}."
    )


def _user_frames(exc: BaseException, path: Path) -> str:
    """The traceback lines that belong to the user's file only."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == path]
    if not frames:
        return ""
    return "".join(traceback.format_list(frames))


class RewardFunction:
    """A user's reward function, loaded from a file, called with guards.

    Attributes:
        path: the file it was loaded from.
        function: the raw ``reward_function`` callable.
    """

    def __init__(self, path: str | Path) -> None:
        """Import ``path`` as a fresh module and find ``reward_function(params)``.

        Raises:
            RewardFunctionError: missing file, syntax error, import failure, no function, or a
                function that does not take exactly one parameter.
        """
        self.path = resolve_reward_path(path).resolve()
        module_name = f"racer_user_reward_{next(_module_ids)}"
        spec = importlib.util.spec_from_file_location(module_name, self.path)
        if spec is None or spec.loader is None:
            raise RewardFunctionError(f"reward function {self.path} cannot be imported as Python.")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except SyntaxError as exc:
            raise RewardFunctionError(
                f"reward function {self.path} has a syntax error at line {exc.lineno}: {exc.msg}. "
                f"Fix that line; `python -m py_compile {self.path}` shows the same error."
            ) from None
        except Exception as exc:  # the user's module-level code failed
            raise RewardFunctionError(
                f"reward function {self.path} failed while being imported: "
                f"{type(exc).__name__}: {exc}\n{_user_frames(exc, self.path)}"
                f"DeepRacer allows the modules math, random, numpy, scipy and shapely."
            ) from None
        function = getattr(module, "reward_function", None)
        if not callable(function):
            raise RewardFunctionError(
                f"reward function {self.path} defines no function named reward_function. "
                f"DeepRacer calls reward_function(params); define it at the top level of the file."
            )
        try:
            signature = inspect.signature(function)
            signature.bind({})
        except TypeError:
            raise RewardFunctionError(
                f"reward function {self.path}: reward_function must take exactly one parameter "
                f"(params), but its signature is reward_function{signature}."
            ) from None
        self.function: Callable[[dict[str, Any]], Any] = function
        self.module = module
        sys.modules.pop(module_name, None)

    def __getstate__(self) -> dict[str, Any]:
        """Pickle by path: workers and copies load the file themselves (module state restarts)."""
        return {"path": str(self.path)}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])  # type: ignore[misc]

    def __call__(self, params: dict[str, Any]) -> float:
        """Call the user function and check its result.

        Args:
            params: a params dict the function may mutate (give it a fresh copy).

        Returns:
            The reward as a finite float within +-1e5.

        Raises:
            RewardFunctionError: the function raised, or returned something that is not a finite
                number within range; the message names the file, line and step.
        """
        try:
            value = self.function(params)
        except Exception as exc:
            raise RewardFunctionError(
                f"reward function {self.path} raised {type(exc).__name__}: {exc} at step "
                f"{params.get('steps')} (x={params.get('x')}, y={params.get('y')}, "
                f"progress={params.get('progress')}).\n{_user_frames(exc, self.path)}"
            ) from None
        return self.check_value(value, params)

    def check_value(self, value: Any, params: dict[str, Any]) -> float:
        """Convert a returned value as DeepRacer does (``float()``) and check it."""
        if isinstance(value, bool):
            problem = f"a bool ({value})"
        else:
            try:
                reward = float(value)
            except (TypeError, ValueError):
                problem = f"{type(value).__name__} {value!r}, which float() cannot convert"
            else:
                if math.isfinite(reward) and abs(reward) <= REWARD_LIMIT:
                    return reward
                problem = f"{reward}, outside the allowed range [-1e5, 1e5]"
        raise RewardFunctionError(
            f"reward function {self.path} returned {problem} at step {params.get('steps')} "
            f"(x={params.get('x')}, y={params.get('y')}, progress={params.get('progress')}). "
            f"DeepRacer requires a finite number within [-1e5, 1e5]; return a float."
        )


def load_reward_function(path: str | Path) -> RewardFunction:
    """Load ``reward_function`` from a file path or a bundled example name."""
    return RewardFunction(path)
