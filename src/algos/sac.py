"""Discrete SAC (Christodoulou 2019) on RLlib 2.60's new API stack, masked as a maximum-entropy
method must be: the policy, its entropy, the next state's soft value and the target entropy all
range over the valid actions only (src/models/torch/sac.py says how, and why RLlib's own discrete
loss cannot take a mask). Replay and training step are DQN's (``ReplayBased``).

The temperature alpha is learned towards a per-state target entropy of
``target_entropy_ratio * log(number of valid actions)``: the same share of the largest entropy
in a state with 2 valid actions as in one with 20. torch only: RLlib's old-stack SAC (tf2) builds
its own policy and Q models, which take no action mask."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from src.algos.replay_based import ReplayBased
from src.errors import ConfigError


@dataclass
class SAC(ReplayBased):
    name: str = "sac"
    budget_env_steps: int = 200_000  # solves the default env in it, 5/5 seeds (bench/RESULTS.md)
    lr: float | None = None  # RLlib's SAC refuses lr; it has one per network:
    actor_lr: float = 3e-4
    critic_lr: float = 3e-4
    alpha_lr: float = 3e-4
    gamma: float = 0.98
    train_batch_size_per_learner: int = 64
    training_intensity: float | None = 32.0
    twin_q: bool = True
    tau: float = 0.005  # soft target update after every gradient step
    target_network_update_freq: int = 0
    initial_alpha: float = 0.1
    # Target entropy = ratio * log(valid actions), per state (1: uniform over the valid ones).
    target_entropy_ratio: float = 0.3
    num_steps_sampled_before_learning_starts: int = 1000

    POLICY_GRADIENT: ClassVar[bool] = True  # a stochastic policy with its own loss
    NOT_TRAINING: ClassVar[tuple[str, ...]] = (*ReplayBased.NOT_TRAINING, "target_entropy_ratio")

    def rllib_config(self):
        from ray.rllib.algorithms.sac import SACConfig

        return SACConfig()

    def transition_replay_class(self) -> type:
        from src.replay import TransitionReplaySAC

        return TransitionReplaySAC

    def wire_new_stack(self, config) -> None:
        from src.models.torch.sac import TARGET_ENTROPY_RATIO, MaskedSACTorchLearner

        super().wire_new_stack(config)
        config.learners(
            learner_class=MaskedSACTorchLearner,
            learner_config_dict={TARGET_ENTROPY_RATIO: self.target_entropy_ratio},
        )

    def torch_module_class(self) -> type:
        from src.models.torch.sac import SACActionHeadModule

        return SACActionHeadModule

    def check(self, axes) -> None:
        super().check(axes)
        if not axes.framework.NEW_API_STACK:
            raise ConfigError(
                "algo=sac runs on RLlib's new API stack only (its old-stack SAC builds its own "
                "policy and Q models, which take no action mask): use framework=torch."
            )
        if getattr(axes.model, "embeddings_source", "env") == "learned":
            raise ConfigError(
                "algo=sac trains its policy and critics with separate optimizers, and a learned "
                "embedding table shared by both would belong to neither: use "
                "model.embeddings_source=env (an env that publishes embeddings), or another algo."
            )
        if self.lr_final is not None:
            raise ConfigError(
                "algo=sac has one learning rate per network (algo.actor_lr, algo.critic_lr, "
                "algo.alpha_lr) and no algo.lr to decay: leave algo.lr_final unset."
            )
        if not 0.0 <= self.target_entropy_ratio <= 1.0:
            raise ConfigError(
                f"algo.target_entropy_ratio={self.target_entropy_ratio} is a share of the largest "
                "entropy log(valid actions): use a value in [0, 1]."
            )
