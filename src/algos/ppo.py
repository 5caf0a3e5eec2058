"""PPO for 2 CPU cores, close to rl-baselines3-zoo's CartPole settings (lr 1e-3, gamma 0.98,
GAE lambda 0.8); RLlib's default of 30 epochs would make the learner dominate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from src.algos.base import Algo


@dataclass
class PPO(Algo):
    name: str = "ppo"
    budget_env_steps: int = 150_000  # solves the default env in it, 5/5 seeds (bench/RESULTS.md)
    lr: float = 1e-3
    gamma: float = 0.98
    lambda_: float = 0.8  # GAE
    clip_param: float = 0.2
    vf_clip_param: float = 100_000.0  # RLlib's 10 clips CartPole's value loss
    vf_loss_coeff: float = 0.5
    entropy_coeff: float = 0.0
    kl_coeff: float = 0.2
    num_epochs: int = 10
    minibatch_size: int = 250
    train_batch_size_per_learner: int = 2000
    grad_clip: float | None = None

    MASK_PREDICTION: ClassVar[bool] = True

    def rllib_config(self):
        from ray.rllib.algorithms.ppo import PPOConfig

        return PPOConfig()

    def wire_new_stack(self, config) -> None:
        from src.learners import PPOTorchLearnerWithMaskPrediction

        config.learners(learner_class=PPOTorchLearnerWithMaskPrediction)

    def torch_module_class(self) -> type:
        from src.models.torch.actor_critic import PPOActionHeadModule

        return PPOActionHeadModule
