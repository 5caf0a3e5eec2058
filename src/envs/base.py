"""What every env option shares (``conf/env/*.yaml``'s classes derive from ``EnvConfig``)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from omegaconf import MISSING

from src.errors import ConfigError
from src.options import Option

INVALID_ACTION_MODES = ("raise", "penalty", "terminate")


@dataclass
class EnvConfig(Option):
    """An env option: its settings, the gym env class they configure, and the checks.

    The env class receives ``as_dict()`` (RLlib's ``env_config``) and reads it back through
    ``from_dict``, so each default is written here, once."""

    name: str = MISSING
    # What an action outside the mask does: raise (ValueError; masked models must never trigger
    # it) | penalty (reward invalid_penalty, nothing else happens) | terminate (penalty, and the
    # episode ends).
    invalid_action: str = "raise"
    invalid_penalty: float = -0.1
    max_episode_steps: int | None = None  # bounds an episode of invalid actions in penalty mode
    # Where models find things in the Dict observation.
    obs_key: str = "observations"
    mask_key: str = "action_mask"
    embeddings_key: str | None = None  # null: the env publishes none (model=embedding learns)
    # The return range, if known (the report's margin of practical equivalence, normalised areas).
    min_return: float | None = None
    max_return: float | None = None
    solved_return: float | None = None  # stop.target_return: the rolling mean that counts as solved
    return_thresholds: list[float] = field(default_factory=list)  # summary.json: steps to each

    @classmethod
    def from_dict(cls, config: dict[str, Any] | None) -> EnvConfig:
        """The env's view of its config: known keys from ``config``, the defaults for the rest."""
        config = dict(config or {})
        known = {f.name for f in fields(cls)} - {"_target_"}
        return cls(**{k: v for k, v in config.items() if k in known})

    def __post_init__(self) -> None:
        if self.invalid_action not in INVALID_ACTION_MODES:
            raise ConfigError(
                f"env.invalid_action={self.invalid_action!r}: choose one of {INVALID_ACTION_MODES}."
            )

    def env_class(self) -> type:
        """The gym env class, constructed with ``as_dict()``."""
        raise NotImplementedError

    def make(self):
        return self.env_class()(self.as_dict())

    def check(self, axes) -> None:
        """The model builds an env and checks its spaces (``Model.check``)."""
