"""Any env with a masked Dict observation -> what every maskbench model expects.

``MaskedEnvAdapter`` wraps an env (gymnasium, or the old gym API of the forum threads: ``reset``
returning the observation only, ``step`` returning 4 values, ``gym.spaces``) and

* checks it at construction: a Discrete action space, a Dict observation holding the mask (and
  the features, and the embeddings when named), a mask of shape ``(n,)`` with a 0/1 dtype; every
  problem is a ``ConfigError`` that names the fix;
* returns observations with exactly those keys (same names): features flattened to float32, the
  mask as float32 0/1, the embeddings as float32 ``(n, dim)``;
* applies the repo's ``invalid_action`` modes *before* the wrapped env sees an action: ``raise``
  (a clear error instead of whatever the env would do), ``penalty`` (the env does not move; reward
  ``invalid_penalty``; the step counts towards ``max_episode_steps``) or ``terminate``;
* reports ``info["invalid_action"]`` on every step, as the built-in env does.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from src.errors import ConfigError


class InvalidActionError(RuntimeError):
    """An action the mask marks invalid reached the env in ``invalid_action=raise`` mode."""


def to_gymnasium_space(space: Any) -> spaces.Space:
    """A ``gym.spaces`` (old gym) space as the gymnasium space RLlib expects; others unchanged."""
    if isinstance(space, spaces.Space):
        return space
    kind = type(space).__name__
    if kind == "Dict":
        return spaces.Dict({k: to_gymnasium_space(v) for k, v in space.spaces.items()})
    if kind == "Box":
        return spaces.Box(space.low, space.high, shape=space.shape, dtype=space.dtype)
    if kind == "Discrete":
        return spaces.Discrete(int(space.n))
    if kind == "MultiBinary":
        return spaces.MultiBinary(space.n)
    raise ConfigError(f"Cannot read the env's {kind} space ({space}): use gymnasium spaces.")


def _mask_space_problem(space: spaces.Space, n: int) -> str | None:
    if isinstance(space, spaces.MultiBinary):
        shape = tuple(np.atleast_1d(space.n))
    elif isinstance(space, spaces.Box):
        shape = space.shape
        if not (np.issubdtype(space.dtype, np.number) or space.dtype == np.bool_):
            return f"has dtype {space.dtype}; it needs a numeric or bool dtype holding 0/1"
        if np.any(space.low > 0) or np.any(space.high < 1):
            return f"has bounds [{space.low.min()}, {space.high.max()}]; a mask holds 0 and 1"
    else:
        return f"is a {type(space).__name__} space; it needs Box(0, 1, ({n},)) or MultiBinary({n})"
    if tuple(shape) != (n,):
        return f"has shape {tuple(shape)} but the action space is Discrete({n}); it needs ({n},)"
    return None


class MaskedEnvAdapter(gym.Env):
    metadata = {"render_modes": ["rgb_array"]}
    render_mode = "rgb_array"

    def __init__(
        self,
        env: Any,
        *,
        obs_key: str,
        mask_key: str,
        embeddings_key: str | None,
        invalid_action: str,
        invalid_penalty: float,
        max_episode_steps: int | None,
        name: str,
    ):
        """Every setting comes from the env's config (src/envs/base.py holds the defaults)."""
        self.env = env
        self.obs_key, self.mask_key, self.embeddings_key = obs_key, mask_key, embeddings_key
        self.invalid_action, self.invalid_penalty = invalid_action, float(invalid_penalty)
        self.max_episode_steps = max_episode_steps
        self.name = name
        self.action_space = to_gymnasium_space(env.action_space)
        self.observation_space = self._check_and_build_space(
            to_gymnasium_space(env.observation_space)
        )
        self._last_obs: dict[str, np.ndarray] | None = None
        self._steps = 0

    # -- construction-time checks ---------------------------------------------------------------
    def _check_and_build_space(self, space: spaces.Space) -> spaces.Dict:
        if not isinstance(self.action_space, spaces.Discrete):
            raise ConfigError(
                f"{self.name} has the action space {self.action_space}; masking needs "
                "Discrete(n), one mask entry per action. Wrap the env to flatten its actions."
            )
        n = int(self.action_space.n)
        if not isinstance(space, spaces.Dict):
            raise ConfigError(
                f"{self.name} observes {space}, not a Dict: there is no action mask to read. "
                f"Return {{{self.mask_key!r}: mask, {self.obs_key!r}: features}} from reset/step."
            )
        keys = list(space.spaces)
        named = {"env.obs_key": self.obs_key, "env.mask_key": self.mask_key}
        if self.embeddings_key is not None:
            named["env.embeddings_key"] = self.embeddings_key
        for option, key in named.items():
            if key not in space.spaces:
                raise ConfigError(
                    f"{self.name}'s observation has no {key!r} entry ({option}); its keys are "
                    f"{keys}. Set `{option}=<key>` to the key the env uses."
                )
        problem = _mask_space_problem(space[self.mask_key], n)
        if problem:
            raise ConfigError(f"{self.name}'s action mask {self.mask_key!r} {problem}.")
        features = space[self.obs_key]
        if not isinstance(features, spaces.Box):
            raise ConfigError(
                f"{self.name}'s features {self.obs_key!r} are {features}; maskbench models read "
                "a Box (any shape, flattened). Encode other spaces as a Box first."
            )
        out = {
            self.obs_key: spaces.Box(-np.inf, np.inf, (int(np.prod(features.shape)),), np.float32),
            self.mask_key: spaces.Box(0.0, 1.0, (n,), np.float32),
        }
        if self.embeddings_key is not None:
            emb = space[self.embeddings_key]
            if not isinstance(emb, spaces.Box) or len(emb.shape) != 2 or emb.shape[0] != n:
                raise ConfigError(
                    f"{self.name}'s embeddings {self.embeddings_key!r} are {emb}; they need a "
                    f"Box of shape ({n}, embed_dim), one row per action."
                )
            out[self.embeddings_key] = spaces.Box(-np.inf, np.inf, emb.shape, np.float32)
        return spaces.Dict(out)

    # -- observations -----------------------------------------------------------------------------
    def _convert(self, obs: Any, final: bool = False) -> dict[str, np.ndarray]:
        if not isinstance(obs, dict) or self.mask_key not in obs:
            raise ConfigError(
                f"{self.name} returned an observation without {self.mask_key!r} "
                f"(got {type(obs).__name__}); every observation must carry the mask."
            )
        mask = np.asarray(obs[self.mask_key], dtype=np.float32).reshape(-1)
        n = int(self.action_space.n)
        if mask.shape != (n,):
            raise ConfigError(
                f"{self.name} returned a mask of shape {mask.shape}; Discrete({n}) needs ({n},)."
            )
        if not np.isin(mask, (0.0, 1.0)).all():
            raise ConfigError(f"{self.name} returned a mask with values other than 0/1: {mask}.")
        if not mask.any() and not final:  # a finished game may leave no legal move
            raise ConfigError(
                f"{self.name} returned a mask with every action invalid: no policy can act. "
                "End the episode instead, or leave at least one action valid."
            )
        out = {
            self.obs_key: np.asarray(obs[self.obs_key], dtype=np.float32).reshape(-1),
            self.mask_key: mask,
        }
        if self.embeddings_key is not None:
            out[self.embeddings_key] = np.asarray(obs[self.embeddings_key], dtype=np.float32)
        return out

    # -- gymnasium API ----------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        try:
            result = self.env.reset(seed=seed, options=options)
        except TypeError:  # old gym API: reset() takes no seed
            if seed is not None and hasattr(self.env, "seed"):
                self.env.seed(seed)
            result = self.env.reset()
        new_api = isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], dict)
        obs, info = result if new_api else (result, {})
        self._last_obs, self._steps = self._convert(obs), 0
        return self._last_obs, dict(info)

    def step(self, action):
        action = int(action)
        self._steps += 1
        truncated_by_limit = (
            self.max_episode_steps is not None and self._steps >= self.max_episode_steps
        )
        mask = self._last_obs[self.mask_key]
        if not mask[action]:
            if self.invalid_action == "raise":
                raise InvalidActionError(
                    f"Action {action} is invalid under the mask {mask.astype(int).tolist()} "
                    f"({self.name}). A model that ignores the mask needs "
                    "env.invalid_action=penalty (or terminate); or use model=masked."
                )
            terminated = self.invalid_action == "terminate"
            return (
                self._last_obs,
                self.invalid_penalty,
                terminated,
                truncated_by_limit and not terminated,
                {"invalid_action": True},
            )
        result = self.env.step(action)
        if len(result) == 4:  # old gym API: done covers both endings
            obs, reward, done, info = result
            terminated, truncated = bool(done), False
        else:
            obs, reward, terminated, truncated, info = result
        truncated = bool(truncated) or (truncated_by_limit and not terminated)
        self._last_obs = self._convert(obs, final=bool(terminated) or truncated)
        return (
            self._last_obs,
            float(reward),
            bool(terminated),
            truncated,
            {
                **dict(info),
                "invalid_action": False,
            },
        )

    def render(self) -> np.ndarray:
        """The wrapped env's ``rgb_array`` frame (``src.evaluate --record``)."""
        try:
            frame = self.env.render()
        except (AttributeError, NotImplementedError):  # no render(), or gymnasium's stub
            frame = None
        if not isinstance(frame, np.ndarray) or frame.ndim != 3:
            raise ConfigError(
                f"{self.name} gives no image to record (render() returned "
                f"{type(frame).__name__}): create it with render_mode='rgb_array' (env.kwargs) "
                "so that render() returns an RGB array, or evaluate without --record."
            )
        return frame

    def close(self):
        if hasattr(self.env, "close"):
            self.env.close()
