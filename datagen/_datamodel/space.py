"""The parameter space an agent searches, and its encoding as numbers.

A :class:`Param` is continuous, integer or categorical, with bounds or choices, and a ``target``: where
its value goes in a run's config (``sampling.temperature``, ``method.name``, ``method.evol_instruct.
max_attempts``, ``filter.length.min_length``, ...). Agents see a point as a vector: every continuous and
integer parameter scaled to [0, 1] (on a log scale when ``log``), every categorical one as its index.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

import attrs

from datagen.errors import UsageError

KINDS = ("continuous", "integer", "categorical")


@attrs.define
class Param:
    """One searched parameter."""

    name: str
    kind: str = "continuous"
    low: float | None = None
    high: float | None = None
    choices: list[Any] = attrs.field(factory=list)
    log: bool = False
    target: str | None = None

    def check(self, where: str) -> None:
        """Bounds and choices make sense, or a UsageError naming the key."""
        if self.kind not in KINDS:
            raise UsageError(f"{where}.kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if self.kind == "categorical":
            if len(self.choices) < 2:
                raise UsageError(f"{where}.choices: a categorical parameter needs at least two choices")
            return
        if self.low is None or self.high is None or not self.low < self.high:
            raise UsageError(f"{where}: needs low < high, got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise UsageError(f"{where}: a log-scale parameter needs low > 0")

    @property
    def where(self) -> str:
        """The config key this parameter sets."""
        return self.target or self.name

    def decode(self, unit: float) -> Any:
        """The value at ``unit`` in [0, 1] (clipped) for continuous and integer parameters."""
        assert self.low is not None and self.high is not None
        u = min(1.0, max(0.0, float(unit)))
        if self.log:
            value = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            value = self.low + u * (self.high - self.low)
        if self.kind == "integer":
            return int(min(self.high, max(self.low, round(value))))
        return float(value)

    def encode(self, value: Any) -> float:
        """The unit position of ``value`` (the inverse of :meth:`decode`)."""
        assert self.low is not None and self.high is not None
        if self.log:
            return (math.log(float(value)) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (float(value) - self.low) / (self.high - self.low)


@attrs.define
class ParameterSpace:
    """The searched parameters, in order."""

    params: list[Param]

    def __attrs_post_init__(self) -> None:
        if not self.params:
            raise UsageError("$.tune.space: no parameter to search")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names):
            raise UsageError(f"$.tune.space: parameter names repeat: {names}")
        for i, p in enumerate(self.params):
            p.check(f"$.tune.space[{i}]")

    @property
    def numeric(self) -> list[Param]:
        """Continuous and integer parameters, in order."""
        return [p for p in self.params if p.kind != "categorical"]

    @property
    def categorical(self) -> list[Param]:
        """Categorical parameters, in order."""
        return [p for p in self.params if p.kind == "categorical"]

    def decode(self, units: Sequence[float], indexes: Sequence[int]) -> dict[str, Any]:
        """Parameters from unit positions (numeric ones) and choice indexes (categorical ones)."""
        out: dict[str, Any] = {}
        for p, u in zip(self.numeric, units, strict=True):
            out[p.name] = p.decode(u)
        for p, i in zip(self.categorical, indexes, strict=True):
            out[p.name] = p.choices[int(i) % len(p.choices)]
        return {p.name: out[p.name] for p in self.params}

    def encode(self, params: Mapping[str, Any]) -> tuple[list[float], list[int]]:
        """Unit positions and choice indexes of ``params``."""
        units = [p.encode(params[p.name]) for p in self.numeric]
        indexes = [p.choices.index(params[p.name]) for p in self.categorical]
        return units, indexes

    def sample(self, rng: random.Random) -> dict[str, Any]:
        """A uniform random point."""
        return self.decode(
            [rng.random() for _ in self.numeric], [rng.randrange(len(p.choices)) for p in self.categorical]
        )

    def vector(self, params: Mapping[str, Any]) -> list[float]:
        """A flat numeric vector: unit positions, then a one-hot block per categorical parameter."""
        units, indexes = self.encode(params)
        out = list(units)
        for p, i in zip(self.categorical, indexes, strict=True):
            out += [1.0 if k == i else 0.0 for k in range(len(p.choices))]
        return out

    def overrides(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The config overrides that apply ``params`` (nested tables by each target's dotted key)."""
        out: dict[str, Any] = {}
        for p in self.params:
            node = out
            *path, last = p.where.split(".")
            for key in path:
                node = node.setdefault(key, {})
            node[last] = params[p.name]
        return out
