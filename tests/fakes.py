"""Fake distributions with ``datagen`` entry points, as pluggy's own tests fake them."""

from __future__ import annotations

import importlib.metadata as md
import sys
import types
from collections.abc import Callable
from typing import Any

import pytest


class FakeDist:
    """Just enough of ``importlib.metadata.Distribution`` for the plugin loader."""

    def __init__(self, name: str, version: str, entry_points: dict[str, str]) -> None:
        self.metadata = {"Name": name}
        self.version = version
        self.entry_points = md.EntryPoints(md.EntryPoint(n, v, "datagen") for n, v in entry_points.items())


def install_fake_dists(monkeypatch: pytest.MonkeyPatch, *dists: FakeDist, keep_real: bool = True) -> None:
    """Make ``importlib.metadata.distributions()`` also (or only) return ``dists``."""
    real: Callable[..., Any] = md.distributions
    real_list = list(real()) if keep_real else []
    monkeypatch.setattr(md, "distributions", lambda **kw: [*real_list, *dists])


def fake_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> types.ModuleType:
    """A module importable as ``name`` holding ``attrs``."""
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module
