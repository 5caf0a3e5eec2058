"""A stand-in for the old ``gym`` package (< 0.26) that the forum threads' envs import.

Real gym 0.25 cannot run here: its env checker uses ``np.bool8``, gone in NumPy 2. This shim
gives the same *old* API over gymnasium: ``gym.make(...).reset()`` returns the observation only
and ``step`` returns ``(obs, reward, done, info)``, so ``forum_envs.py`` runs as the users wrote
it, and maskbench's adapter has to deal with the old API itself.
"""

import gymnasium
from gymnasium import Env

from . import spaces

__all__ = ["Env", "make", "spaces"]


class _OldStepAPI:
    def __init__(self, env):
        self.env = env
        self.observation_space = env.observation_space
        self.action_space = env.action_space

    def reset(self):
        obs, _ = self.env.reset()
        return obs

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated or truncated, info


def make(env_id, **kwargs):
    return _OldStepAPI(gymnasium.make(env_id, **kwargs))
