"""Metric names shared by the writers (train loop, evaluation) and the readers (report, sweeps).

One definition each: the report reads exactly the names the train loop writes.
"""

from __future__ import annotations

from typing import Any

TRAIN_RETURN = "charts/episode_return_mean"  # rolling mean of the last metrics.return_window
INVALID_RATE = "charts/invalid_action_rate"
P_INVALID = "diagnostics/p_invalid"  # per iteration, from the per-step model output below
# The per-step extra model output of the torch policy modules (src.models.torch), kept in
# the episodes and summed per episode by src.callbacks: P(invalid | s) before masking.
P_INVALID_OUTPUT = "p_invalid"
KL_MASKED_UNMASKED = "diagnostics/kl_masked_unmasked"
EVAL_MODES = ("greedy", "stochastic")  # src.evaluation
OUTCOMES = ("win", "draw", "loss")  # a game's result (info["outcome"]): eval/<mode>/<outcome>_rate
UNFINISHED_GAME = (
    "unfinished"  # a game with none (cut by the time limit): eval/<mode>/unfinished_rate
)


def eval_key(mode: str, stat: str) -> str:
    """``eval/<mode>/<stat>``: a separate evaluation's statistic (src.evaluation)."""
    return f"eval/{mode}/{stat}"


EVAL_RETURN = eval_key("greedy", "return_mean")  # the score a report ranks runs by
EVAL_STOCHASTIC_RETURN = eval_key("stochastic", "return_mean")
# What a report can score runs by (src.report --score): the greedy evaluation's return, or its
# task return (without invalid-action penalties: penalty baselines compared on the task).
SCORES = {"return": EVAL_RETURN, "task_return": eval_key("greedy", "task_return_mean")}


def objective(summary: dict[str, Any], key: str = EVAL_RETURN) -> float | None:
    """A run's single number (what Hydra's Optuna sweeper maximises): ``summary[key]``
    (``metrics.objective``; default the greedy evaluation return at the end of the run), or the
    rolling training return where the run lacks that key."""
    value = summary.get(key)
    return summary.get("final_return_mean") if value is None else value
