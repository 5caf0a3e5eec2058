"""The ``framework`` axis: torch runs on RLlib's new API stack, tf2 on the old one.

RLlib 2.60's new stack (RLModule, Learner, EnvRunner) is torch-only; TensorFlow runs on the old
stack (ModelV2, Policy, RolloutWorker) with tensorflow-cpu + tf-keras (TF_USE_LEGACY_KERAS=1).
Each framework is one class (``conf/framework/*.yaml``'s ``_target_``) that wires a built
AlgorithmConfig: the API stack, the model of the ``model`` axis and the callbacks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import ClassVar

from omegaconf import MISSING

from src.errors import ConfigError
from src.options import Option


def set_framework_env(skip_tf: bool = False) -> None:
    """Process-wide settings the frameworks need before RLlib (and so TF or torch) is imported."""
    if skip_tf:
        # RLlib imports TensorFlow whenever it is installed; a torch run does not need it.
        os.environ.setdefault("RLLIB_TEST_NO_TF_IMPORT", "1")
    # RLlib's old API stack (framework=tf2) needs Keras 2, which TF 2.16+ ships as tf-keras.
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Offline W&B unless the user chose otherwise.
    os.environ.setdefault("WANDB_MODE", "offline")


@dataclass
class Framework(Option):
    name: str = MISSING
    NEW_API_STACK: ClassVar[bool]  # RLModule/Learner/EnvRunner (else ModelV2/Policy)
    NEEDS_TF: ClassVar[bool] = False  # the process must import TensorFlow

    def wire(self, config, algo, model):
        """Put the framework, the algorithm's hyperparameters and the model on ``config``."""
        raise NotImplementedError

    def learners(self, config, resources):
        """Where learning runs (``resources.num_learners``, ``resources.num_gpus_per_learner``)."""
        raise NotImplementedError

    def check(self, axes) -> None:
        """Nothing to check by default: the model and algorithm check what they need of it."""


@dataclass
class Torch(Framework):
    name: str = "torch"
    NEW_API_STACK: ClassVar[bool] = True

    def wire(self, config, algo, model):
        from src.callbacks import EpisodeStatsCallback

        algo.wire_new_stack(config)
        return (
            config.framework("torch")
            .api_stack(enable_rl_module_and_learner=True, enable_env_runner_and_connector_v2=True)
            .rl_module(rl_module_spec=model.module_spec(algo))
            .callbacks(EpisodeStatsCallback)
            .training(**algo.training())
        )

    def learners(self, config, resources):
        gpus = resources.num_gpus_per_learner
        if gpus > 0:
            import torch

            if not torch.cuda.is_available():
                raise ConfigError(
                    f"resources.num_gpus_per_learner={gpus:g} but torch sees no GPU (CUDA "
                    "unavailable; the CPU wheel of torch has none): set "
                    "resources.num_gpus_per_learner=0, or install a CUDA build of torch."
                )
        return config.learners(num_learners=resources.num_learners, num_gpus_per_learner=gpus)


@dataclass
class TF2(Framework):
    name: str = "tf2"
    NEW_API_STACK: ClassVar[bool] = False
    NEEDS_TF: ClassVar[bool] = True

    def wire(self, config, algo, model):
        from src.callbacks import OldStackEpisodeStatsCallback

        algo.wire_old_stack(config)
        training = algo.old_stack_training(algo.training())
        return (
            config.framework("tf2")
            .api_stack(enable_rl_module_and_learner=False, enable_env_runner_and_connector_v2=False)
            .callbacks(OldStackEpisodeStatsCallback)
            .training(**training, model=model.tf_model_config(algo))
        )

    def learners(self, config, resources):
        if resources.num_learners or resources.num_gpus_per_learner:
            raise ConfigError(
                "framework=tf2 runs RLlib's old API stack with tensorflow-cpu: no learner actors, "
                "no GPU. Leave resources.num_learners=0 and resources.num_gpus_per_learner=0, or "
                "use framework=torch for remote or GPU learners."
            )
        return config.resources(num_gpus=0)  # old-stack IMPALA defaults to 1
