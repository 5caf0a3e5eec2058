"""What the replay-based algorithms (DQN, SAC) share: RLlib's DQN training step (SAC's is
DQN's), its replay (ours by default, ``src/replay.py``), and how often it replays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from omegaconf import MISSING

from src.algos.base import Algo
from src.errors import ConfigError

# torch: which replay implementation (``ReplayBased.replay``; see wire_new_stack).
REPLAYS = ("transitions", "episodes")


def prioritized(capacity: int) -> dict[str, Any]:
    """Prioritized replay (Schaul et al. 2016) of ``capacity`` env steps."""
    return {
        "type": "PrioritizedEpisodeReplayBuffer",
        "capacity": capacity,
        "alpha": 0.6,
        "beta": 0.4,
    }


@dataclass
class ReplayBased(Algo):
    training_intensity: float | None = MISSING  # replayed / sampled env steps
    # n_step > 1 with vectorised envs stalls on CartPole in RLlib 2.60, with RLlib's own DQN on
    # plain CartPole-v1 too (bench/dqn_nstep.py: 16 envs, 40k steps: n_step 1 -> 463, n_step 3
    # -> 46; 1 env, n_step 3 -> 270 at 10k steps); 1-step works. n_step > 1 needs replay=episodes.
    n_step: int = 1
    num_steps_sampled_before_learning_starts: int = MISSING
    # torch: "transitions": flat-array prioritized replay (src/replay.py), ~4x faster than RLlib's
    # episode replay here; "episodes": RLlib's PrioritizedEpisodeReplayBuffer (needed for
    # n_step > 1). tf2 always uses the old stack's prioritized buffer.
    replay: str = "transitions"
    # Prioritized replay (Schaul et al. 2016); "type" names RLlib's buffer, which
    # replay=transitions replaces with its own of the same capacity, alpha and beta.
    replay_buffer_config: dict[str, Any] = field(default_factory=lambda: prioritized(50_000))
    # An iteration ends after this many sampled env steps, never on a clock: RLlib's SAC ends
    # one after 1 s, which makes the iteration boundaries (where stops, thresholds and
    # evaluations are checked) and so every logged row depend on the machine's speed.
    min_time_s_per_iteration: float = 0.0
    min_sample_timesteps_per_iteration: int = 1000
    # Sampling overrides of cfg.resources (None: use resources.*).
    num_envs_per_env_runner: int | None = None
    rollout_fragment_length: int | None = None

    NOT_TRAINING: ClassVar[tuple[str, ...]] = (*Algo.NOT_TRAINING, "replay")
    REPORTING: ClassVar[tuple[str, ...]] = (
        "min_time_s_per_iteration",
        "min_sample_timesteps_per_iteration",
    )
    ENV_RUNNERS: ClassVar[tuple[str, ...]] = ("num_envs_per_env_runner", "rollout_fragment_length")

    def transition_replay_class(self) -> type:
        """RLlib's algorithm class with ``src.replay.TransitionReplay`` mixed in."""
        raise NotImplementedError

    def wire_new_stack(self, config) -> None:
        if self.replay == "transitions":
            config.algo_class = self.transition_replay_class()

    def check(self, axes) -> None:
        if self.replay not in REPLAYS:
            raise ConfigError(
                f"algo.replay={self.replay!r} is not a {self.name} replay; use one of {REPLAYS}."
            )
        if self.replay == "transitions" and self.n_step != 1 and axes.framework.NEW_API_STACK:
            raise ConfigError(
                "algo.replay=transitions stores 1-step transitions; use algo.n_step=1 or "
                "algo.replay=episodes (RLlib's episode buffer) for n-step returns."
            )
