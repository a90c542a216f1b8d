"""RL-guided search over generation parameters: the seed's ``RLTuner`` and ``RLTuningConfig``.

Agents (random search, REINFORCE, PPO, Bayesian optimisation) are plugins of the ``agent`` family;
``BaseAgent`` is the protocol they satisfy (ask / tell / best).
"""

from __future__ import annotations

from datagen.app.tuner import RLTuner, plot_rewards
from datagen.datamodel.config import RLTuningConfig
from datagen.datamodel.space import Param, ParameterSpace
from datagen.kernel.agents import SearchAgent
from datagen.kernel.protocols import Agent as BaseAgent

__all__ = ["BaseAgent", "Param", "ParameterSpace", "RLTuner", "RLTuningConfig", "SearchAgent", "plot_rewards"]
