"""DeepRacer's ``hyperparameters.json`` (SPEC 3.2): parse, check, write back.

The keys and their meaning are DeepRacer's. `Hyperparameters` holds the values a run uses: the
simulator's defaults for absent keys, except where racer chooses a different default for a first
run on a laptop CPU (`RACER_DEFAULTS`, listed in the README). ``ip/hyperparameters.json`` in a run
folder is written back in DeepRacer's own format, so DeepRacer tools read it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from racer.errors import ConfigError

#: Loss types DeepRacer accepts; anything other than "huber" means mean squared error.
LOSS_TYPES = ("huber", "mean squared error", "mean_squared_error")
#: Exploration types DeepRacer accepts (racer's PPO samples its policy: "categorical").
EXPLORATION_TYPES = ("categorical", "e-greedy", "e_greedy")
#: The minibatch sizes the DeepRacer console offers [steps] (SPEC 3.2, "DROA allowed").
CONSOLE_BATCH_SIZES = (32, 64, 128, 256, 512)
#: The learning rates the console allows, inclusive (SPEC 3.2).
CONSOLE_LR_RANGE = (1e-8, 1e-3)
#: Keys the console limits to [0, 1] (SPEC 3.2).
UNIT_INTERVAL_KEYS = ("beta_entropy", "discount_factor", "e_greedy_value", "sac_alpha")


@dataclass(frozen=True)
class Hyperparameters:
    """The training hyperparameters, with DeepRacer's keys and units.

    Values are checked against the DeepRacer console's limits (SPEC 3.2) where racer follows
    them: ``batch_size`` one of 32..512, ``lr`` 1e-8..1e-3, the coefficients within [0, 1].
    ``num_epochs`` and ``num_episodes_between_training`` only need to be >= 1 (the console
    asks 3-10 and 5-100): fewer make quick CPU runs and tests, and the simulator takes any.

    Attributes:
        batch_size: gradient-descent minibatch size [steps].
        beta_entropy: PPO entropy bonus coefficient.
        discount_factor: gamma, per step.
        e_greedy_value: DeepRacer's e-greedy epsilon (unused by PPO's sampled exploration).
        epsilon_steps: steps over which e-greedy anneals (unused, kept for the file).
        exploration_type: "categorical" (sample the policy) or "e-greedy".
        loss_type: value loss, "huber" or "mean squared error".
        lr: Adam learning rate.
        num_episodes_between_training: episodes per iteration (one policy update each).
        num_epochs: PPO epochs per update.
        stack_size: frame stacking (DeepRacer ignores it; fixed at 1).
        term_cond_avg_score: stop when the average evaluation reward reaches this.
        term_cond_max_episodes: stop after this many training episodes.
        sac_alpha: SAC's entropy temperature.
    """

    batch_size: int = 64
    beta_entropy: float = 0.01
    discount_factor: float = 0.999
    e_greedy_value: float = 0.05
    epsilon_steps: int = 10000
    exploration_type: str = "categorical"
    loss_type: str = "mean squared error"
    lr: float = 0.0003
    num_episodes_between_training: int = 20
    num_epochs: int = 10
    stack_size: int = 1
    term_cond_avg_score: float = 100000.0
    term_cond_max_episodes: int = 100000
    sac_alpha: float = 0.2

    def __post_init__(self) -> None:
        _check(self)

    @property
    def huber(self) -> bool:
        """Whether the value loss is Huber (DeepRacer: any other value means MSE)."""
        return self.loss_type.strip().lower() == "huber"

    def to_json(self) -> str:
        """The file as DeepRacer writes it: indented, keys sorted."""
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


_INT_KEYS = {f.name for f in fields(Hyperparameters) if f.type in ("int", int)}
_STR_KEYS = {"exploration_type", "loss_type"}


def _check(h: Hyperparameters) -> None:
    def fail(key: str, message: str) -> ConfigError:
        return ConfigError(f"hyperparameter {key}: {message}")

    if h.batch_size not in CONSOLE_BATCH_SIZES:
        raise fail("batch_size", f"must be one of {', '.join(map(str, CONSOLE_BATCH_SIZES))} "
                   f"(the DeepRacer console's choices), got {h.batch_size}")  # fmt: skip
    for key in UNIT_INTERVAL_KEYS:
        value = getattr(h, key)
        if not 0.0 <= value <= 1.0:  # NaN fails too
            raise fail(key, f"must be within [0, 1] (the DeepRacer console's limits), got {value}")
    low, high = CONSOLE_LR_RANGE
    if not low <= h.lr <= high:
        raise fail("lr", f"must be within {low:g} to {high:g} (the DeepRacer console's limits), "
                   f"got {h.lr:g}")  # fmt: skip
    if h.num_episodes_between_training < 1:
        raise fail("num_episodes_between_training",
                   f"must be >= 1, got {h.num_episodes_between_training}")  # fmt: skip
    if h.num_epochs < 1:
        raise fail("num_epochs", f"must be >= 1, got {h.num_epochs}")
    if h.loss_type.strip().lower() not in LOSS_TYPES:
        raise fail("loss_type", f"must be one of {', '.join(LOSS_TYPES)}; got {h.loss_type!r}")
    if h.exploration_type.strip().lower() not in EXPLORATION_TYPES:
        raise fail("exploration_type", f"must be one of {', '.join(EXPLORATION_TYPES)}; got "
                   f"{h.exploration_type!r}")  # fmt: skip
    if h.term_cond_max_episodes < 1:
        raise fail("term_cond_max_episodes", f"must be >= 1, got {h.term_cond_max_episodes}")


#: DeepRacer's own defaults (the simapp's), for comparison and for ``--deepracer-defaults``.
DEEPRACER_DEFAULTS = Hyperparameters()

#: racer's defaults for a first run on a CPU (each change is explained in the README).
RACER_DEFAULTS = replace(
    DEEPRACER_DEFAULTS,
    discount_factor=0.99,  # DRfC's and the console's value; 0.999 learns slower on short tracks
    num_epochs=3,  # the update dominates a CPU run; the console allows 3-10
)


def parse_hyperparameters(
    data: object, source: str = "hyperparameters.json", base: Hyperparameters = RACER_DEFAULTS
) -> Hyperparameters:
    """Validate a decoded hyperparameters.json object; absent keys take ``base``'s values.

    Numbers may be written as strings (DeepRacer's tools do); an int key given a whole float
    (``64.0``) is accepted.

    Raises:
        ConfigError: not an object, an unknown key (typos would silently fall back to a
            default), a value of the wrong type, or out of range; the message names the file.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: must hold a JSON object of hyperparameters, got "
                          f"{type(data).__name__}.")  # fmt: skip
    known = {f.name for f in fields(Hyperparameters)}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {', '.join(unknown)}. DeepRacer's keys are: "
                          f"{', '.join(sorted(known))}.")  # fmt: skip
    values: dict[str, Any] = {}
    for key, value in data.items():
        values[key] = _value(key, value, source)
    try:
        return replace(base, **values)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None


def _value(key: str, value: object, source: str) -> Any:
    if key in _STR_KEYS:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: {key} must be a string, got {value!r}.")
        return value
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{source}: {key} must be a number, got {value!r}.") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{source}: {key} must be a number, got {value!r}.")
    if key in _INT_KEYS:
        if float(value) != int(value):
            raise ConfigError(f"{source}: {key} must be a whole number, got {value!r}.")
        return int(value)
    return float(value)


def load_hyperparameters(
    path: str | Path, base: Hyperparameters = RACER_DEFAULTS
) -> Hyperparameters:
    """Read and check a DeepRacer ``hyperparameters.json`` (see `parse_hyperparameters`).

    Raises:
        ConfigError: missing or unreadable file, bad JSON (with line and column), bad values.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"hyperparameters file {path} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read hyperparameters file {path}: {exc}.") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON: {exc.msg} at line {exc.lineno}, column "
                          f"{exc.colno}. Fix the file (DeepRacer's format is a flat JSON "
                          f"object).") from None  # fmt: skip
    return parse_hyperparameters(data, str(path), base)
