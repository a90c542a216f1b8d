"""The entry points: the Python API (Generator), the runner that drives a run, and the CLI."""
