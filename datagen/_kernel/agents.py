"""What every search agent shares: the space it searches, a seed, the best point seen."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from typing import Any, ClassVar

from datagen._datamodel.space import ParameterSpace


class SearchAgent:
    """Base of the built-in agents: ``setup(space, seed)`` before the first ``ask``; ``tell`` keeps the
    best. Subclasses implement ``ask`` and may extend ``tell``."""

    name: ClassVar[str] = "agent"

    def __init__(self, config: Any) -> None:
        self.config = config
        self.space: ParameterSpace | None = None
        self.rng = random.Random(0)
        self._best: tuple[dict[str, Any], float] | None = None
        self.told = 0

    def setup(self, space: ParameterSpace, seed: int) -> None:
        """Bind the space and seed (the tuner calls this once)."""
        self.space = space
        self.rng = random.Random(seed)

    def require_space(self) -> ParameterSpace:
        """The bound space."""
        if self.space is None:
            raise RuntimeError(f"{self.name}: setup(space, seed) must come before ask()")
        return self.space

    def ask(self) -> dict[str, Any]:
        """The next parameters to try."""
        raise NotImplementedError

    def tell(self, params: Mapping[str, Any], reward: float) -> None:
        """Record the reward ``params`` earned."""
        if not math.isfinite(reward):
            raise ValueError(f"reward must be finite, got {reward}")
        self.told += 1
        if self._best is None or reward > self._best[1]:
            self._best = (dict(params), float(reward))

    def best(self) -> tuple[dict[str, Any], float]:
        """The best parameters told so far and their reward."""
        if self._best is None:
            raise RuntimeError(f"{self.name}: nothing told yet")
        return self._best
