"""Privacy: the seed's :class:`PrivacyManager` (``from datagen.privacy import PrivacyManager``), imported
on first use. The Gaussian accountant is :mod:`datagen._kernel.accounting` (plugins: ``datagen.plugin``)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datagen._app.privacy import PrivacyManager


def __getattr__(name: str) -> Any:
    if name == "PrivacyManager":
        value = importlib.import_module("datagen._app.privacy").PrivacyManager
        globals()[name] = value
        return value
    raise AttributeError(f"module 'datagen.privacy' has no attribute {name!r}")


__all__ = ["PrivacyManager"]
