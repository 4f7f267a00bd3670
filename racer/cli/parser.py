"""The ``racer`` argument parser, made of the command modules' parsers, and `main`."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from racer.cli import lab, train, view
from racer.errors import RacerError

#: Every command's flags, by name, in the order ``racer --help`` lists them.
_COMMANDS = {**view.COMMANDS, **lab.COMMANDS, **train.COMMANDS}
_ORDER = ("tracks", "drive", "validate", "rescore", "replay", "analyze", "raceline", "bench",
          "train", "evaluate", "race", "export", "plot")  # fmt: skip

#: Per command, the flags that set a config dataclass field: dest -> "Class.field", the field
#: that gives the flag's default (``racer train``'s others: `racer.train.config.TRAIN_FLAGS`).
CONFIG_FLAGS: dict[str, dict[str, str]] = {**view.CONFIG_FLAGS, **lab.CONFIG_FLAGS,
                                           **train.CONFIG_FLAGS}  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="racer", description="A local DeepRacer-compatible simulator and reward-function lab."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in _ORDER:
        _COMMANDS[name](sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except RacerError as exc:
        print(f"racer: error: {exc}", file=sys.stderr)
        return 2
