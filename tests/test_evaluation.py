"""Evaluation episodes (src.evaluation) and their schedule in the train loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from src.algos import build_algo_config
from src.evaluation import Evaluator, module_policy
from src.train import EvaluationSchedule
from tests.conftest import compose_cfg


def env_cfg(**overrides) -> dict:
    cfg = OmegaConf.to_container(compose_cfg([]).env, resolve=True)
    return {**cfg, "invalid_action": "penalty", **overrides}


def first_slot(valid: bool):
    """A stand-in policy: the first valid (or invalid) slot of each row's mask."""

    def act(obs):
        mask = obs["action_mask"]
        return np.argmax(mask if valid else 1 - mask, axis=1)

    return act


def test_returns_invalid_rate_and_lengths_are_counted_per_episode():
    evaluator = Evaluator(env_cfg(max_episode_steps=20), episodes=3)
    out = evaluator.play(first_slot(valid=False))
    # Every step invalid: the cart does not move, each episode runs to its time limit.
    assert out["invalid_action_rate"] == 1.0
    assert out["episode_len_mean"] == 20
    assert out["return_mean"] == pytest.approx(20 * env_cfg()["invalid_penalty"])
    assert out["task_return_mean"] == 0.0  # the penalties are all there is


def test_task_return_counts_the_reward_of_valid_actions_only():
    """Every other step invalid: the return mixes +1s and penalties, the task return is the +1s,
    whatever the penalty."""
    alternate = {"n": 0}

    def act(obs):
        alternate["n"] += 1
        return first_slot(valid=alternate["n"] % 2 == 0)(obs)

    for penalty in (0.0, -1.0):
        evaluator = Evaluator(env_cfg(max_episode_steps=20, invalid_penalty=penalty), episodes=1)
        alternate["n"] = 0
        out = evaluator.play(act)
        valid_steps = out["episode_len_mean"] * (1 - out["invalid_action_rate"])
        assert 0 < valid_steps < out["episode_len_mean"]
        assert out["task_return_mean"] == pytest.approx(valid_steps)
        invalid_steps = out["episode_len_mean"] - valid_steps
        assert out["return_mean"] == pytest.approx(valid_steps + penalty * invalid_steps)


def test_the_same_episode_seeds_every_time_and_a_removed_mask_is_seen_by_the_policy():
    evaluator = Evaluator(env_cfg(), episodes=4)
    first, again = evaluator.play(first_slot(True)), evaluator.play(first_slot(True))
    assert first == again and first["invalid_action_rate"] == 0.0
    # With the mask removed, "the first valid slot" is slot 0 for every row: invalid here.
    blind = evaluator.play(first_slot(True), mask_key="action_mask", remove_mask=True)
    assert blind["invalid_action_rate"] > 0.0


def build_module(algo: str, model: str = "masked"):
    """The module as a run builds it (the algorithm's model config included)."""
    cfg = compose_cfg([f"algo={algo}", f"model={model}"])
    evaluator = Evaluator(OmegaConf.to_container(cfg.env, resolve=True), episodes=5)
    spec = build_algo_config(cfg).get_rl_module_spec(env=evaluator.envs[0])
    return spec.build(), evaluator


def test_policy_modes_of_a_real_module_respect_the_mask_and_leave_training_rng_alone():
    torch.manual_seed(0)
    module, evaluator = build_module("ppo")
    state = torch.get_rng_state()
    greedy = evaluator.play(module_policy(module, greedy=True))
    stochastic = evaluator.play(module_policy(module, greedy=False))
    assert greedy["invalid_action_rate"] == stochastic["invalid_action_rate"] == 0.0
    # The evaluator samples from its own generator: training's random stream is untouched...
    assert torch.equal(state, torch.get_rng_state())
    # ... and the same evaluation gives the same numbers.
    assert evaluator.play(module_policy(module, greedy=False)) == stochastic


def test_dqn_has_a_greedy_policy_only():
    module, evaluator = build_module("dqn")
    assert evaluator.play(module_policy(module, greedy=True))["invalid_action_rate"] == 0.0
    assert evaluator.play(module_policy(module, greedy=False)) is None


def test_evaluation_schedule_fires_once_per_crossed_multiple_and_at_the_end():
    schedule = EvaluationSchedule(10_000)
    fired = [
        s for s in (4_000, 9_999, 10_500, 12_000, 31_000, 33_000, 39_000) if schedule.due(s, False)
    ]
    assert fired == [10_500, 31_000]  # 31k crosses 20k and 30k: one evaluation, not two
    assert schedule.due(39_500, last=True)
    assert not EvaluationSchedule(0).due(50_000, last=False)  # 0: only at the end
    assert EvaluationSchedule(0).due(50_000, last=True)


def test_games_are_scored_by_their_results_and_cartpole_has_none():
    game = OmegaConf.to_container(compose_cfg(["env=tictactoe"]).env, resolve=True)
    evaluator = Evaluator({**game, "opponent": "heuristic", "agent_seat": "second"}, episodes=20)
    out = evaluator.play(first_slot(valid=True))  # the first legal square, every move
    rates = [out[f"{o}_rate"] for o in ("win", "draw", "loss")]
    assert sum(rates) == pytest.approx(1.0)  # every game ended in one of the three
    assert out["unfinished_rate"] == 0.0
    # The heuristic opponent wins, else blocks: a first-free-square player never beats it.
    assert out["win_rate"] == 0.0 and out["loss_rate"] > 0.5
    # Each result matches the game's last reward (+1 win, -1 loss, 0 draw).
    played = evaluator.episodes(first_slot(valid=True))
    assert out["return_mean"] == pytest.approx(
        float(np.mean([{"win": 1, "draw": 0, "loss": -1}[o] for o in played["outcomes"]]))
    )
    assert "win_rate" not in Evaluator(env_cfg(), episodes=2).play(first_slot(valid=True))


def test_games_stalled_by_invalid_moves_count_as_unfinished_not_as_draws():
    """A blind penalty-mode player that only plays occupied squares never ends a game: the time
    limit cuts it, its task return is 0 (a draw's), and the results say it was no draw."""
    game = OmegaConf.to_container(compose_cfg(["env=tictactoe"]).env, resolve=True)
    cfg = {**game, "invalid_action": "penalty", "agent_seat": "second", "max_episode_steps": 6}
    out = Evaluator(cfg, episodes=4).play(first_slot(valid=False))
    assert out["invalid_action_rate"] == 1.0 and out["task_return_mean"] == 0.0
    assert out["unfinished_rate"] == 1.0
    assert out["win_rate"] == out["draw_rate"] == out["loss_rate"] == 0.0
