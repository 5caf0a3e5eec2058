"""Envs that go wrong after they have run a while (tests/test_errors.py): a mask that turns
all-zero mid-episode, and a simulator that raises."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class _Counting(gym.Env):
    """Two actions, both valid, an episode of 50 steps; ``fail_after`` steps of this instance
    in all, ``fail`` happens."""

    def __init__(self, fail_after: int = 300):
        self.observation_space = spaces.Dict(
            {
                "observations": spaces.Box(-1, 1, (3,), np.float32),
                "action_mask": spaces.Box(0, 1, (2,), np.float32),
            }
        )
        self.action_space = spaces.Discrete(2)
        self.fail_after, self.steps, self.t = fail_after, 0, 0

    def obs(self, mask):
        return {"observations": np.zeros(3, np.float32), "action_mask": mask}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.obs(np.ones(2, np.float32)), {}

    def step(self, action):
        self.steps, self.t = self.steps + 1, self.t + 1
        mask = np.ones(2, np.float32)
        if self.steps >= self.fail_after:
            mask = self.fail()
        return self.obs(mask), 1.0, self.t >= 50, False, {}

    def fail(self):
        raise NotImplementedError


class MaskGoesAllZero(_Counting):
    def fail(self):
        return np.zeros(2, np.float32)


class Raises(_Counting):
    def fail(self):
        raise ValueError("the simulator lost its connection")
