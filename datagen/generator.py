"""The seed's ``datagen.generator``: :class:`Generator` (defined in :mod:`datagen.app.generator`)."""

from __future__ import annotations

from datagen.app.generator import Generator

__all__ = ["Generator"]
