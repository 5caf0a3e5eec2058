"""The train loop's bookkeeping, on hand-made RLlib results."""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from src.callbacks import EPISODE_INVALID, EPISODE_LENGTHS, EPISODE_RETURNS
from src.train import EpisodeWindow, iteration_row, stop_reason


def result(returns, lengths, invalid, lifetime=1000, sampled=500, sample_time=0.25):
    return {
        "env_runners": {
            "num_env_steps_sampled_lifetime": lifetime,
            "num_env_steps_sampled": sampled,
            "sample": sample_time,
            EPISODE_RETURNS: returns,
            EPISODE_LENGTHS: lengths,
            EPISODE_INVALID: invalid,
        },
        "learners": {
            "__all_modules__": {"num_env_steps_trained": 500},
            "default_policy": {"policy_loss": -0.5, "entropy": 0.6, "note": "text"},
        },
    }


def test_rolling_mean_covers_the_last_window_episodes_only():
    window = EpisodeWindow(3)
    window.add([10.0, 20.0], [10, 20], [0, 0])
    assert window.return_mean == 15.0 and not window.full
    window.add([30.0, 40.0], [30, 40], [0, 0])
    assert window.return_mean == 30.0 and window.full and window.episodes == 4


def test_row_counts_invalid_actions_and_their_rate():
    window = EpisodeWindow(100)
    row = iteration_row(result([5.0, 7.0], [10, 30], [4, 6]), window, 1, 2.0, 0.5)
    assert row["charts/invalid_actions"] == 10
    assert row["charts/invalid_action_rate"] == pytest.approx(10 / 40)
    assert row["charts/episode_len_mean"] == 20
    row = iteration_row(result([9.0], [10], [1], lifetime=2000), window, 2, 3.0, 0.5)
    assert row["charts/invalid_actions_total"] == 11 and row["charts/episodes"] == 3
    assert row["env_steps"] == 2000
    assert row["charts/episode_return_mean"] == pytest.approx(7.0)


def test_row_has_throughput_and_learner_stats():
    row = iteration_row(result([1.0], [1], [0]), EpisodeWindow(10), 1, 1.0, 0.5)
    assert row["perf/env_steps_per_s"] == 1000.0
    assert row["perf/sample_env_steps_per_s"] == 2000.0
    assert row["learner/policy_loss"] == -0.5 and row["learner/entropy"] == 0.6
    assert "learner/note" not in row and "learner/num_env_steps_trained" not in row


@pytest.mark.parametrize("empty", [math.nan, [], None])
def test_an_iteration_without_finished_episodes_changes_nothing(empty):
    window = EpisodeWindow(10)
    iteration_row(result([4.0], [4], [1]), window, 1, 1.0, 0.5)
    row = iteration_row(result(empty, empty, empty), window, 2, 2.0, 0.5)
    assert row["charts/invalid_actions"] == 0 and row["charts/invalid_action_rate"] is None
    assert row["charts/episode_return_mean"] == 4.0 and window.episodes == 1


def test_stop_reasons():
    stop = OmegaConf.create({"env_steps": 1000, "target_return": 100.0, "time_s": 60})
    window = EpisodeWindow(2)
    window.add([150.0], [150], [0])
    assert stop_reason({"env_steps": 10, "wall_time_s": 1}, window, stop) is None  # window not full
    window.add([90.0], [90], [0])
    assert stop_reason({"env_steps": 10, "wall_time_s": 1}, window, stop) == "target_return"
    window.add([10.0], [10], [0])
    assert stop_reason({"env_steps": 1000, "wall_time_s": 1}, window, stop) == "env_steps"
    assert stop_reason({"env_steps": 10, "wall_time_s": 60}, window, stop) == "time"
    stop.target_return = None
    window.add([1e6, 1e6], [1, 1], [0, 0])
    assert stop_reason({"env_steps": 10, "wall_time_s": 1}, window, stop) is None
