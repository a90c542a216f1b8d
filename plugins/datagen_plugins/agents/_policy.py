"""The seed's PolicyNetwork, shared by the policy-gradient agents (torch).

A shared hidden layer over the state (the previous reward and the current parameters), Gaussian heads
for the continuous and integer parameters (means in the unit interval, learned log standard deviations),
one categorical head per categorical parameter, and a value head (PPO's baseline).
"""

from __future__ import annotations

import math
from typing import Any

from datagen.plugin import ParameterSpace, UsageError


def require_torch(agent: str) -> Any:
    """torch, or a clear error naming the extra (and the opt-in fallback)."""
    try:
        import torch
    except ImportError:
        raise UsageError(
            f"the {agent} agent needs torch: pip install 'datagen[rl]' (or set $.agent.{agent}.fallback = "
            '"random" to search at random without it, which the log and the history then say)'
        ) from None
    return torch


def build_policy(torch: Any, space: ParameterSpace, hidden: int, seed: int) -> Any:
    """A PolicyNetwork for ``space``, its weights drawn from ``seed`` (torch's global RNG untouched)."""
    nn = torch.nn

    class PolicyNetwork(nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.numeric = len(space.numeric)
            self.sizes = [len(p.choices) for p in space.categorical]
            width = 1 + len(space.vector(space.sample(__import__("random").Random(0))))
            self.shared = nn.Sequential(nn.Linear(width, hidden), nn.Tanh())
            self.mean = nn.Linear(hidden, self.numeric) if self.numeric else None
            self.log_std = nn.Parameter(torch.full((self.numeric,), math.log(0.25)))
            self.logits = nn.ModuleList([nn.Linear(hidden, n) for n in self.sizes])
            self.value = nn.Linear(hidden, 1)

        def forward(self, state: Any) -> tuple[Any, Any, list[Any], Any]:
            h = self.shared(state)
            mean = torch.sigmoid(self.mean(h)) if self.mean is not None else h.new_zeros((h.shape[0], 0))
            return mean, self.log_std.clamp(-4.0, 0.5).exp(), [head(h) for head in self.logits], self.value(h)

        def distribution(self, state: Any, numeric: Any, indexes: Any) -> tuple[Any, Any, Any]:
            """(log-probability of the actions, entropy, value) for a batch of states."""
            mean, std, logits, value = self(state)
            logp = state.new_zeros(state.shape[0])
            entropy = state.new_zeros(state.shape[0])
            if self.numeric:
                normal = torch.distributions.Normal(mean, std.expand_as(mean))
                logp = logp + normal.log_prob(numeric).sum(-1)
                entropy = entropy + normal.entropy().sum(-1)
            for k, head in enumerate(logits):
                cat = torch.distributions.Categorical(logits=head)
                logp = logp + cat.log_prob(indexes[:, k])
                entropy = entropy + cat.entropy()
            return logp, entropy, value.squeeze(-1)

    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return PolicyNetwork()


def sample_action(torch: Any, net: Any, state: list[float], generator: Any) -> tuple[list[float], list[int]]:
    """Raw Gaussian draws (before clipping to [0, 1]) and category indexes from the policy at ``state``."""
    with torch.no_grad():
        mean, std, logits, _ = net(torch.tensor([state], dtype=torch.float32))
        numeric = (mean + std * torch.randn(mean.shape, generator=generator)).squeeze(0).tolist()
        indexes = [int(torch.multinomial(torch.softmax(h, -1), 1, generator=generator)) for h in logits]
    return numeric, indexes


def standardise(values: list[float]) -> list[float]:
    """Zero mean, unit variance (all zeros when the values are equal)."""
    mean = sum(values) / len(values)
    spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
    return [(v - mean) / spread if spread > 1e-12 else 0.0 for v in values]
