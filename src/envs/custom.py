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
from typing import Any

import gymnasium as gym

from src.envs.adapters import MaskedEnvAdapter
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


class CustomEnv(MaskedEnvAdapter):
    """The env named by ``env.entry_point`` behind the adapter (checks, keys, invalid actions)."""

    def __init__(self, config: dict[str, Any]):
        entry_point = config.get("entry_point")
        if not entry_point or entry_point == "???":
            raise ConfigError(
                "env=custom needs env.entry_point=package.module:Class (or a gymnasium env id)."
            )
        env = load_entry_point(entry_point)(**dict(config.get("kwargs") or {}))
        super().__init__(
            env,
            obs_key=config["obs_key"],
            mask_key=config["mask_key"],
            embeddings_key=config.get("embeddings_key"),
            invalid_action=config.get("invalid_action", "raise"),
            invalid_penalty=config.get("invalid_penalty", -0.1),
            max_episode_steps=config.get("max_episode_steps"),
            name=entry_point,
        )
