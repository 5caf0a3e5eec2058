""" "Masking removed": how a trained agent acts when its mask is taken away.

``evaluate(module, env_cfg, ...)`` plays greedy episodes in the penalty version of the run's env
twice: with the mask as trained, and with the mask replaced by all ones, which turns every
masked model into its unmasked network (``logits + log(1) = logits``). The gap shows how much of
the policy lives in the mask: a masked agent whose network never learned to avoid invalid
actions sends many of them once the mask is gone. Torch (new API stack) modules only.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from ray.rllib.core.columns import Columns

from src.envs import make_env

MAX_STEPS = 10_000  # per episode, in case the env has no time limit


def greedy_action(module, obs: dict[str, np.ndarray]) -> int:
    batch = {Columns.OBS: {k: torch.as_tensor(v)[None] for k, v in obs.items()}}
    with torch.no_grad():
        out = module.forward_inference(batch)
    if Columns.ACTIONS in out:  # DQN acts greedily itself
        return int(np.asarray(out[Columns.ACTIONS]).reshape(-1)[0])
    return int(torch.argmax(out[Columns.ACTION_DIST_INPUTS], dim=-1)[0])


def play(module, env, episodes: int, seed: int, remove_mask: bool) -> dict[str, float]:
    mask_key = module.head_spec.mask_key
    returns, steps, invalid = [], 0, 0
    for i in range(episodes):
        obs, _ = env.reset(seed=seed + i)
        done, ret, t = False, 0.0, 0
        while not done and t < MAX_STEPS:
            seen = {**obs, mask_key: np.ones_like(obs[mask_key])} if remove_mask else obs
            obs, reward, terminated, truncated, info = env.step(greedy_action(module, seen))
            ret, t, done = ret + float(reward), t + 1, terminated or truncated
            invalid += bool(info.get("invalid_action", False))
        returns.append(ret)
        steps += t
    return {"return_mean": float(np.mean(returns)), "invalid_action_rate": invalid / max(steps, 1)}


def evaluate(
    module, env_cfg: dict[str, Any], episodes: int, seed: int = 10_000
) -> dict[str, float]:
    """``eval/masked/*`` and ``eval/mask_removed/*`` (return mean, invalid-action rate)."""
    env = make_env({**env_cfg, "invalid_action": "penalty"})
    try:
        out = {}
        for name, remove in (("masked", False), ("mask_removed", True)):
            for key, value in play(module, env, episodes, seed, remove).items():
                out[f"eval/{name}/{key}"] = value
        return out
    finally:
        env.close()
