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

from src.algos.base import Algo
from src.errors import ConfigError

# torch: which replay implementation (``DQN.replay``; see wire_new_stack).
REPLAYS = ("transitions", "episodes")


@dataclass
class DQN(Algo):
    name: str = "dqn"
    budget_env_steps: int = 250_000  # solved 2/4 seeds (bench/RESULTS.md)
    lr: float = 6.5e-4
    gamma: float = 0.98
    train_batch_size_per_learner: int = 64
    training_intensity: float | None = 32.0  # replayed / sampled env steps
    double_q: bool = True
    dueling: bool = False  # model=embedding needs false (dot-product Q-values)
    num_atoms: int = 1
    # n_step > 1 with vectorised envs stalls on CartPole in RLlib 2.60, with RLlib's own DQN on
    # plain CartPole-v1 too (bench/dqn_nstep.py: 16 envs, 40k steps: n_step 1 -> 463, n_step 3
    # -> 46; 1 env, n_step 3 -> 270 at 10k steps); 1-step works.
    n_step: int = 1
    target_network_update_freq: int = 250
    num_steps_sampled_before_learning_starts: int = 1000
    # [[env_step, epsilon], ...], linearly interpolated.
    epsilon: list[Any] = field(default_factory=lambda: [[0, 1.0], [10_000, 0.02]])
    # torch: "transitions": flat-array prioritized replay (src/replay.py), ~4x faster than RLlib's
    # episode replay here; "episodes": RLlib's PrioritizedEpisodeReplayBuffer (needed for
    # n_step > 1). tf2 always uses the old stack's prioritized buffer.
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

    POLICY_GRADIENT: ClassVar[bool] = False
    NOT_TRAINING: ClassVar[tuple[str, ...]] = (*Algo.NOT_TRAINING, "replay")
    REPORTING: ClassVar[tuple[str, ...]] = ("min_time_s_per_iteration",)
    ENV_RUNNERS: ClassVar[tuple[str, ...]] = ("num_envs_per_env_runner", "rollout_fragment_length")

    def rllib_config(self):
        from ray.rllib.algorithms.dqn import DQNConfig

        return DQNConfig()

    def wire_new_stack(self, config) -> None:
        if self.replay == "transitions":
            from src.replay import TransitionReplayDQN

            config.algo_class = TransitionReplayDQN

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
        head = axes.model.action_head
        if self.replay not in REPLAYS:
            raise ConfigError(
                f"algo.replay={self.replay!r} is not a DQN replay; use one of {REPLAYS}."
            )
        if self.replay == "transitions" and self.n_step != 1 and axes.framework.NEW_API_STACK:
            raise ConfigError(
                "algo.replay=transitions stores 1-step transitions; use algo.n_step=1 or "
                "algo.replay=episodes (RLlib's episode buffer) for n-step returns."
            )
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
