"""The ``racer`` command line. Each subcommand imports what it needs, when it runs.

Each module holds its commands' flags next to their handlers: `racer.cli.view` (tracks, drive,
replay, raceline), `racer.cli.lab` (validate, rescore, analyze, bench) and `racer.cli.train`
(train, evaluate, race, export, plot); `racer.cli.common` has the flags several share, and
`racer.cli.parser` puts them together.
"""

from racer.cli.parser import CONFIG_FLAGS, build_parser, main

__all__ = ["CONFIG_FLAGS", "build_parser", "main"]
