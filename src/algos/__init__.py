"""The ``algo`` axis: one class per ``conf/algo/*.yaml`` (``_target_``), each owning its defaults,
its RLlib wiring and its checks; ``build_algo_config`` composes the four axes into an RLlib
AlgorithmConfig."""

from __future__ import annotations

from omegaconf import DictConfig

from src.envs.guard import guarded
from src.options import Axes


def build_algo_config(cfg: DictConfig, axes: Axes | None = None):
    """cfg -> RLlib AlgorithmConfig: the algorithm's config class and hyperparameters, the env,
    sampling and seeding, then the framework's wiring (API stack, model, callbacks)."""
    axes = axes or Axes.from_cfg(cfg)
    axes.check()
    algo, res = axes.algo, cfg.resources
    config = (
        algo.rllib_config()
        .environment(guarded(axes.env.env_class()), env_config=axes.env.as_dict())
        .env_runners(
            num_env_runners=res.num_env_runners,
            num_envs_per_env_runner=res.num_envs_per_env_runner,
            **algo.set_keys(algo.ENV_RUNNERS),
        )
        .fault_tolerance(
            restart_failed_env_runners=cfg.fault_tolerance.restart_failed_env_runners,
            max_num_env_runner_restarts=cfg.fault_tolerance.max_env_runner_restarts,
            delay_between_env_runner_restarts_s=cfg.fault_tolerance.restart_delay_s,
        )
        .debugging(seed=cfg.seed)
        .reporting(
            metrics_num_episodes_for_smoothing=cfg.metrics.return_window,
            **algo.set_keys(algo.REPORTING),
        )
    )
    config = axes.framework.learners(config, res)
    return axes.framework.wire(config, algo, axes.model)
