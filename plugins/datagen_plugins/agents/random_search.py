"""``random``: uniform random search over the space (Bergstra and Bengio 2012), the baseline every
other agent has to beat."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterAgent, SearchAgent, hookimpl


@attrs.define
class RandomConfig:
    """Options of ``[agent.random]`` (none: the tuner's seed drives it)."""


class RandomSearchAgent(SearchAgent):
    """Independent uniform samples."""

    name: ClassVar[str] = "random"
    #: the agent a tuning run asks when none is named
    default: ClassVar[bool] = True
    Config: ClassVar[type[Any]] = RandomConfig

    def ask(self) -> dict[str, Any]:
        """A uniform random point of the space."""
        return self.require_space().sample(self.rng)


@hookimpl
def datagen_register_agents(register: RegisterAgent) -> None:
    """Register the random agent."""
    register(RandomSearchAgent)
