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
* ``per_step_mask`` the opposite case, a real game's: every slot *means* one thing for good
                   (half of them LEFT, half RIGHT, assigned once from ``layout_seed``), and
                   which of them are valid changes at every step (one LEFT slot and one RIGHT
                   slot, drawn anew). The mask is enough to act well, but a policy blind to it
                   hits a valid slot with probability 2/N: where masking should matter most
                   as N grows (Huang & Ontanon 2020's setting: legal moves change with the state).

``invalid_action`` decides what an action outside the mask does:

* ``raise``     ValueError, with the seeds' message (the masked models must never trigger it);
* ``penalty``   reward ``invalid_penalty``; the cart does not move, but the step counts towards
                the time limit, so an episode of invalid actions still ends;
* ``terminate`` reward ``invalid_penalty`` and the episode ends.

Every step's ``info`` carries ``invalid_action`` (bool) so runs can count them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from src.envs.base import EnvConfig
from src.errors import ConfigError

LAYOUTS = ("fixed", "per_instance", "per_episode", "per_step", "per_step_mask")
REDRAWN_EVERY_STEP = ("per_step", "per_step_mask")
INVALID_ACTION_ERROR = "Chosen action was not one of the non-zero action embeddings"


@dataclass
class ParametricCartPoleConfig(EnvConfig):
    """``env=parametric_cartpole``: the seeds' ParametricActionsCartPole (the default env)."""

    name: str = "parametric_cartpole"
    max_avail_actions: int = 6  # N action slots; LEFT and RIGHT sit in two of them
    # fixed | per_instance | per_episode | per_step | per_step_mask: where LEFT/RIGHT sit
    layout: str = "fixed"
    layout_seed: int = 0  # draws the slots of the fixed layout and the LEFT/RIGHT embeddings
    embeddings: bool = True  # publish action embeddings (harmless to models that ignore them)
    embed_dim: int = 4
    max_episode_steps: int | None = 500
    embeddings_key: str | None = "avail_actions"
    min_return: float | None = 0.0
    max_return: float | None = "${.max_episode_steps}"  # type: ignore[assignment]
    solved_return: float | None = 475.0  # CartPole-v1's "solved"
    return_thresholds: list[float] = field(default_factory=lambda: [150.0, 400.0, 450.0])

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_avail_actions < 2:
            raise ConfigError(
                f"env.max_avail_actions={self.max_avail_actions}: LEFT and RIGHT need two slots, "
                "set it to 2 or more."
            )
        if self.layout not in LAYOUTS:
            raise ConfigError(f"env.layout={self.layout!r} is not one of {LAYOUTS}.")

    def env_class(self) -> type:
        return ParametricCartPole


class ParametricCartPole(gym.Env):
    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}
    render_mode = "rgb_array"

    def __init__(self, config: dict[str, Any] | None = None):
        cfg = ParametricCartPoleConfig.from_dict(config)
        self.max_avail_actions = int(cfg.max_avail_actions)
        self.layout, self.layout_seed = cfg.layout, int(cfg.layout_seed)
        self.invalid_action, self.invalid_penalty = cfg.invalid_action, float(cfg.invalid_penalty)
        self.embeddings, self.embed_dim = bool(cfg.embeddings), int(cfg.embed_dim)
        self.max_episode_steps = int(cfg.max_episode_steps or 500)
        self.mask_key, self.obs_key = cfg.mask_key, cfg.obs_key
        self.embeddings_key = cfg.embeddings_key

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

        # per_step_mask: what each slot means, for good (0 LEFT, 1 RIGHT; as many of each as N
        # allows); the same in every instance, like the embeddings.
        meaning_rng = np.random.default_rng(self.layout_seed + 20_011)
        self.slot_meaning = meaning_rng.permutation(np.arange(n) % 2)

        # Per-instance randomness; reseeded by reset(seed=...).
        self.np_random, _ = gym.utils.seeding.np_random((config or {}).get("seed"))
        layout_rng = (
            np.random.default_rng(self.layout_seed) if self.layout == "fixed" else self.np_random
        )
        self.left_idx, self.right_idx = self._draw_slots(layout_rng)
        self._steps = 0
        self._state_obs: np.ndarray | None = None
        self._push: int | None = None  # how the last valid action pushed the cart (render)

    def _draw_slots(self, rng: np.random.Generator) -> tuple[int, int]:
        if self.layout == "per_step_mask":  # one slot that means LEFT, one that means RIGHT
            left = rng.choice(np.flatnonzero(self.slot_meaning == 0))
            right = rng.choice(np.flatnonzero(self.slot_meaning == 1))
            return int(left), int(right)
        left, right = rng.choice(self.max_avail_actions, size=2, replace=False)
        return int(left), int(right)

    # -- gymnasium API --------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        if self.layout == "per_instance" and seed is not None:
            # Seeding an instance fixes its layout too, so seeded runs are reproducible.
            self.left_idx, self.right_idx = self._draw_slots(self.np_random)
        if self.layout in ("per_episode", *REDRAWN_EVERY_STEP):
            self.left_idx, self.right_idx = self._draw_slots(self.np_random)
        cart_obs, _ = self.cartpole.reset(seed=int(self.np_random.integers(2**31)))
        self._state_obs = cart_obs
        self._steps, self._push = 0, None
        return self._obs(), {"invalid_action": False}

    def step(self, action):
        action = int(action)
        if not 0 <= action < self.max_avail_actions:
            raise ValueError(f"action {action} is outside Discrete({self.max_avail_actions}).")
        self._steps += 1
        truncated = self._steps >= self.max_episode_steps
        if action in (self.left_idx, self.right_idx):
            cart_action = self._push = 0 if action == self.left_idx else 1
            cart_obs, reward, terminated, _, _ = self.cartpole.step(cart_action)
            self._state_obs = cart_obs
            invalid = False
        else:
            if self.invalid_action == "raise":
                raise ValueError(
                    INVALID_ACTION_ERROR, action, self.action_mask(), self.left_idx, self.right_idx
                )
            reward, invalid, self._push = self.invalid_penalty, True, None
            terminated = self.invalid_action == "terminate"
        if self.layout in REDRAWN_EVERY_STEP:
            self.left_idx, self.right_idx = self._draw_slots(self.np_random)
        return (
            self._obs(),
            float(reward),
            bool(terminated),
            bool(truncated and not terminated),
            {"invalid_action": invalid},
        )

    def render(self) -> np.ndarray:
        """The cart and pole, with an arrow for the way the last action pushed (none after an
        invalid one); the evaluator's caption shows which slot that was."""
        from src.envs.render import cartpole

        return cartpole(self.cartpole.state, self._push, self.cartpole.x_threshold)

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
