"""Evaluation episodes, separate from training: what the report scores.

Training returns come from the behaviour policy (sampled actions, DQN's epsilon) and lag the
learner; a report that ranks models by them compares exploration as much as policies. So every
``evaluation.every_env_steps`` env steps and at the end of a run, the train loop plays
``evaluation.episodes`` fresh episodes with the current policy, in separate copies of the run's
env (the mask as trained), on the same episode seeds every time, in two modes:

* ``greedy``: the most likely action (DQN: the highest valid Q-value);
* ``stochastic``: an action sampled from the policy's distribution, with the evaluator's own
  random generator (training's random draws are untouched). Policy-gradient models only: DQN's
  epsilon-greedy is exploration, not a policy.

The episodes run side by side: one batched forward pass per step for all of them.
Metric names: ``eval/<mode>/return_mean``, ``.../task_return_mean`` (the return without the
invalid-action penalties: the reward of valid actions only, so penalty baselines with different
penalties compare on the task itself), ``.../invalid_action_rate``, ``.../episode_len_mean``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from src.envs import make_env
from src.metrics import EVAL_MODES, OUTCOMES, UNFINISHED_GAME, eval_key

MAX_STEPS = 10_000  # per episode, in case the env has no time limit
EVAL_SEED = 10_000  # episode i of every evaluation resets with seed EVAL_SEED + i

# obs batch (dict of stacked arrays) -> actions, or None where the policy has no such mode.
Policy = Callable[[dict[str, np.ndarray]], "np.ndarray | None"]


class Evaluator:
    """Plays ``episodes`` episodes of one env config side by side, on fixed episode seeds."""

    def __init__(self, env_cfg: dict[str, Any], episodes: int, seed: int = EVAL_SEED):
        self.env_cfg, self.seed = env_cfg, seed
        self.envs = [make_env(env_cfg) for _ in range(episodes)]
        # Games end in a result (info["outcome"]); other envs have none to count.
        self.game = bool(getattr(self.envs[0], "reports_outcomes", False))

    def play(
        self, policy: Policy, mask_key: str | None = None, remove_mask: bool = False
    ) -> dict[str, float] | None:
        """Mean return, invalid-action rate and episode length; None if the policy declines.

        ``remove_mask``: the policy sees a mask of ones under ``mask_key`` (every action valid).
        """
        played = self.episodes(policy, mask_key, remove_mask)
        if played is None:
            return None
        return {
            "return_mean": float(played["returns"].mean()),
            "task_return_mean": float(played["task_returns"].mean()),
            "invalid_action_rate": float(played["invalid"].sum() / max(played["lengths"].sum(), 1)),
            "episode_len_mean": float(played["lengths"].mean()),
            **(outcome_rates(played["outcomes"]) if self.game else {}),
        }

    def episodes(
        self,
        policy: Policy,
        mask_key: str | None = None,
        remove_mask: bool = False,
        record: bool = False,
    ) -> dict[str, Any] | None:
        """Per episode: return, task return (valid actions' reward), length, invalid actions and
        last reward (a game's outcome).

        ``record``: also ``frames``, the first episode as images (``src.envs.render``): the env's
        own drawing with the step, the action and the env's mask (``mask_key``) below it.
        """
        n = len(self.envs)
        obs = [env.reset(seed=self.seed + i)[0] for i, env in enumerate(self.envs)]
        returns, lengths, invalid = np.zeros(n), np.zeros(n, dtype=int), np.zeros(n, dtype=int)
        task_returns = np.zeros(n)
        outcomes = np.full(n, "", dtype=object)  # a game's result; "" when none was given
        active = np.ones(n, dtype=bool)
        frames = [self._frame(0, None, obs[0][mask_key], False, 0.0)] if record else []
        while active.any():
            idx = np.flatnonzero(active)
            batch = {k: np.stack([obs[i][k] for i in idx]) for k in obs[idx[0]]}
            if remove_mask:
                batch[mask_key] = np.ones_like(batch[mask_key])
            actions = policy(batch)
            if actions is None:
                return None
            for i, action in zip(idx, np.asarray(actions).reshape(-1), strict=True):
                seen = obs[i]
                obs[i], reward, terminated, truncated, info = self.envs[i].step(int(action))
                is_invalid = bool(info.get("invalid_action", False))
                returns[i] += float(reward)
                task_returns[i] += 0.0 if is_invalid else float(reward)
                outcomes[i] = info.get("outcome", outcomes[i])
                lengths[i] += 1
                invalid[i] += is_invalid
                if terminated or truncated or lengths[i] >= MAX_STEPS:
                    active[i] = False
                if record and i == 0:
                    frames.append(
                        self._frame(lengths[0], int(action), seen[mask_key], is_invalid, returns[0])
                    )
        played = {
            "returns": returns,
            "task_returns": task_returns,
            "lengths": lengths,
            "invalid": invalid,
        }
        return {**played, "outcomes": outcomes, **({"frames": frames} if record else {})}

    def _frame(self, step, action, mask, invalid, episode_return) -> np.ndarray:
        from src.envs.render import annotate

        frame = self.envs[0].render()
        return annotate(frame, int(step), action, mask, invalid, float(episode_return))

    def close(self) -> None:
        for env in self.envs:
            env.close()


def outcome_rates(outcomes: np.ndarray) -> dict[str, float]:
    """A game's win / draw / loss rates over its episodes, and the rate of games without a
    result (cut by the time limit, or ended by an invalid action): the four sum to 1. A game the
    agent stalls with invalid moves scores 0 task return, as a draw does: this rate tells them
    apart."""
    rates = {f"{o}_rate": float(np.mean(outcomes == o)) for o in OUTCOMES}
    return {**rates, f"{UNFINISHED_GAME}_rate": float(np.mean(outcomes == ""))}


# -- policies: a trained model, by framework ------------------------------------------------------
def module_policy(module, greedy: bool, seed: int = EVAL_SEED) -> Policy:
    """A torch RLModule (new API stack). DQN's module returns its greedy actions itself."""
    import torch
    from ray.rllib.core.columns import Columns

    generator = torch.Generator().manual_seed(seed)

    def act(obs: dict[str, np.ndarray]) -> np.ndarray | None:
        batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}}
        with torch.no_grad():
            out = module.forward_inference(batch)
        if Columns.ACTIONS in out:  # a Q-learner: greedy is its only policy
            return np.asarray(out[Columns.ACTIONS]).reshape(-1) if greedy else None
        logits = out[Columns.ACTION_DIST_INPUTS]
        if greedy:
            return torch.argmax(logits, dim=-1).numpy()
        probs = torch.softmax(logits.double(), dim=-1)
        return torch.multinomial(probs, 1, generator=generator).reshape(-1).numpy()

    return act


def old_stack_policy(algo, greedy: bool) -> Policy:
    """framework=tf2: the old API stack's Policy, fed the flattened Dict observation it expects."""
    from ray.rllib.models.preprocessors import get_preprocessor

    policy = algo.get_policy()
    space = getattr(policy.observation_space, "original_space", policy.observation_space)
    prep = get_preprocessor(space)(space)

    def act(obs: dict[str, np.ndarray]) -> np.ndarray:
        n = len(next(iter(obs.values())))
        flat = np.stack([prep.transform({k: v[i] for k, v in obs.items()}) for i in range(n)])
        actions, _, _ = policy.compute_actions(flat, explore=not greedy)
        return np.asarray(actions)

    return act


def algo_policy(algo, greedy: bool) -> Policy:
    """The policy of a built RLlib Algorithm, whichever API stack it runs on."""
    if algo.config.enable_rl_module_and_learner:
        return module_policy(algo.get_module(), greedy)
    return old_stack_policy(algo, greedy)


def evaluate(algo, evaluator: Evaluator, modes: tuple[str, ...] = EVAL_MODES) -> dict[str, float]:
    """``eval/<mode>/*`` for each mode the policy has."""
    out = {}
    for mode in modes:
        stats = evaluator.play(algo_policy(algo, greedy=mode == "greedy"))
        for stat, value in (stats or {}).items():
            out[eval_key(mode, stat)] = value
    return out
