"""``reinforce``: REINFORCE (Williams 1992) with the seed's PolicyNetwork.

Each ask samples parameters from the policy given the state (the previous reward, normalised by the
rewards seen so far, and the previous parameters); every ``batch`` tells the policy takes one gradient
step on ``-(log pi(a|s) * A) - entropy_bonus * H``, with A the discounted returns (``discount``)
standardised across the batch (reward normalisation) so the step size does not depend on the reward's
scale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import attrs

from datagen.plugin import Register, bounded, hookimpl
from datagen_plugins.agents._policy import PolicyAgent, sample_action, standardise


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

    def __init__(self, config: ReinforceConfig) -> None:
        super().__init__(config)
        self.buffer: list[tuple[list[float], list[float], list[int], float]] = []
        self.pending: tuple[list[float], list[float], list[int]] | None = None

    def ask(self) -> dict[str, Any]:
        """Parameters drawn from the policy (or at random, as configured, without torch)."""
        space = self.require_space()
        if self.fallback:
            return space.sample(self.rng)
        numeric, indexes = sample_action(self.torch, self.net, self.state, self.generator)
        self.pending = (list(self.state), numeric, indexes)
        return space.decode(numeric, indexes)

    def tell(self, params: Mapping[str, Any], reward: float) -> None:
        """Store the step; learn every ``batch`` steps."""
        super().tell(params, reward)
        self.observe(params, reward)
        if self.fallback or self.pending is None:
            return
        state, numeric, indexes = self.pending
        self.pending = None
        self.buffer.append((state, numeric, indexes, reward))
        if len(self.buffer) >= self.config.batch:
            self.learn()

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
        states = torch.tensor([b[0] for b in self.buffer], dtype=torch.float32)
        numeric = torch.tensor([b[1] for b in self.buffer], dtype=torch.float32)
        indexes = torch.tensor([b[2] for b in self.buffer], dtype=torch.long).reshape(len(self.buffer), -1)
        logp, entropy, _ = self.net.distribution(states, numeric, indexes)
        loss = -(logp * torch.tensor(advantages)).mean() - c.entropy_bonus * entropy.mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.buffer.clear()


@hookimpl
def datagen_register_agents(register: Register) -> None:
    """Register the reinforce agent."""
    register(REINFORCEAgent)
