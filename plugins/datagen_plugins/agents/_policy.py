"""The seed's PolicyNetwork, shared by the policy-gradient agents (torch).

A shared hidden layer over the state (the previous reward and the current parameters), Gaussian heads
for the continuous and integer parameters (means in the unit interval, learned log standard deviations),
one categorical head per categorical parameter, and a value head (PPO's baseline).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from datagen.plugin import ParameterSpace, SearchAgent, UsageError, get_logger


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


class PolicyAgent(SearchAgent):
    """What REINFORCE and PPO share: torch (or the configured random fallback), the policy, its
    optimiser and generator, and the state (the previous reward, standardised, and parameters)."""

    def __init__(self, config: Any) -> None:
        super().__init__(config)
        self.fallback = False
        self.torch: Any = None
        try:
            self.torch = require_torch(self.name)
        except UsageError:
            if config.fallback != "random":
                raise
            self.fallback = True
            get_logger("datagen.agents").warning(
                "agent_fallback", agent=self.name, to="random", reason="no torch"
            )
        self.seen: list[float] = []
        self.state: list[float] = []
        #: the step asked and not yet told: (state, numeric action, categorical indexes, *extra)
        self.pending: tuple[Any, ...] | None = None
        #: the steps told since the last update: the pending tuple with the reward last
        self.buffer: list[tuple[Any, ...]] = []

    def setup(self, space: ParameterSpace, seed: int) -> None:
        """Build the policy for ``space``."""
        super().setup(space, seed)
        self.state = [0.0, *space.vector(space.sample(self.rng))]
        if self.fallback:
            return
        torch = self.torch
        self.net = build_policy(torch, space, self.config.hidden, seed)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=self.config.learning_rate)
        self.generator = torch.Generator().manual_seed(seed)

    def ask(self) -> dict[str, Any]:
        """Parameters drawn from the policy (or at random, as configured, without torch)."""
        space = self.require_space()
        if self.fallback:
            return space.sample(self.rng)
        numeric, indexes = sample_action(self.torch, self.net, self.state, self.generator)
        self.pending = (list(self.state), numeric, indexes, *self.remember(numeric, indexes))
        return space.decode(numeric, indexes)

    def remember(self, numeric: list[float], indexes: list[int]) -> tuple[Any, ...]:
        """What an agent keeps of an action besides the state and the action itself."""
        return ()

    def tell(self, params: Mapping[str, Any], reward: float) -> None:
        """Store the step; learn every ``batch`` steps."""
        super().tell(params, reward)
        self.observe(params, reward)
        if self.fallback or self.pending is None:
            return
        self.buffer.append((*self.pending, reward))
        self.pending = None
        if len(self.buffer) >= self.config.batch:
            self.learn()
            self.buffer.clear()

    def learn(self) -> None:
        """Update the policy on the buffered steps."""
        raise NotImplementedError

    def tensors(self) -> tuple[Any, Any, Any]:
        """The buffered states, numeric actions and categorical indexes as tensors."""
        torch, n = self.torch, len(self.buffer)
        states = torch.tensor([b[0] for b in self.buffer], dtype=torch.float32)
        numeric = torch.tensor([b[1] for b in self.buffer], dtype=torch.float32)
        indexes = torch.tensor([b[2] for b in self.buffer], dtype=torch.long).reshape(n, -1)
        return states, numeric, indexes

    def observe(self, params: Mapping[str, Any], reward: float) -> None:
        """Move the state on: the reward standardised by those seen so far, and the parameters."""
        self.seen.append(reward)
        normalised = standardise(self.seen)[-1] if len(self.seen) > 1 else 0.0
        self.state = [normalised, *self.require_space().vector(params)]
