"""DQN (double-Q, prioritized replay), from RLlib's tuned CartPole example and ``tune_dqn``
(docs/tuning/tune_dqn.md: its trial 0, with dueling off so that model=embedding works): many
small updates (a batch of 64 per 2 sampled env steps) and a target network synced every 250 env
steps.

Masking acts on the Q-values (after the dueling aggregation when dueling=true): greedy actions,
epsilon draws (from the mask) and the TD target's next-state max/argmax see only valid actions
(src/models/torch/dqn.py; on tf2 the model's masked output is Q itself)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from src.algos.replay_based import ReplayBased, prioritized
from src.errors import ConfigError


@dataclass
class DQN(ReplayBased):
    name: str = "dqn"
    budget_env_steps: int = 250_000  # solved 5/5 seeds in it (bench/RESULTS.md)
    # Three changes took DQN from 2/4 seeds to 5/5 (bench/RESULTS.md): a [256,256] network, a
    # replay that never evicts within the budget, and lr decayed to a tenth over the budget.
    # With 50k, [64,64] and a constant lr, greedy returns swung 500 -> 97 -> 500 late in a run.
    fcnet_hiddens: list[int] = field(default_factory=lambda: [256, 256])
    replay_buffer_config: dict[str, Any] = field(default_factory=lambda: prioritized(250_000))
    lr: float = 6.5e-4
    lr_final: float | None = 6.5e-5
    gamma: float = 0.98
    train_batch_size_per_learner: int = 64
    training_intensity: float | None = 32.0
    double_q: bool = True
    dueling: bool = False  # model=embedding needs false (dot-product Q-values)
    num_atoms: int = 1
    target_network_update_freq: int = 250
    num_steps_sampled_before_learning_starts: int = 1000
    # [[env_step, epsilon], ...], linearly interpolated.
    epsilon: list[Any] = field(default_factory=lambda: [[0, 1.0], [10_000, 0.02]])

    POLICY_GRADIENT: ClassVar[bool] = False

    def rllib_config(self):
        from ray.rllib.algorithms.dqn import DQNConfig

        return DQNConfig()

    def transition_replay_class(self) -> type:
        from src.replay import TransitionReplayDQN

        return TransitionReplayDQN

    def wire_old_stack(self, config) -> None:
        from src.replay import OldStackDQN

        config.algo_class = OldStackDQN

    def old_stack_training(self, training: dict[str, Any]) -> dict[str, Any]:
        out = super().old_stack_training(training)
        # Episode buffers are new-stack only; the old stack's prioritized buffer is the twin.
        buffer = dict(out.get("replay_buffer_config", {}))
        buffer["type"] = buffer.get("type", "").replace(
            "PrioritizedEpisodeReplayBuffer", "MultiAgentPrioritizedReplayBuffer"
        )
        out["replay_buffer_config"] = buffer
        # No Q-head on top of the model: its masked output *is* Q (see src/models/tf).
        out.update(hiddens=[], dueling=False)
        return out

    def torch_module_class(self) -> type:
        from src.models.torch.dqn import DQNActionHeadModule

        return DQNActionHeadModule

    def tf_model_class(self) -> type:
        from src.models.tf.action_heads import DQNActionHeadTFModel

        return DQNActionHeadTFModel

    def check(self, axes) -> None:
        super().check(axes)
        head = axes.model.action_head
        if not axes.framework.NEW_API_STACK and (self.dueling or self.num_atoms > 1):
            raise ConfigError(
                "framework=tf2 DQN uses the model's masked output as the Q-values, so it has no "
                "dueling or distributional head: set algo.dueling=false and algo.num_atoms=1 "
                "(or use framework=torch, whose DQN masks after the dueling aggregation)."
            )
        if self.num_atoms > 1 and head != "unmasked":
            raise ConfigError(
                "Distributional DQN (algo.num_atoms > 1) is not supported with masking or "
                "embeddings: the mask would have to act on the return distribution. Use "
                "algo.num_atoms=1."
            )
        if self.dueling and head == "embedding":
            raise ConfigError(
                "model=embedding scores actions by dot products; a dueling head would centre the "
                "intent vector, not the Q-values. Use algo.dueling=false with model=embedding."
            )
