"""The top-level structured-config schema: types only, values in conf/config.yaml and conf/logger.

Together with the option classes of the four axes (``src.options``), a mistyped key in a YAML
file or on the command line fails at compose time with Hydra's "Key 'x' not in 'Y'" error
instead of being silently ignored. Every default is written once: the run-level ones in
conf/config.yaml (with their meaning), each option's in its class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


@dataclass
class LoggerConfig:
    name: str = MISSING
    enabled: bool = MISSING
    mode: str = MISSING  # offline | online | disabled (WANDB_MODE wins when set)
    project: str = "maskbench"
    entity: str | None = None
    group: str | None = (
        None  # null: in a sweep, one group per sweep (job_type = cell); else the cell
    )
    tags: list[str] = field(default_factory=list)


@dataclass
class StopConfig:
    env_steps: int = MISSING
    target_return: float | None = MISSING
    time_s: float = MISSING


@dataclass
class MetricsConfig:
    return_window: int = MISSING
    thresholds: list[float] = MISSING
    objective: str = MISSING


@dataclass
class ResourcesConfig:
    num_cpus: int = MISSING
    num_env_runners: int = MISSING
    num_envs_per_env_runner: int = MISSING
    torch_threads: int = MISSING
    num_learners: int = 0
    num_gpus_per_learner: float = 0


@dataclass
class CheckpointConfig:
    every_n_iters: int = MISSING
    every_s: float = MISSING
    keep: int = MISSING
    final: bool = MISSING


@dataclass
class FaultToleranceConfig:
    restart_failed_env_runners: bool = MISSING
    max_env_runner_restarts: int = MISSING
    restart_delay_s: float = MISSING


@dataclass
class EvaluationConfig:
    every_env_steps: int = MISSING
    episodes: int = MISSING


@dataclass
class DiagnosticsConfig:
    eval_episodes: int = MISSING
    eval_every_n_iters: int = MISSING


@dataclass
class Config:
    # The four axes: each option's class is its schema (src.options.register_configs).
    env: Any = MISSING
    model: Any = MISSING
    algo: Any = MISSING
    framework: Any = MISSING
    logger: LoggerConfig = MISSING
    seed: int = MISSING
    resume: str | None = MISSING
    reuse: list[str] = MISSING
    stop: StopConfig = field(default_factory=StopConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    resources: ResourcesConfig = field(default_factory=ResourcesConfig)
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    fault_tolerance: FaultToleranceConfig = field(default_factory=FaultToleranceConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    diagnostics: DiagnosticsConfig = field(default_factory=DiagnosticsConfig)


def register_top_level(cs: ConfigStore) -> None:
    cs.store(name="config_schema", node=Config)
    cs.store(group="logger", name="logger_schema", node=LoggerConfig)
