"""The seed's ``datagen.quality``: :class:`QualityFilter` (defined in :mod:`datagen.app.quality`)."""

from __future__ import annotations

from datagen.app.quality import QualityFilter

__all__ = ["QualityFilter"]
