"""How the run was asked to stop, shared by the console script and the command line."""

from __future__ import annotations

#: set when the run was asked to stop by SIGTERM: it then exits 143 (128 + 15), not 130
TERMINATED = {"by_sigterm": False}
