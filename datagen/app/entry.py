"""The ``datagen`` console script: a Ctrl-C while the program is still starting exits cleanly too."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType


def _interrupted_while_starting(_signum: int, _frame: FrameType | None) -> None:
    sys.stderr.write("error: interrupted\n")
    sys.stderr.flush()
    os._exit(130)  # nothing has started yet: no file, no request, nothing to clean up


def main(argv: list[str] | None = None) -> None:
    """Import the command line under a SIGINT handler that exits at once, then run it."""
    previous = signal.signal(signal.SIGINT, _interrupted_while_starting)
    from datagen.app.cli import main as cli_main

    signal.signal(signal.SIGINT, previous)  # from here the run handles Ctrl-C itself (exit 130)
    cli_main(argv)
