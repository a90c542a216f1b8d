"""Exceptions the kernel raises; every user-facing one carries an exit code."""

from __future__ import annotations


class DatagenError(Exception):
    """Base class of datagen's own errors."""

    exit_code: int = 1


class UsageError(DatagenError):
    """Bad input from the user (config, seeds, paths, names): exit code 2, raised before any work starts."""

    exit_code = 2


class ConfigError(UsageError):
    """One or more configuration problems, each naming its path (``$.backend.openai.max_retries``)."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        where = f" in {source}" if source else ""
        lines = "\n".join(f"  {p}" for p in self.problems)
        super().__init__(f"invalid configuration{where}:\n{lines}")


class PluginError(DatagenError):
    """A plugin failed to load, validate or register."""


class UnknownNameError(UsageError):
    """A method, backend or other plugin name that nothing registered."""

    def __init__(self, family: str, name: str, known: list[str]) -> None:
        self.family, self.name, self.known = family, name, sorted(known)
        listing = ", ".join(self.known) or "none"
        super().__init__(f"unknown {family} {name!r}; registered {family}s: {listing}")


class DuplicateNameError(PluginError):
    """Two plugins registered the same name in one family."""
