"""``python -m racer.cli``: the ``racer`` command."""

import sys

from racer.cli.parser import main

sys.exit(main())
