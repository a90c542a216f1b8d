"""Differential privacy accounting for the Gaussian mechanism, exact, with the standard library only.

A Gaussian mechanism with L2 sensitivity D and noise N(0, sigma^2) is mu-GDP with mu = D/sigma (Dong, Roth and
Su 2019, "Gaussian Differential Privacy"); T of them compose to a Gaussian mechanism with
mu = sqrt(sum mu_i^2), exactly, and a mu-GDP mechanism is (epsilon, delta(epsilon))-DP for every epsilon with

    delta(epsilon) = Phi(-epsilon/mu + mu/2) - e^epsilon · Phi(-epsilon/mu - mu/2)

(Balle and Wang 2018, "Improving the Gaussian mechanism", the analytic Gaussian mechanism). So the
epsilon of T releases at noise multiplier sigma, and the sigma that T releases need to stay within
(epsilon, delta), are computed here by bisection on this curve: no bound, no discretisation.
``tests/dp_accounting`` checks the epsilon against Google's ``dp-accounting`` (its privacy loss
distribution accountant) to 1e-6; that package pins ``attrs<24`` and so cannot be a datagen dependency.

This module imports nothing outside the standard library, so the check can load it on its own.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

_EPSILON_MAX = 1_000.0


def _phi(x: float) -> float:
    """The standard normal CDF."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def gdp_delta(epsilon: float, mu: float) -> float:
    """The delta at which a mu-GDP mechanism is (epsilon, delta)-DP."""
    if mu <= 0:
        return 0.0
    if math.isinf(mu):
        return 1.0
    first = _phi(-epsilon / mu + mu / 2)
    # e^epsilon Phi(-epsilon/mu - mu/2) in log space: e^epsilon overflows long before the product does
    tail = -epsilon / mu - mu / 2
    log_second = epsilon + math.log(max(_phi(tail), 1e-300)) if tail > -37 else -math.inf
    return max(0.0, first - math.exp(log_second) if log_second > -745 else first)


def gdp_epsilon(mu: float, delta: float) -> float:
    """The smallest epsilon with delta(epsilon) <= ``delta`` for a mu-GDP mechanism (inf for mu = inf)."""
    if not 0 < delta < 1:
        raise ValueError(f"delta must be in (0, 1), got {delta}")
    if mu <= 0:
        return 0.0
    if math.isinf(mu):
        return math.inf
    if gdp_delta(0.0, mu) <= delta:
        return 0.0
    low, high = 0.0, 1.0
    while gdp_delta(high, mu) > delta:
        low, high = high, high * 2
        if high > _EPSILON_MAX:
            return math.inf
    for _ in range(200):
        mid = (low + high) / 2
        if gdp_delta(mid, mu) > delta:
            low = mid
        else:
            high = mid
        if high - low < 1e-12:
            break
    return high


def epsilon_for(noise_multiplier: float, steps: int, delta: float) -> float:
    """The epsilon of ``steps`` Gaussian releases of sensitivity 1 at ``noise_multiplier``, at ``delta``."""
    if noise_multiplier <= 0:
        return math.inf
    return gdp_epsilon(math.sqrt(steps) / noise_multiplier, delta)


def noise_multiplier_for(epsilon: float, delta: float, steps: int) -> float:
    """The smallest noise multiplier sigma with which ``steps`` Gaussian releases of sensitivity 1 stay
    within (``epsilon``, ``delta``); 0 for epsilon = inf (no noise)."""
    if math.isinf(epsilon):
        return 0.0
    if epsilon <= 0:
        raise ValueError(f"epsilon must be positive, got {epsilon}")
    # delta(epsilon; mu) grows with mu: find the largest mu within delta, then sigma = sqrtT / mu
    low, high = 0.0, 1.0
    while gdp_delta(epsilon, high) <= delta:
        low, high = high, high * 2
    for _ in range(200):
        mid = (low + high) / 2
        if gdp_delta(epsilon, mid) <= delta:
            low = mid
        else:
            high = mid
        if high - low < 1e-13:
            break
    return math.sqrt(steps) / low


@dataclass
class GaussianAccountant:
    """A privacy budget (epsilon, delta) spent by Gaussian releases; one that would exceed it is refused.

    ``charge(sigma, sensitivity)`` records one release; ``spent()`` is the (epsilon, delta) so far."""

    epsilon: float
    delta: float
    releases: list[tuple[float, float]] = field(default_factory=list)

    def mu(self, extra: list[tuple[float, float]] | None = None) -> float:
        """The composed GDP parameter of the releases so far (and ``extra`` ones)."""
        total = 0.0
        for sigma, sensitivity in [*self.releases, *(extra or [])]:
            if sigma <= 0:
                return math.inf
            total += (sensitivity / sigma) ** 2
        return math.sqrt(total)

    def would_spend(self, sigma: float, sensitivity: float = 1.0, times: int = 1) -> float:
        """The epsilon after ``times`` more releases at ``sigma``."""
        return gdp_epsilon(self.mu([(sigma, sensitivity)] * times), self.delta)

    def charge(self, sigma: float, sensitivity: float = 1.0) -> None:
        """Record a release; :class:`BudgetExceeded` if it would take epsilon beyond the budget."""
        after = self.would_spend(sigma, sensitivity)
        if after > self.epsilon * (1 + 1e-9):
            raise BudgetExceeded(
                f"this release (noise {sigma:.4g}, sensitivity {sensitivity:g}) would spend "
                f"epsilon {after:.4g} of a budget of {self.epsilon:g} (delta {self.delta:g})"
            )
        self.releases.append((sigma, sensitivity))

    def spent(self) -> dict[str, float]:
        """The (epsilon, delta) spent so far (epsilon = 0 before any release)."""
        if not self.releases:
            return {"epsilon": 0.0, "delta": 0.0}
        return {"epsilon": gdp_epsilon(self.mu(), self.delta), "delta": self.delta}


class BudgetExceeded(ValueError):
    """A release would spend more privacy budget than is left."""


def gaussian_noise(values: list[float], sigma: float, rng: random.Random) -> list[float]:
    """``values`` with independent N(0, sigma^2) noise added to each."""
    return [v + rng.gauss(0.0, sigma) for v in values]
