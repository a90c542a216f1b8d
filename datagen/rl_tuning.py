"""The seed's ``datagen.rl_tuning``: :class:`RLTuner`, :class:`RLTuningConfig` and the parameter space
(defined in :mod:`datagen.tuning`; the agents are plugins of the ``agent`` family)."""

from __future__ import annotations

from datagen.tuning import (
    BaseAgent,
    Param,
    ParameterSpace,
    RLTuner,
    RLTuningConfig,
    SearchAgent,
    plot_rewards,
)

__all__ = ["BaseAgent", "Param", "ParameterSpace", "RLTuner", "RLTuningConfig", "SearchAgent", "plot_rewards"]
