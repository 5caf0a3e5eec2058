"""Per-episode numbers the env runners report back: returns, lengths and invalid actions.

RLlib's own ``episode_return_mean`` is reduced per iteration, so it is noisy; the train loop
keeps the last ``metrics.return_window`` episode returns from these series to compute an
explicit rolling mean. Counting happens once per finished episode, not per step, so the
callback costs nothing measurable in the sampling loop.
"""

from __future__ import annotations

import numpy as np
from ray.rllib.callbacks.callbacks import RLlibCallback

from src.metrics import P_INVALID_OUTPUT

EPISODE_RETURNS = "maskbench_episode_returns"
EPISODE_LENGTHS = "maskbench_episode_lengths"
EPISODE_INVALID = "maskbench_episode_invalid_actions"
# Diagnostics (policy-gradient modules on torch): per episode, the sum over its steps of
# P(invalid | s) (the network's mass on invalid actions before masking), of the KL between the
# masked and the unmasked policy, -log(1 - P(invalid | s)), and the number of steps summed.
EPISODE_P_INVALID = "maskbench_episode_p_invalid_sum"
EPISODE_KL = "maskbench_episode_kl_masked_unmasked_sum"
EPISODE_DIAG_STEPS = "maskbench_episode_diagnostic_steps"


class EpisodeStatsCallback(RLlibCallback):
    def on_episode_end(self, *, episode, prev_episode_chunks=None, metrics_logger=None, **kwargs):
        chunks = [*(prev_episode_chunks or []), episode]
        ret = sum(float(c.get_return()) for c in chunks)
        length = sum(len(c) for c in chunks)
        # A chunk's infos start with the info of the step before it (the reset's, or the last
        # step of the previous chunk): count each step once.
        invalid = sum(
            bool(info.get("invalid_action", False)) for c in chunks for info in c.get_infos()[1:]
        )
        metrics_logger.log_value(EPISODE_RETURNS, ret, reduce="item_series")
        metrics_logger.log_value(EPISODE_LENGTHS, length, reduce="item_series")
        metrics_logger.log_value(EPISODE_INVALID, invalid, reduce="item_series")
        p = [
            np.asarray(c.get_extra_model_outputs(P_INVALID_OUTPUT), dtype=np.float64)
            for c in chunks
            if P_INVALID_OUTPUT in c.extra_model_outputs and len(c)
        ]
        if p:
            p = np.clip(np.concatenate(p), 0.0, 1.0 - 1e-7)
            metrics_logger.log_value(EPISODE_P_INVALID, float(p.sum()), reduce="item_series")
            metrics_logger.log_value(EPISODE_KL, float(-np.log1p(-p).sum()), reduce="item_series")
            metrics_logger.log_value(EPISODE_DIAG_STEPS, len(p), reduce="item_series")


class OldStackEpisodeStatsCallback(RLlibCallback):
    """The same per-episode invalid-action count on RLlib's old API stack (framework=tf2).

    Returns and lengths come from RLlib's own ``hist_stats``; ``old_stack_episode_series`` in
    ``src.train`` turns both into the series the new stack reports.
    """

    def on_episode_start(self, *, episode, **kwargs):
        episode.user_data["invalid_actions"] = 0

    def on_episode_step(self, *, episode, **kwargs):
        info = episode.last_info_for() or {}
        episode.user_data["invalid_actions"] += bool(info.get("invalid_action", False))

    def on_episode_end(self, *, episode, **kwargs):
        episode.hist_data[EPISODE_INVALID] = [episode.user_data["invalid_actions"]]
