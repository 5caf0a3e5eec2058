"""The ``env`` axis: one ``EnvConfig`` class per ``conf/env/*.yaml`` (``_target_``), in the module of
the gym env it configures (``src/envs/base.py`` has what they share)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from src.errors import ConfigError


def make_env(env_config: dict[str, Any]) -> gym.Env:
    """An env from a resolved ``cfg.env`` (its ``_target_`` names the option's class)."""
    from src.options import import_target

    if "_target_" not in env_config:
        raise ConfigError(
            "make_env needs a resolved cfg.env with its _target_ (conf/env/*.yaml names the class)."
        )
    cls = import_target(env_config["_target_"])
    return cls.from_dict(env_config).make()
