"""cfg -> RLlib AlgorithmConfig, one function per concern (not one per algorithm x model cell)."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf
from ray.rllib.algorithms.algorithm_config import AlgorithmConfig
from ray.rllib.algorithms.appo import APPOConfig
from ray.rllib.algorithms.dqn import DQN, DQNConfig
from ray.rllib.algorithms.impala import IMPALAConfig
from ray.rllib.algorithms.ppo import PPOConfig

from src.callbacks import EpisodeStatsCallback, OldStackEpisodeStatsCallback
from src.envs import env_class
from src.errors import ConfigError
from src.learners import LEARNERS
from src.models import module_spec, tf_model_config
from src.replay import TransitionReplayDQN

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
# cfg.algo keys that are not RLlib settings: which replay implementation, and the env-step budget.
IMPLEMENTATION_KEYS = ("replay", "budget_env_steps")
REPLAYS = {"transitions": TransitionReplayDQN, "episodes": DQN}


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def training_kwargs(algo_cfg: dict[str, Any]) -> dict[str, Any]:
    """cfg.algo minus name and reporting keys goes to ``.training()``; RLlib rejects unknown keys."""
    other = ("name", "extra", *REPORTING_KEYS, *ENV_RUNNER_KEYS, *IMPLEMENTATION_KEYS)
    return {**{k: v for k, v in algo_cfg.items() if k not in other}, **algo_cfg.get("extra", {})}


def _set_keys(algo_cfg: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: algo_cfg[k] for k in keys if algo_cfg.get(k) is not None}


class OldStackDQN(DQN):
    """DQN on the old API stack (framework=tf2), working around an RLlib 2.60 bug.

    Config validation turns ``replay_buffer_config["type"]`` into a class, and then
    ``Algorithm._create_local_replay_buffer_if_necessary`` tests ``"EpisodeReplayBuffer" in
    type`` (TypeError: argument of type 'ABCMeta' is not iterable). That branch only concerns
    the new stack's episode buffers, so build the old-stack buffer directly.
    """

    def _create_local_replay_buffer_if_necessary(self, config):
        from ray.rllib.utils.from_config import from_config
        from ray.rllib.utils.replay_buffers import ReplayBuffer

        buffer_config = config.get("replay_buffer_config")
        if not buffer_config or buffer_config.get("no_local_replay_buffer"):
            return None
        return from_config(ReplayBuffer, buffer_config)


def old_stack_training(name: str, training: dict[str, Any]) -> dict[str, Any]:
    """The old API stack's names and needs for the same hyperparameters."""
    out = dict(training)
    if "train_batch_size_per_learner" in out:
        out["train_batch_size"] = out.pop("train_batch_size_per_learner")
    if name == "dqn":
        # Episode buffers are new-stack only; the old stack's prioritized buffer is the twin.
        buffer = dict(out.get("replay_buffer_config", {}))
        buffer["type"] = buffer.get("type", "").replace(
            "PrioritizedEpisodeReplayBuffer", "MultiAgentPrioritizedReplayBuffer"
        )
        out["replay_buffer_config"] = buffer
        # No Q-head on top of the model: its masked output *is* Q (see src/models/tf).
        if out.get("dueling") or out.get("num_atoms", 1) > 1:
            raise ConfigError(
                "framework=tf2 DQN uses the model's masked output as the Q-values, so it has no "
                "dueling or distributional head: set algo.dueling=false and algo.num_atoms=1 "
                "(or use framework=torch, whose DQN masks after the dueling aggregation)."
            )
        out.update(hiddens=[], dueling=False)
    return out


def with_framework(
    config: AlgorithmConfig, cfg: DictConfig, name: str, model_cfg: dict
) -> AlgorithmConfig:
    """torch: RLlib's new API stack with our RLModules; tf2: the old stack with our ModelV2s."""
    framework = cfg.framework.name
    if framework == "torch":
        if name == "dqn":
            replay = cfg.algo.get("replay", "transitions")
            if replay not in REPLAYS:
                raise ConfigError(
                    f"algo.replay={replay!r} is not a DQN replay; use one of {sorted(REPLAYS)}."
                )
            config.algo_class = REPLAYS[replay]
        if name in LEARNERS:  # IMPALA/APPO: the learner thread's in-queue, seeded and counted
            config.training(learner_class=LEARNERS[name])
        return (
            config.framework("torch")
            .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
            .learners(num_learners=0)
            .rl_module(rl_module_spec=module_spec(name, model_cfg))
            .callbacks(EpisodeStatsCallback)
        )
    if framework == "tf2":
        if name == "dqn":
            config.algo_class = OldStackDQN
        return (
            config.framework("tf2")
            .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
            .resources(num_gpus=0)  # old-stack IMPALA defaults to 1
            .callbacks(OldStackEpisodeStatsCallback)
        )
    raise ConfigError(f"framework={framework!r} is not supported; use torch or tf2.")


def build_algo_config(cfg: DictConfig) -> AlgorithmConfig:
    algo_cfg, env_cfg, model_cfg = _plain(cfg.algo), _plain(cfg.env), _plain(cfg.model)
    name = algo_cfg["name"]
    if name not in ALGO_CONFIGS:
        raise ConfigError(f"Unknown algo {name!r}; known: {sorted(ALGO_CONFIGS)}.")
    res = cfg.resources
    num_env_runners = res.num_env_runners
    training = training_kwargs(algo_cfg)
    if cfg.framework.name == "tf2":
        training = {**old_stack_training(name, training), "model": tf_model_config(name, model_cfg)}
        if name in ("appo", "impala"):
            # The old stack's IMPALA learner thread reads model.value_function(), the output of
            # the model's last forward pass; sampling in the same process races with it
            # ("Cannot reshape a tensor with 1 elements to shape [0,50]"). Sample elsewhere.
            if num_env_runners < 1:
                print(
                    f"maskbench: {name} on tf2 samples in an env runner process "
                    "(resources.num_env_runners 0 -> 1): RLlib's old-stack learner thread races "
                    "with sampling in the driver."
                )
                num_env_runners = 1
    return (
        with_framework(ALGO_CONFIGS[name](), cfg, name, model_cfg)
        .environment(env_class(env_cfg["name"]), env_config=env_cfg)
        .env_runners(
            num_env_runners=num_env_runners,
            **{
                "num_envs_per_env_runner": res.num_envs_per_env_runner,
                **_set_keys(algo_cfg, ENV_RUNNER_KEYS),
            },
        )
        .training(**training)
        .debugging(seed=cfg.seed)
        .reporting(
            metrics_num_episodes_for_smoothing=cfg.metrics.return_window,
            **_set_keys(algo_cfg, REPORTING_KEYS),
        )
    )
