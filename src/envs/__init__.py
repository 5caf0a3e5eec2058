"""Environments by config name. Each takes its env config (a plain dict) as its only argument."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from src.envs.parametric_cartpole import ParametricCartPole
from src.errors import ConfigError

ENVS: dict[str, type[gym.Env]] = {
    "parametric_cartpole": ParametricCartPole,
}


def env_class(name: str) -> type[gym.Env]:
    try:
        return ENVS[name]
    except KeyError:
        raise ConfigError(f"Unknown env.name={name!r}; known envs: {sorted(ENVS)}.") from None


def make_env(env_config: dict[str, Any]) -> gym.Env:
    return env_class(env_config["name"])(env_config)
