"""Environments by config name. Each takes its env config (a plain dict) as its only argument."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from src.envs.custom import CustomEnv
from src.envs.parametric_cartpole import ParametricCartPole
from src.envs.pettingzoo_games import PettingZooGame
from src.errors import ConfigError

# env.name -> the env class; each takes its env config (a plain dict) as its only argument.
ENVS: dict[str, type[gym.Env]] = {
    "parametric_cartpole": ParametricCartPole,
    "connect_four": PettingZooGame,
    "tictactoe": PettingZooGame,
    "chess": PettingZooGame,
    "custom": CustomEnv,
}


def env_class(name: str) -> type[gym.Env]:
    try:
        return ENVS[name]
    except KeyError:
        raise ConfigError(f"Unknown env.name={name!r}; known envs: {sorted(ENVS)}.") from None


def make_env(env_config: dict[str, Any]) -> gym.Env:
    return env_class(env_config["name"])(env_config)
