"""DQN's and SAC's replay as flat arrays of transitions: RLlib's DQN loop with a faster buffer.

RLlib 2.60's new-stack DQN replays *episodes*: every sampled transition becomes a
``SingleAgentEpisode`` that the learner connectors turn back into a batch. Profiled on the
default env (bench/RESULTS.md), that bookkeeping is ~75% of a DQN training step, ~0.2 ms per
replayed transition. ``TransitionReplayBuffer`` stores (obs, action, reward, next obs,
terminated) rows in preallocated NumPy arrays and samples them proportionally to priority with a
vectorised sum tree; ``TransitionReplay`` is RLlib's DQN training step (SAC's too) with that buffer,
handing the learner a ready train batch (so no learner connector runs). The loss, the target
network, the masked module and the env runners are RLlib's and maskbench's, unchanged.

Select it with ``algo.replay=transitions`` (the default); ``algo.replay=episodes`` keeps RLlib's
episode buffer. Both use ``algo.replay_buffer_config``'s capacity, alpha and beta.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from ray.rllib.algorithms.dqn.dqn import DQN, calculate_rr_weights
from ray.rllib.algorithms.sac.sac import SAC
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns
from ray.rllib.execution.rollout_ops import synchronous_parallel_sample
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.metrics import (
    ENV_RUNNER_RESULTS,
    ENV_RUNNER_SAMPLING_TIMER,
    LEARNER_RESULTS,
    LEARNER_UPDATE_TIMER,
    NUM_AGENT_STEPS_SAMPLED_LIFETIME,
    NUM_ENV_STEPS_SAMPLED_LIFETIME,
    REPLAY_BUFFER_ADD_DATA_TIMER,
    REPLAY_BUFFER_SAMPLE_TIMER,
    SYNCH_WORKER_WEIGHTS_TIMER,
    TD_ERROR_KEY,
    TIMERS,
)

from src.errors import ConfigError


class SumTree:
    """Priorities in a complete binary tree stored as one array; batch updates and lookups."""

    def __init__(self, capacity: int):
        self.leaves = 1 << max(int(capacity) - 1, 1).bit_length()
        self.depth = self.leaves.bit_length() - 1
        self.nodes = np.zeros(2 * self.leaves)

    @property
    def total(self) -> float:
        return float(self.nodes[1])

    def set(self, index: np.ndarray, value: np.ndarray) -> None:
        node = np.asarray(index) + self.leaves
        self.nodes[node] = value
        for _ in range(self.depth):
            node = np.unique(node // 2)
            self.nodes[node] = self.nodes[2 * node] + self.nodes[2 * node + 1]

    def find(self, mass: np.ndarray) -> np.ndarray:
        """For each mass in [0, total): the leaf where the running sum of priorities passes it."""
        node = np.ones(len(mass), dtype=np.int64)
        mass = np.array(mass, dtype=np.float64)
        for _ in range(self.depth):
            left = self.nodes[2 * node]
            right = mass >= left
            mass -= left * right
            node = 2 * node + right
        return node - self.leaves


class TransitionReplayBuffer:
    """Prioritized replay (Schaul et al. 2016) of single transitions, as RLlib's buffers weigh them.

    New transitions get the largest priority seen so far; ``update_priorities`` sets
    ``max(|TD error|, 1e-12) ** alpha`` for the last sampled rows; importance weights are
    ``(N * P(i)) ** -beta`` divided by their maximum over the buffer. ``alpha=0`` is uniform replay.

    Memory: each row holds its observation and its next observation (masks included), about
    twice what an episode buffer keeps per step. The arrays are allocated at full capacity but
    zero pages cost nothing until rows are written, so memory grows with the rows stored. With
    large observations lower ``replay_buffer_config.capacity`` (chess: 47 KB per observation with
    its mask, so ~4.7 GB for 50k full rows).
    """

    def __init__(self, capacity: int, alpha: float = 0.6, seed: int | None = None):
        if capacity < 1 or alpha < 0:
            raise ConfigError(
                f"replay_buffer_config needs capacity >= 1 and alpha >= 0, got "
                f"capacity={capacity}, alpha={alpha}."
            )
        self.capacity, self.alpha = int(capacity), float(alpha)
        self.tree = SumTree(self.capacity)
        self.max_priority = 1.0
        self.size = self.next = 0
        self.rng = np.random.default_rng(seed)
        self.columns: dict[str, Any] | None = None
        self.last_sampled = np.zeros(0, dtype=np.int64)

    def __len__(self) -> int:
        return self.size

    def _allocate(self, row: dict[str, Any]) -> None:
        def empty(x):
            if isinstance(x, dict):
                return {k: empty(v) for k, v in x.items()}
            x = np.asarray(x)
            return np.zeros((self.capacity, *x.shape[1:]), dtype=x.dtype)

        self.columns = {k: empty(v) for k, v in row.items()}

    def add_transitions(self, rows: dict[str, Any]) -> None:
        """Append a batch of rows (a dict of arrays, obs columns may be dicts), FIFO past capacity."""
        n = len(rows[Columns.ACTIONS])
        if n == 0:
            return
        if self.columns is None:
            self._allocate(rows)
        if n > self.capacity:  # only the newest fit
            rows = _take(rows, np.arange(n - self.capacity, n))
            n = self.capacity
        index = (self.next + np.arange(n)) % self.capacity
        _put(self.columns, index, rows)
        self.tree.set(index, self.max_priority**self.alpha)
        self.next = int((self.next + n) % self.capacity)
        self.size = min(self.size + n, self.capacity)

    def add(self, episodes: list) -> None:
        """Add every transition of RLlib's sampled episode chunks (finished or not)."""
        rows = [transitions(e) for e in episodes if len(e) > 0]
        if rows:
            self.add_transitions(_concat(rows))

    def sample(self, n: int, beta: float = 0.4) -> dict[str, Any]:
        if self.size == 0:
            raise ValueError("Cannot sample from an empty replay buffer.")
        total = self.tree.total
        mass = (np.arange(n) + self.rng.random(n)) * (total / n)  # stratified, as in the paper
        index = np.minimum(self.tree.find(mass), self.size - 1)
        priorities = self.tree.nodes[self.tree.leaves : self.tree.leaves + self.size]
        p_min = priorities.min() / total
        p = self.tree.nodes[index + self.tree.leaves] / total
        weights = (p * self.size) ** (-beta) / (p_min * self.size) ** (-beta)
        self.last_sampled = index
        batch = _take(self.columns, index)
        batch["weights"] = weights.astype(np.float32)
        batch["n_step"] = np.ones(n, dtype=np.float32)
        return batch

    def update_priorities(self, td_errors: np.ndarray) -> None:
        td_errors = np.asarray(td_errors, dtype=np.float64)
        if td_errors.shape != self.last_sampled.shape:
            raise ValueError(
                f"{td_errors.shape[0]} TD errors for {self.last_sampled.shape[0]} sampled rows."
            )
        priority = np.maximum(np.abs(td_errors), 1e-12)
        self.tree.set(self.last_sampled, priority**self.alpha)
        self.max_priority = max(self.max_priority, float(priority.max()))

    def get_state(self) -> dict[str, Any]:
        """The stored rows, their priorities and the sampling generator (for checkpoints)."""
        return {
            "capacity": self.capacity,
            "alpha": self.alpha,
            "size": self.size,
            "next": self.next,
            "max_priority": self.max_priority,
            "tree": self.tree.nodes.copy(),
            "rng": self.rng.bit_generator.state,
            "rows": None if self.columns is None else _take(self.columns, np.arange(self.size)),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        if (state["capacity"], state["alpha"]) != (self.capacity, self.alpha):
            raise ConfigError(
                f"The checkpoint's replay buffer has capacity {state['capacity']} and alpha "
                f"{state['alpha']}, this run's {self.capacity} and {self.alpha}: resume with the "
                "replay_buffer_config the run was started with."
            )
        self.columns = None
        if state["rows"] is not None:
            self._allocate(state["rows"])
            _put(self.columns, np.arange(state["size"]), state["rows"])
        self.size, self.next = int(state["size"]), int(state["next"])
        self.max_priority = float(state["max_priority"])
        self.tree.nodes[:] = state["tree"]
        self.rng.bit_generator.state = state["rng"]


def transitions(episode) -> dict[str, Any]:
    """(obs, action, reward, next obs, terminated) rows of one RLlib episode chunk.

    A chunk's observations run one past its actions; only the chunk's last step can end the
    episode, and only termination (not truncation) stops the bootstrap.
    """
    obs = episode.get_observations()
    n = len(episode)
    terminated = np.zeros(n, dtype=bool)
    terminated[-1] = bool(episode.is_terminated)
    return {
        Columns.OBS: _slice(obs, slice(0, n)),
        Columns.NEXT_OBS: _slice(obs, slice(1, n + 1)),
        Columns.ACTIONS: np.asarray(episode.get_actions()),
        Columns.REWARDS: np.asarray(episode.get_rewards(), dtype=np.float32),
        Columns.TERMINATEDS: terminated,
    }


def _slice(x, s):
    return {k: _slice(v, s) for k, v in x.items()} if isinstance(x, dict) else np.asarray(x)[s]


def _take(x, index):
    return {k: _take(v, index) for k, v in x.items()} if isinstance(x, dict) else x[index]


def _put(dst, index, src) -> None:
    for k, v in src.items():
        if isinstance(v, dict):
            _put(dst[k], index, v)
        else:
            dst[k][index] = v


def _concat(rows: list[dict]) -> dict:
    first = rows[0]
    return {
        k: _concat([r[k] for r in rows])
        if isinstance(v, dict)
        else np.concatenate([r[k] for r in rows])
        for k, v in first.items()
    }


REPLAY_STATE = "maskbench_transition_replay"


class TransitionReplay:
    """Mix in before RLlib's DQN or an algorithm built on its training step (SAC): a
    ``TransitionReplayBuffer`` instead of episode replay.

    The training step is RLlib's DQN's, step for step: sample from the env runners, store, and once
    ``num_steps_sampled_before_learning_starts`` have been sampled, replay and update as often as
    ``training_intensity`` asks, feed the TD errors back as priorities, sync the weights. The
    learner gets the replayed rows as a train batch, so the DQN loss sees the same columns
    (``obs`` and ``new_obs`` with their action masks, ``weights``, ``n_step``) without the
    episode round trip (the loss here is DQN's or SAC's; both read the same columns).
    """

    def _create_local_replay_buffer_if_necessary(self, config):
        buffer = dict(config.get("replay_buffer_config") or {})
        return TransitionReplayBuffer(
            capacity=buffer.get("capacity", 50_000),
            alpha=buffer.get("alpha", 0.6) if "Prioritized" in str(buffer.get("type")) else 0.0,
            seed=self.config.seed,
        )

    # The buffer travels with the algorithm's state, so checkpoints (src.checkpoints) hold it.
    def get_state(self, *args, **kwargs):
        state = super().get_state(*args, **kwargs)
        if self.local_replay_buffer is not None:
            state[REPLAY_STATE] = self.local_replay_buffer.get_state()
        return state

    def set_state(self, state) -> None:
        super().set_state(state)
        if REPLAY_STATE in state and self.local_replay_buffer is not None:
            self.local_replay_buffer.set_state(state[REPLAY_STATE])

    def _training_step_new_api_stack(self):
        store_weight, sample_and_train_weight = calculate_rr_weights(self.config)
        for _ in range(store_weight):
            with self.metrics.log_time((TIMERS, ENV_RUNNER_SAMPLING_TIMER)):
                episodes, runner_results = synchronous_parallel_sample(
                    worker_set=self.env_runner_group,
                    concat=True,
                    sample_timeout_s=self.config.sample_timeout_s,
                    _uses_new_env_runners=True,
                    _return_metrics=True,
                )
            self.metrics.aggregate(runner_results, key=ENV_RUNNER_RESULTS)
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_ADD_DATA_TIMER)):
                self.local_replay_buffer.add(episodes)

        sampled = self.metrics.peek((ENV_RUNNER_RESULTS, NUM_ENV_STEPS_SAMPLED_LIFETIME), default=0)
        if sampled < self.config.num_steps_sampled_before_learning_starts:
            return
        timesteps = {
            NUM_ENV_STEPS_SAMPLED_LIFETIME: sampled,
            NUM_AGENT_STEPS_SAMPLED_LIFETIME: self.metrics.peek(
                (ENV_RUNNER_RESULTS, NUM_AGENT_STEPS_SAMPLED_LIFETIME), default={}
            ),
        }
        beta = self.config.replay_buffer_config.get("beta", 0.4)
        for i in range(sample_and_train_weight):
            with self.metrics.log_time((TIMERS, REPLAY_BUFFER_SAMPLE_TIMER)):
                rows = self.local_replay_buffer.sample(self.config.total_train_batch_size, beta)
                batch = MultiAgentBatch(
                    {DEFAULT_MODULE_ID: SampleBatch(rows)}, env_steps=len(rows["weights"])
                )
            with self.metrics.log_time((TIMERS, LEARNER_UPDATE_TIMER)):
                td_errors = self._update(batch, timesteps, last=i == sample_and_train_weight - 1)
            # One TD error per replayed row, in the batch's order (one learner, one pass).
            self.local_replay_buffer.update_priorities(np.asarray(td_errors).reshape(-1))
        with self.metrics.log_time((TIMERS, SYNCH_WORKER_WEIGHTS_TIMER)):
            self.env_runner_group.sync_weights(
                from_worker_or_learner_group=self.learner_group,
                policies={DEFAULT_MODULE_ID},
                inference_only=True,
            )

    defer_learner_reduce = True

    def _update(self, batch: MultiAgentBatch, timesteps: dict, last: bool):
        """One update of the learner on ``batch``; its TD errors.

        The learner's metrics are reduced (and handed to the algorithm's) once per training step,
        after its ``last`` update, not after each: with DQN's defaults (an update per 2 sampled env
        steps) a reduce costs ~1 ms of a ~9 ms update (bench/RESULTS.md). RLlib's IMPALA learner
        defers them the same way; the updates, and so what is learned, are unchanged (tested). A
        learner group of remote learners (``num_learners`` > 0), or ``defer_learner_reduce =
        False``, reduces after every update, as RLlib's DQN does.
        """
        learner = self.learner_group._learner  # the local learner, if there are no remote ones
        if learner is None or not self.defer_learner_reduce:
            results = self.learner_group.update(batch=batch, timesteps=timesteps)
            td_errors = results[0][DEFAULT_MODULE_ID].pop(TD_ERROR_KEY).peek()
            self.metrics.aggregate(results, key=LEARNER_RESULTS)
            return td_errors
        results = learner.update(batch=batch, timesteps=timesteps, _no_metrics_reduce=not last)
        if not last:  # this update's TD errors are the newest of the series logged since a reduce
            return learner.metrics.peek((DEFAULT_MODULE_ID, TD_ERROR_KEY))[-1]
        td_errors = results[DEFAULT_MODULE_ID].pop(TD_ERROR_KEY).peek()[-1]
        self.metrics.aggregate([results], key=LEARNER_RESULTS)
        return td_errors


class TransitionReplayDQN(TransitionReplay, DQN):
    """RLlib's DQN (new API stack) with transition replay."""


class TransitionReplaySAC(TransitionReplay, SAC):
    """RLlib's SAC (new API stack) with transition replay."""


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
