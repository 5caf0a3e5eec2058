"""cfg -> RLlib AlgorithmConfig, one function per concern (not one per algorithm x model cell)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.appo import APPOConfig
from ray.rllib.algorithms.dqn import DQNConfig
from ray.rllib.algorithms.impala import IMPALAConfig
from ray.rllib.algorithms.ppo import PPOConfig

from src.callbacks import EpisodeStatsCallback
from src.envs import env_class
from src.errors import ConfigError
from src.models import module_spec

ALGO_CONFIGS: dict[str, type[AlgorithmConfig]] = {
    "ppo": PPOConfig,
    "appo": APPOConfig,
    "impala": IMPALAConfig,
    "dqn": DQNConfig,
}
# cfg.algo keys that are not training hyperparameters: they go to .reporting() and, when set,
# override cfg.resources in .env_runners() (an algorithm may need its own sampling setup).
REPORTING_KEYS = ("min_time_s_per_iteration",)
ENV_RUNNER_KEYS = ("num_envs_per_env_runner", "rollout_fragment_length")


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def training_kwargs(algo_cfg: dict[str, Any]) -> dict[str, Any]:
    """cfg.algo minus name and reporting keys goes to ``.training()``; RLlib rejects unknown keys."""
    other = ("name", "extra", *REPORTING_KEYS, *ENV_RUNNER_KEYS)
    return {**{k: v for k, v in algo_cfg.items() if k not in other}, **algo_cfg.get("extra", {})}


def _set_keys(algo_cfg: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: algo_cfg[k] for k in keys if algo_cfg.get(k) is not None}


def build_algo_config(cfg: DictConfig) -> AlgorithmConfig:
    algo_cfg, env_cfg, model_cfg = _plain(cfg.algo), _plain(cfg.env), _plain(cfg.model)
    name = algo_cfg["name"]
    if name not in ALGO_CONFIGS:
        raise ConfigError(f"Unknown algo {name!r}; known: {sorted(ALGO_CONFIGS)}.")
    if cfg.framework.name != "torch":
        raise ConfigError(
            f"framework={cfg.framework.name} is not supported yet; use framework=torch."
        )
    res = cfg.resources
    return (
        ALGO_CONFIGS[name]()
        .framework("torch")
        .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
        .environment(env_class(env_cfg["name"]), env_config=env_cfg)
        .env_runners(
            num_env_runners=res.num_env_runners,
            **{
                "num_envs_per_env_runner": res.num_envs_per_env_runner,
                **_set_keys(algo_cfg, ENV_RUNNER_KEYS),
            },
        )
        .learners(num_learners=0)
        .training(**training_kwargs(algo_cfg))
        .rl_module(rl_module_spec=module_spec(name, model_cfg))
        .callbacks(EpisodeStatsCallback)
        .debugging(seed=cfg.seed)
        .reporting(
            metrics_num_episodes_for_smoothing=cfg.metrics.return_window,
            **_set_keys(algo_cfg, REPORTING_KEYS),
        )
    )
