"""``env=custom``: bring your own env, adapted by config only.

``env.entry_point`` is ``package.module:Class`` (called with ``env.kwargs``) or a registered
gymnasium id; ``env.obs_key`` / ``env.mask_key`` / ``env.embeddings_key`` name the entries of its
Dict observation. The forum threads' envs (old gym API, keys ``action_mask``/``observations`` or
``valid_avail_actions_mask``/``cart``) run unchanged::

    python -m src.run env=custom env.entry_point=my_envs:ParametricActionsCartPole \\
        +env.kwargs.max_avail_actions=6
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from omegaconf import MISSING

from src.envs.adapters import MaskedEnvAdapter
from src.envs.base import EnvConfig
from src.errors import ConfigError


def load_entry_point(entry_point: str) -> Any:
    """``package.module:attr`` -> the attribute; a name without ``:`` -> a gymnasium id."""
    if ":" not in entry_point:
        return lambda **kwargs: gym.make(entry_point, **kwargs)
    module_name, _, attr = entry_point.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            f"env.entry_point={entry_point!r}: cannot import {module_name!r} ({err}). Put the "
            "module on PYTHONPATH or install its package."
        ) from None
    try:
        return getattr(module, attr)
    except AttributeError:
        raise ConfigError(
            f"env.entry_point={entry_point!r}: {module_name} has no {attr!r}."
        ) from None


@dataclass
class CustomEnvConfig(EnvConfig):
    """``env=custom``: any env with a Dict observation holding a mask, adapted by config only."""

    name: str = "custom"
    entry_point: str = MISSING  # package.module:Class (called with kwargs) or a gymnasium id
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.entry_point or self.entry_point == MISSING:
            raise ConfigError(
                "env=custom needs env.entry_point=package.module:Class (or a gymnasium env id)."
            )

    def env_class(self) -> type:
        return CustomEnv


class CustomEnv(MaskedEnvAdapter):
    """The env named by ``env.entry_point`` behind the adapter (checks, keys, invalid actions)."""

    def __init__(self, config: dict[str, Any]):
        cfg = CustomEnvConfig.from_dict(config)
        env = load_entry_point(cfg.entry_point)(**dict(cfg.kwargs or {}))
        super().__init__(
            env,
            obs_key=cfg.obs_key,
            mask_key=cfg.mask_key,
            embeddings_key=cfg.embeddings_key,
            invalid_action=cfg.invalid_action,
            invalid_penalty=cfg.invalid_penalty,
            max_episode_steps=cfg.max_episode_steps,
            name=cfg.entry_point,
        )
