"""The per-episode counts the env runners report, on real RLlib episode objects."""

from __future__ import annotations

import numpy as np
import pytest
from ray.rllib.env.single_agent_episode import SingleAgentEpisode

from src.callbacks import (
    EPISODE_DIAG_STEPS,
    EPISODE_INVALID,
    EPISODE_KL,
    EPISODE_LENGTHS,
    EPISODE_P_INVALID,
    EPISODE_RETURNS,
    EpisodeStatsCallback,
)
from src.metrics import P_INVALID_OUTPUT


class Logger:
    def __init__(self):
        self.values = {}

    def log_value(self, key, value, reduce=None):
        self.values.setdefault(key, []).append(value)


def episode_in_chunks(invalid: list[bool], p: list[float], cut_every: int):
    """An episode stepped with the given invalid flags, cut into chunks as env runners do."""
    chunks, episode = [], SingleAgentEpisode()
    episode.add_env_reset(observation=0, infos={})
    for t, (bad, p_t) in enumerate(zip(invalid, p, strict=True)):
        if t and t % cut_every == 0:
            chunks.append(episode)
            episode = episode.cut()
        episode.add_env_step(
            observation=t + 1,
            action=0,
            reward=-0.1 if bad else 1.0,
            infos={"invalid_action": bad},
            extra_model_outputs={P_INVALID_OUTPUT: np.float32(p_t)},
            terminated=t == len(invalid) - 1,
        )
    return chunks, episode


@pytest.mark.parametrize("cut_every", [1, 2, 3, 100])
def test_each_step_counts_once_however_the_episode_is_chunked(cut_every):
    invalid = [True, True, False, True, False, False, True]
    p = [0.5, 0.5, 0.0, 0.5, 0.0, 0.0, 0.5]
    chunks, last = episode_in_chunks(invalid, p, cut_every)
    logger = Logger()
    EpisodeStatsCallback().on_episode_end(
        episode=last, prev_episode_chunks=chunks, metrics_logger=logger
    )
    assert logger.values[EPISODE_INVALID] == [4]
    assert logger.values[EPISODE_LENGTHS] == [7]
    assert logger.values[EPISODE_RETURNS][0] == pytest.approx(3 - 0.4)
    assert logger.values[EPISODE_P_INVALID][0] == pytest.approx(2.0)
    assert logger.values[EPISODE_KL][0] == pytest.approx(4 * np.log(2.0))
    assert logger.values[EPISODE_DIAG_STEPS] == [7]
