"""The seed's ``datagen.quality``: :class:`QualityFilter` (defined in :mod:`datagen._app.quality`)."""

from __future__ import annotations

from datagen._app.quality import QualityFilter

__all__ = ["QualityFilter"]
