"""``ppo``: Proximal Policy Optimisation (Schulman et al. 2017) with the seed's PolicyNetwork.

Steps are collected ``batch`` at a time; advantages come from generalised advantage estimation
(``gae_lambda``, ``discount``) over the value head's estimates, standardised; then ``epochs`` passes
minimise the clipped surrogate (``clip``) plus ``value_coef`` times the value error, minus
``entropy_bonus`` times the entropy.
"""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from datagen.plugin import RegisterAgent, bounded, hookimpl
from datagen_plugins.agents._policy import PolicyAgent, standardise


@attrs.define
class PPOConfig:
    """Options of ``[agent.ppo]``."""

    learning_rate: float = attrs.field(default=0.03, validator=bounded(above=0))
    discount: float = attrs.field(default=0.0, validator=bounded(0, high=1))
    gae_lambda: float = attrs.field(default=0.95, validator=bounded(0, high=1))
    clip: float = attrs.field(default=0.2, validator=bounded(above=0))
    epochs: int = attrs.field(default=4, validator=bounded(1))
    batch: int = attrs.field(default=4, validator=bounded(1))
    value_coef: float = 0.5
    entropy_bonus: float = attrs.field(default=0.01, validator=bounded(0))
    hidden: int = attrs.field(default=32, validator=bounded(1))
    fallback: str | None = None


class PPOAgent(PolicyAgent):
    """Clipped policy optimisation with a value baseline."""

    name: ClassVar[str] = "ppo"
    Config: ClassVar[type[Any]] = PPOConfig

    def remember(self, numeric: list[float], indexes: list[int]) -> tuple[Any, ...]:
        """The action's log-probability under the policy that drew it (the ratio's denominator)."""
        torch = self.torch
        with torch.no_grad():
            logp, _, _ = self.net.distribution(
                torch.tensor([self.state], dtype=torch.float32),
                torch.tensor([numeric], dtype=torch.float32),
                torch.tensor([indexes], dtype=torch.long).reshape(1, -1),
            )
        return (float(logp[0]),)

    def learn(self) -> None:
        """GAE advantages, then ``epochs`` passes over the clipped objective."""
        torch, c = self.torch, self.config
        states, numeric, indexes = self.tensors()
        old_logp = torch.tensor([b[3] for b in self.buffer])
        rewards = standardise([b[4] for b in self.buffer])
        with torch.no_grad():
            _, _, values = self.net.distribution(states, numeric, indexes)
        advantages, gae = [0.0] * len(rewards), 0.0
        for t in reversed(range(len(rewards))):
            following = float(values[t + 1]) if t + 1 < len(rewards) else 0.0
            delta = rewards[t] + c.discount * following - float(values[t])
            gae = delta + c.discount * c.gae_lambda * gae
            advantages[t] = gae
        returns = torch.tensor([a + float(v) for a, v in zip(advantages, values, strict=True)])
        adv = torch.tensor(standardise(advantages))
        for _ in range(c.epochs):
            logp, entropy, value = self.net.distribution(states, numeric, indexes)
            ratio = (logp - old_logp).exp()
            surrogate = torch.min(ratio * adv, ratio.clamp(1 - c.clip, 1 + c.clip) * adv)
            loss = (
                -surrogate.mean()
                + c.value_coef * ((value - returns) ** 2).mean()
                - c.entropy_bonus * entropy.mean()
            )
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()


@hookimpl
def datagen_register_agents(register: RegisterAgent) -> None:
    """Register the ppo agent."""
    register(PPOAgent)
