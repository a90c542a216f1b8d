"""RL-guided search over generation parameters: the seed's ``RLTuner`` and ``RLTuningConfig``.

Agents (random search, REINFORCE, PPO, Bayesian optimisation) are plugins of the ``agent`` family;
``BaseAgent`` is the protocol they satisfy (ask / tell / best).
"""

from __future__ import annotations

from datagen._app.tuner import RLTuner, plot_rewards
from datagen._datamodel.config import RLTuningConfig
from datagen._datamodel.space import Param, ParameterSpace
from datagen._kernel.agents import SearchAgent
from datagen._kernel.protocols import Agent as BaseAgent

__all__ = ["BaseAgent", "Param", "ParameterSpace", "RLTuner", "RLTuningConfig", "SearchAgent", "plot_rewards"]
