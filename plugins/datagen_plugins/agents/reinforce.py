"""``reinforce``: REINFORCE (Williams 1992) with the seed's PolicyNetwork.

Each ask samples parameters from the policy given the state (the previous reward, normalised by the
rewards seen so far, and the previous parameters); every ``batch`` tells the policy takes one gradient
step on ``-(log pi(a|s) * A) - entropy_bonus * H``, with A the discounted returns (``discount``)
standardised across the batch (reward normalisation) so the step size does not depend on the reward's
scale.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterAgent, bounded, hookimpl
from datagen_plugins.agents._policy import PolicyAgent, standardise


@attrs.define
class ReinforceConfig:
    """Options of ``[agent.reinforce]``."""

    learning_rate: float = attrs.field(default=0.05, validator=bounded(above=0))
    discount: float = attrs.field(default=0.0, validator=bounded(0, high=1))
    entropy_bonus: float = attrs.field(default=0.01, validator=bounded(0))
    batch: int = attrs.field(default=4, validator=bounded(1))
    hidden: int = attrs.field(default=32, validator=bounded(1))
    normalize_rewards: bool = True
    fallback: str | None = None


class REINFORCEAgent(PolicyAgent):
    """Policy gradient with a batch baseline."""

    name: ClassVar[str] = "reinforce"
    Config: ClassVar[type[Any]] = ReinforceConfig

    def learn(self) -> None:
        """One policy-gradient step on the buffered steps."""
        torch, c = self.torch, self.config
        rewards = [b[3] for b in self.buffer]
        returns: list[float] = []
        running = 0.0
        for r in reversed(rewards):
            running = r + c.discount * running
            returns.insert(0, running)
        advantages = standardise(returns) if c.normalize_rewards else returns
        logp, entropy, _ = self.net.distribution(*self.tensors())
        loss = -(logp * torch.tensor(advantages)).mean() - c.entropy_bonus * entropy.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()


@hookimpl
def datagen_register_agents(register: RegisterAgent) -> None:
    """Register the reinforce agent."""
    register(REINFORCEAgent)
