"""``bayes``: Bayesian optimisation with a Gaussian process (Matern 5/2 kernel, scikit-learn) and an
acquisition function (expected improvement, or upper confidence bound) maximised over random candidates.

The first ``initial`` points are random; then each ask fits the GP to every (point, reward) told so far
(points encoded as unit positions and one-hot categories, rewards standardised) and returns the
candidate with the highest acquisition among ``candidates`` random ones and perturbations of the best.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from datagen.plugin import RegisterAgent, SearchAgent, UsageError, bounded, hookimpl

if TYPE_CHECKING:
    pass


@attrs.define
class BayesConfig:
    """Options of ``[agent.bayes]``."""

    initial: int = attrs.field(default=5, validator=bounded(1))
    candidates: int = attrs.field(default=2000, validator=bounded(10))
    acquisition: str = "ei"
    xi: float = 0.01
    kappa: float = 2.0


class BayesAgent(SearchAgent):
    """GP + expected improvement."""

    name: ClassVar[str] = "bayes"
    Config: ClassVar[type[Any]] = BayesConfig

    def __init__(self, config: BayesConfig) -> None:
        if config.acquisition not in {"ei", "ucb"}:
            raise UsageError(f"$.agent.bayes.acquisition: expected 'ei' or 'ucb', got {config.acquisition!r}")
        try:
            import sklearn.gaussian_process  # noqa: F401
        except ImportError:
            raise UsageError("the bayes agent needs scikit-learn: pip install 'datagen[metrics]'") from None
        super().__init__(config)
        self.points: list[dict[str, Any]] = []
        self.rewards: list[float] = []

    def tell(self, params: Mapping[str, Any], reward: float) -> None:
        """Keep the observation for the next fit."""
        super().tell(params, reward)
        self.points.append(dict(params))
        self.rewards.append(float(reward))

    def ask(self) -> dict[str, Any]:
        """A random point at first, then the candidate with the best acquisition value."""
        import numpy as np

        space = self.require_space()
        if len(self.points) < self.config.initial:
            return space.sample(self.rng)
        from scipy.stats import norm
        from sklearn.gaussian_process import GaussianProcessRegressor
        from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

        x = np.array([space.vector(p) for p in self.points])
        y = np.array(self.rewards)
        scale = y.std() or 1.0
        z = (y - y.mean()) / scale
        kernel = ConstantKernel(1.0) * Matern(length_scale=np.full(x.shape[1], 0.3), nu=2.5) + WhiteKernel(
            1e-3
        )
        gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=False, random_state=self.rng.randrange(2**31)
        )
        with warnings.catch_warnings():  # kernel bounds reached, lbfgs stopping early: the fit still ranks
            warnings.simplefilter("ignore")
            gp.fit(x, z)
        best = self.points[int(np.argmax(y))]
        candidates = [space.sample(self.rng) for _ in range(self.config.candidates)]
        units, indexes = space.encode(best)
        for _ in range(self.config.candidates // 4):  # local moves around the best point
            moved = [min(1.0, max(0.0, u + self.rng.gauss(0, 0.1))) for u in units]
            candidates.append(space.decode(moved, indexes))
        grid = np.array([space.vector(c) for c in candidates])
        mean, std = gp.predict(grid, return_std=True)
        std = np.maximum(std, 1e-9)
        if self.config.acquisition == "ucb":
            score = mean + self.config.kappa * std
        else:
            gain = mean - z.max() - self.config.xi
            score = gain * norm.cdf(gain / std) + std * norm.pdf(gain / std)
        pick = int(np.argmax(score))
        if not math.isfinite(float(score[pick])):
            return space.sample(self.rng)
        return candidates[pick]


@hookimpl
def datagen_register_agents(register: RegisterAgent) -> None:
    """Register the bayes agent."""
    register(BayesAgent)
