"""The seed's ``datagen.generator``: :class:`Generator` (defined in :mod:`datagen._app.generator`)."""

from __future__ import annotations

from datagen._app.generator import Generator

__all__ = ["Generator"]
