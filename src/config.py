"""Structured-config schemas: every YAML in conf/ is validated against one of these.

A mistyped key in a YAML file or on the command line fails at compose time with Hydra's
"Key 'x' not in 'Y'" error instead of being silently ignored. Each group option pulls its
schema in through its defaults list (``- ppo_schema``: Hydra's schema-for-a-config-group
pattern), so the schemas appear in Hydra's option lists with a ``_schema`` suffix.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class ParametricCartPoleEnvConfig:
    name: str = "parametric_cartpole"
    max_avail_actions: int = 6
    layout: str = "fixed"  # fixed | per_instance | per_episode | per_step
    layout_seed: int = 0
    invalid_action: str = "raise"  # raise | penalty | terminate
    invalid_penalty: float = -0.1
    embeddings: bool = True  # publish action embeddings under `embeddings_key`
    embed_dim: int = 4
    max_episode_steps: int = 500
    obs_key: str = "observations"
    mask_key: str = "action_mask"
    embeddings_key: str = "avail_actions"
    # The return range (report: margin of practical equivalence, normalised areas).
    min_return: float | None = 0.0
    max_return: float | None = "${.max_episode_steps}"  # type: ignore[assignment]
    solved_return: float | None = 475.0  # CartPole-v1's threshold (stop.target_return)
    return_thresholds: list[float] = field(default_factory=lambda: [150.0, 400.0, 450.0])


@dataclass
class PettingZooEnvConfig:
    name: str = MISSING  # connect_four | tictactoe | chess
    opponent: str = "random"  # random | heuristic (not for chess)
    agent_seat: str = "random"  # first | second | random (per episode)
    invalid_action: str = "raise"  # raise | penalty | terminate
    invalid_penalty: float = -0.1
    max_episode_steps: int | None = None  # agent moves; needed in penalty mode for long games
    obs_key: str = "observations"  # the board planes, flattened
    mask_key: str = "action_mask"  # the legal moves
    embeddings_key: str | None = None  # none: model=embedding learns them
    min_return: float | None = -1.0  # loss (a penalty can go below)
    max_return: float | None = 1.0  # win
    solved_return: float | None = None
    return_thresholds: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.8])


@dataclass
class CustomEnvConfig:
    name: str = "custom"
    entry_point: str = MISSING  # package.module:Class (called with kwargs) or a gymnasium id
    kwargs: dict[str, Any] = field(default_factory=dict)
    obs_key: str = "observations"
    mask_key: str = "action_mask"
    embeddings_key: str | None = None  # null: the env publishes none (model=embedding learns)
    invalid_action: str = "raise"  # raise | penalty | terminate (applied before the env steps)
    invalid_penalty: float = -0.1
    max_episode_steps: int | None = None
    min_return: float | None = None  # the return range, if known (report margins and areas)
    max_return: float | None = None
    solved_return: float | None = None
    return_thresholds: list[float] = field(default_factory=list)


@dataclass
class ModelConfig:
    action_head: str = MISSING  # masked | unmasked | embedding | naive_masked
    fcnet_hiddens: list[int] = field(default_factory=lambda: [64, 64])
    fcnet_activation: str = "tanh"
    head_fcnet_hiddens: list[int] = field(default_factory=list)
    vf_share_layers: bool = False
    # Where the model finds things in the Dict observation (default: what the env says).
    obs_key: str = "${env.obs_key}"
    mask_key: str = "${env.mask_key}"
    embeddings_key: str | None = "${env.embeddings_key}"
    # model=embedding only.
    apply_mask: bool = True
    embeddings_source: str = "env"  # env: read from the observation | learned: a table
    embed_dim: int = 4  # size of a learned table (env embeddings bring their own size)


@dataclass
class PPOAlgoConfig:
    name: str = "ppo"
    budget_env_steps: int = 150_000  # solves the default env in it (5/5 seeds)
    lr: float = 1e-3
    gamma: float = 0.98
    lambda_: float = 0.8
    clip_param: float = 0.2
    vf_clip_param: float = 100_000.0
    vf_loss_coeff: float = 0.5
    entropy_coeff: float = 0.0
    kl_coeff: float = 0.2
    num_epochs: int = 10
    minibatch_size: int = 250
    train_batch_size_per_learner: int = 2000
    grad_clip: float | None = None
    # Any other AlgorithmConfig.training() argument: +algo.extra.<name>=<value> (RLlib checks names).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class IMPALAAlgoConfig:
    name: str = "impala"
    budget_env_steps: int = 300_000  # solves the default env in it (5/5 seeds)
    lr: float = 2e-3
    gamma: float = 0.98
    vf_loss_coeff: float = 0.5
    entropy_coeff: float = 0.003
    grad_clip: float | None = 40.0
    grad_clip_by: str = "global_norm"
    train_batch_size_per_learner: int = 200
    vtrace: bool = True
    min_time_s_per_iteration: float = 1.0  # RLlib's 10 s makes progress lines sparse
    # Any other AlgorithmConfig.training() argument: +algo.extra.<name>=<value> (RLlib checks names).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class APPOAlgoConfig(IMPALAAlgoConfig):
    name: str = "appo"
    lr: float = 1.17e-3
    gamma: float = 0.99
    vf_loss_coeff: float = 0.25
    entropy_coeff: float = 0.0
    clip_param: float = 0.4
    use_kl_loss: bool = False
    num_epochs: int = 6
    minibatch_size: int = 250
    train_batch_size_per_learner: int = 250


@dataclass
class DQNAlgoConfig:
    name: str = "dqn"
    budget_env_steps: int = 250_000  # solves the default env in it (5/5 seeds)
    lr: float = 6.5e-4
    gamma: float = 0.98
    train_batch_size_per_learner: int = 64
    training_intensity: float | None = 32.0
    double_q: bool = True
    dueling: bool = False
    num_atoms: int = 1
    n_step: int = 1
    target_network_update_freq: int = 250
    num_steps_sampled_before_learning_starts: int = 1000
    # [[env_step, epsilon], ...], linearly interpolated.
    epsilon: list[Any] = field(default_factory=lambda: [[0, 1.0], [10_000, 0.02]])
    # torch: "transitions" (src/replay.py, flat arrays) or "episodes" (RLlib's episode buffer).
    replay: str = "transitions"
    replay_buffer_config: dict[str, Any] = field(
        default_factory=lambda: {
            "type": "PrioritizedEpisodeReplayBuffer",
            "capacity": 50_000,
            "alpha": 0.6,
            "beta": 0.4,
        }
    )
    min_time_s_per_iteration: float | None = None
    # Sampling overrides of cfg.resources (None: use resources.*).
    num_envs_per_env_runner: int | None = None
    rollout_fragment_length: int | None = None
    # Any other AlgorithmConfig.training() argument: +algo.extra.<name>=<value> (RLlib checks names).
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class FrameworkConfig:
    name: str = "torch"
    api_stack: str = "new"  # new: RLModule/Learner/EnvRunner | old: ModelV2/Policy


@dataclass
class LoggerConfig:
    name: str = "wandb"
    enabled: bool = True
    mode: str = "offline"  # offline | online | disabled (WANDB_MODE wins when set)
    project: str = "maskbench"
    entity: str | None = None
    group: str | None = None  # default: the sweep in a sweep, else the cell (options but seed)
    tags: list[str] = field(default_factory=list)


@dataclass
class StopConfig:
    env_steps: int = 300_000
    target_return: float | None = 475.0  # stop once the rolling mean return reaches it
    time_s: float = 900.0


@dataclass
class MetricsConfig:
    return_window: int = 100  # episodes in the rolling mean return (as SB3's ep_rew_mean)
    # summary.json records env steps and seconds when the rolling mean first reached each.
    thresholds: list[float] = field(default_factory=lambda: [150.0, 400.0, 450.0])
    objective: str = "eval/greedy/return_mean"  # the summary key a run returns to sweepers


@dataclass
class ResourcesConfig:
    num_cpus: int = 2  # for ray.init
    num_env_runners: int = 0  # 0: sample in the driver process (fastest on 2 cores)
    num_envs_per_env_runner: int = 16
    torch_threads: int = 1


@dataclass
class CheckpointConfig:
    every_n_iters: int = 0  # 0: only the final checkpoint
    final: bool = True


@dataclass
class EvaluationConfig:
    every_env_steps: int = 10_000  # 0: only at the end of the run
    episodes: int = 10  # per evaluation and mode (greedy, stochastic)


@dataclass
class DiagnosticsConfig:
    # Greedy episodes in the penalty env, with the mask and with it removed (src/diagnostics.py),
    # at the end of a run and every `eval_every_n_iters` iterations (0: only at the end).
    eval_episodes: int = 10
    eval_every_n_iters: int = 0


@dataclass
class Config:
    env: Any = MISSING
    model: ModelConfig = MISSING
    algo: Any = MISSING
    framework: FrameworkConfig = MISSING
    logger: LoggerConfig = MISSING
    seed: int = 0
    stop: StopConfig = field(default_factory=StopConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


def register_configs() -> None:
    cs = ConfigStore.instance()
    cs.store(name="config_schema", node=Config)
    cs.store(group="env", name="parametric_cartpole_schema", node=ParametricCartPoleEnvConfig)
    cs.store(group="env", name="pettingzoo_schema", node=PettingZooEnvConfig)
    cs.store(group="env", name="custom_schema", node=CustomEnvConfig)
    cs.store(group="model", name="model_schema", node=ModelConfig)
    cs.store(group="algo", name="ppo_schema", node=PPOAlgoConfig)
    cs.store(group="algo", name="impala_schema", node=IMPALAAlgoConfig)
    cs.store(group="algo", name="appo_schema", node=APPOAlgoConfig)
    cs.store(group="algo", name="dqn_schema", node=DQNAlgoConfig)
    cs.store(group="framework", name="framework_schema", node=FrameworkConfig)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
