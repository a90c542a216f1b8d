"""The ``datagen`` console script: a Ctrl-C while the program is still starting exits cleanly too, and
SIGTERM (``timeout``, ``kill``, a job scheduler, a container stopping) ends a run as Ctrl-C does."""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

from datagen._app.signals import TERMINATED


def _interrupted_while_starting(signum: int, _frame: FrameType | None) -> None:
    terminated = signum == signal.SIGTERM
    sys.stderr.write("error: terminated\n" if terminated else "error: interrupted\n")
    sys.stderr.flush()
    os._exit(143 if terminated else 130)  # nothing has started yet: no file, no request, nothing to clean


def _terminate_as_interrupt(_signum: int, _frame: FrameType | None) -> None:
    """SIGTERM takes the path Ctrl-C takes: the run stops its requests, drops its temporary output and
    keeps what it paid for in the cache; the exit code and message say it was terminated."""
    TERMINATED["by_sigterm"] = True
    signal.raise_signal(signal.SIGINT)


def main(argv: list[str] | None = None) -> None:
    """Import the command line under handlers that exit at once, then run it."""
    previous = signal.signal(signal.SIGINT, _interrupted_while_starting)
    previous_term = signal.signal(signal.SIGTERM, _interrupted_while_starting)
    from datagen._app.cli import main as cli_main

    signal.signal(signal.SIGINT, previous)  # from here the run handles Ctrl-C itself (exit 130)
    if previous_term in (signal.SIG_DFL, None):
        signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    else:
        signal.signal(signal.SIGTERM, previous_term)  # someone embedding datagen handles it their way
    cli_main(argv)
