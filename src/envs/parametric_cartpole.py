"""ParametricActionsCartPole, done properly: the env from the seed threads, on gymnasium.

CartPole's two actions (LEFT, RIGHT) are hidden among ``max_avail_actions`` slots. The
observation is a Dict::

    {"action_mask":   (N,) float32, 1.0 on the two valid slots,
     "observations":  (4,) the CartPole state,
     "avail_actions": (N, embed_dim), only when ``embeddings=True``: the valid slots carry
                      the LEFT / RIGHT embeddings, every other slot a random distractor}

``layout`` decides where LEFT and RIGHT sit, and so how much the mask alone tells a policy:

* ``fixed``        the same two slots in every instance and episode (from ``layout_seed``):
                   the mask is enough to act well.
* ``per_instance`` drawn once per env instance, as in the seed threads.
* ``per_episode``  redrawn at every reset;
* ``per_step``     redrawn at every step, as in RLlib's ParametricActionsCartPole.
                   In the last two the mask says *which* two slots are valid but not which of
                   them is LEFT: a mask-only policy is at chance; only embeddings tell.

``invalid_action`` decides what an action outside the mask does:

* ``raise``     ValueError, with the seeds' message (the masked models must never trigger it);
* ``penalty``   reward ``invalid_penalty``; the cart does not move, but the step counts towards
                the time limit, so an episode of invalid actions still ends;
* ``terminate`` reward ``invalid_penalty`` and the episode ends.

Every step's ``info`` carries ``invalid_action`` (bool) so runs can count them.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from src.envs.adapters import INVALID_ACTION_MODES
from src.errors import ConfigError

LAYOUTS = ("fixed", "per_instance", "per_episode", "per_step")
INVALID_ACTION_ERROR = "Chosen action was not one of the non-zero action embeddings"


class ParametricCartPole(gym.Env):
    metadata = {"render_modes": []}

    def __init__(self, config: dict[str, Any] | None = None):
        cfg = dict(config or {})
        self.max_avail_actions = int(cfg.get("max_avail_actions", 6))
        self.layout = cfg.get("layout", "fixed")
        self.layout_seed = int(cfg.get("layout_seed", 0))
        self.invalid_action = cfg.get("invalid_action", "raise")
        self.invalid_penalty = float(cfg.get("invalid_penalty", -0.1))
        self.embeddings = bool(cfg.get("embeddings", False))
        self.embed_dim = int(cfg.get("embed_dim", 4))
        self.max_episode_steps = int(cfg.get("max_episode_steps", 500))
        self.mask_key = cfg.get("mask_key", "action_mask")
        self.obs_key = cfg.get("obs_key", "observations")
        self.embeddings_key = cfg.get("embeddings_key", "avail_actions")
        self._check_config()

        self.cartpole = gym.make("CartPole-v1", max_episode_steps=self.max_episode_steps).unwrapped
        n = self.max_avail_actions
        self.action_space = spaces.Discrete(n)
        obs_spaces = {
            self.mask_key: spaces.Box(0.0, 1.0, shape=(n,), dtype=np.float32),
            self.obs_key: self.cartpole.observation_space,
        }
        if self.embeddings:
            obs_spaces[self.embeddings_key] = spaces.Box(
                -1.0,
                1.0,
                shape=(n, self.embed_dim),
                dtype=np.float32,  # unit vectors
            )
        self.observation_space = spaces.Dict(obs_spaces)

        # LEFT and RIGHT embeddings are the same in every instance (they are what the action
        # *means*); drawn from the layout seed and normalised so that they are far apart.
        emb_rng = np.random.default_rng(self.layout_seed + 10_007)
        lr_emb = emb_rng.normal(size=(2, self.embed_dim))
        self.left_right_embeddings = (
            lr_emb / np.linalg.norm(lr_emb, axis=1, keepdims=True)
        ).astype(np.float32)

        # Per-instance randomness; reseeded by reset(seed=...).
        self.np_random, _ = gym.utils.seeding.np_random(cfg.get("seed"))
        layout_rng = (
            np.random.default_rng(self.layout_seed) if self.layout == "fixed" else self.np_random
        )
        self.left_idx, self.right_idx = self._draw_slots(layout_rng)
        self._steps = 0
        self._state_obs: np.ndarray | None = None

    # -- configuration ------------------------------------------------------------------
    def _check_config(self) -> None:
        if self.max_avail_actions < 2:
            raise ConfigError(
                f"env.max_avail_actions={self.max_avail_actions}: LEFT and RIGHT need two slots, "
                "set it to 2 or more."
            )
        if self.layout not in LAYOUTS:
            raise ConfigError(f"env.layout={self.layout!r} is not one of {LAYOUTS}.")
        if self.invalid_action not in INVALID_ACTION_MODES:
            raise ConfigError(
                f"env.invalid_action={self.invalid_action!r} is not one of {INVALID_ACTION_MODES}."
            )

    def _draw_slots(self, rng: np.random.Generator) -> tuple[int, int]:
        left, right = rng.choice(self.max_avail_actions, size=2, replace=False)
        return int(left), int(right)

    # -- gymnasium API --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.layout == "per_instance" and seed is not None:
            # Seeding an instance fixes its layout too, so seeded runs are reproducible.
            self.left_idx, self.right_idx = self._draw_slots(self.np_random)
        if self.layout in ("per_episode", "per_step"):
            self.left_idx, self.right_idx = self._draw_slots(self.np_random)
        cart_obs, _ = self.cartpole.reset(seed=int(self.np_random.integers(2**31)))
        self._state_obs = cart_obs
        self._steps = 0
        return self._obs(), {"invalid_action": False}

    def step(self, action):
        action = int(action)
        if not 0 <= action < self.max_avail_actions:
            raise ValueError(f"action {action} is outside Discrete({self.max_avail_actions}).")
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        if action in (self.left_idx, self.right_idx):
            cart_action = 0 if action == self.left_idx else 1
            cart_obs, reward, terminated, _, _ = self.cartpole.step(cart_action)
            self._state_obs = cart_obs
            invalid = False
        else:
            if self.invalid_action == "raise":
                raise ValueError(
                    INVALID_ACTION_ERROR, action, self.action_mask(), self.left_idx, self.right_idx
                )
            reward, invalid = self.invalid_penalty, True
            terminated = self.invalid_action == "terminate"
        if self.layout == "per_step":
            self.left_idx, self.right_idx = self._draw_slots(self.np_random)
        return (
            self._obs(),
            float(reward),
            bool(terminated),
            bool(truncated and not terminated),
            {"invalid_action": invalid},
        )

    # -- observation ------------------------------------------------------------------------
    def action_mask(self) -> np.ndarray:
        mask = np.zeros(self.max_avail_actions, dtype=np.float32)
        mask[[self.left_idx, self.right_idx]] = 1.0
        return mask

    def _obs(self) -> dict[str, np.ndarray]:
        obs = {
            self.mask_key: self.action_mask(),
            self.obs_key: np.asarray(self._state_obs, dtype=np.float32),
        }
        if self.embeddings:
            emb = self.np_random.normal(size=(self.max_avail_actions, self.embed_dim))
            emb /= np.linalg.norm(emb, axis=1, keepdims=True)
            emb[self.left_idx] = self.left_right_embeddings[0]
            emb[self.right_idx] = self.left_right_embeddings[1]
            obs[self.embeddings_key] = emb.astype(np.float32)
        return obs
