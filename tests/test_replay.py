"""DQN's transition replay (src/replay.py): the rows it stores, how it samples and weighs them."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

from src.algos import build_algo_config
from src.envs import make_env
from src.errors import ConfigError
from src.replay import SumTree, TransitionReplayBuffer, TransitionReplayDQN, transitions
from tests.conftest import compose_cfg


def rows(n: int, start: int = 0) -> dict:
    """n transitions whose every column encodes the row number (obs i -> next obs i + 0.5)."""
    i = np.arange(start, start + n)
    return {
        Columns.OBS: {"observations": i[:, None] * np.ones((1, 4)), "action_mask": np.ones((n, 3))},
        Columns.NEXT_OBS: {
            "observations": (i[:, None] + 0.5) * np.ones((1, 4)),
            "action_mask": np.ones((n, 3)),
        },
        Columns.ACTIONS: i % 3,
        Columns.REWARDS: i.astype(np.float32),
        Columns.TERMINATEDS: np.zeros(n, dtype=bool),
    }


def test_sum_tree_finds_the_leaf_whose_prefix_sum_interval_holds_the_mass():
    rng = np.random.default_rng(0)
    tree = SumTree(37)
    p = rng.random(37)
    tree.set(np.arange(37), p)
    tree.set(np.array([5, 5, 9]), np.array([0.0, 2.0, 0.0]))  # repeated index: last value wins
    p[5], p[9] = 2.0, 0.0
    assert tree.total == pytest.approx(p.sum())
    mass = rng.random(1000) * p.sum()
    expected = np.searchsorted(np.cumsum(p), mass, side="right")
    np.testing.assert_array_equal(tree.find(mass), expected)
    assert 9 not in tree.find(mass)  # zero priority: never sampled


def test_buffer_keeps_the_newest_rows_and_samples_only_stored_ones():
    buf = TransitionReplayBuffer(capacity=10, alpha=0.0, seed=0)
    buf.add_transitions(rows(7))
    buf.add_transitions(rows(6, start=7))  # 13 rows into 10 slots: rows 0-2 overwritten
    assert len(buf) == 10
    batch = buf.sample(500)
    seen = set(batch[Columns.REWARDS].astype(int))
    assert seen == set(range(3, 13))
    # Every column of a sampled row comes from the same stored transition.
    np.testing.assert_array_equal(batch[Columns.OBS]["observations"][:, 0], batch[Columns.REWARDS])
    np.testing.assert_array_equal(
        batch[Columns.NEXT_OBS]["observations"][:, 0], batch[Columns.REWARDS] + 0.5
    )
    np.testing.assert_array_equal(batch[Columns.ACTIONS], batch[Columns.REWARDS].astype(int) % 3)
    np.testing.assert_array_equal(batch["weights"], 1.0)  # uniform: no correction
    np.testing.assert_array_equal(batch["n_step"], 1.0)


def test_priorities_follow_td_errors_and_weights_undo_the_bias():
    alpha, beta = 0.6, 0.4
    buf = TransitionReplayBuffer(capacity=8, alpha=alpha, seed=0)
    buf.add_transitions(rows(8))
    buf.sample(8)
    td = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 9.0])
    # Sampled indices are what update_priorities refers to; make them 0..7 in order.
    buf.last_sampled = np.arange(8)
    buf.update_priorities(td)
    p = td**alpha / (td**alpha).sum()
    batch = buf.sample(20_000, beta=beta)
    freq = np.bincount(batch[Columns.REWARDS].astype(int), minlength=8) / 20_000
    np.testing.assert_allclose(freq, p, atol=0.01)
    expected_w = (8 * p) ** -beta / (8 * p.min()) ** -beta
    row = batch[Columns.REWARDS].astype(int)
    np.testing.assert_allclose(batch["weights"], expected_w[row], rtol=1e-5)
    # New rows enter at the largest priority seen so far (9, not 1).
    buf.add_transitions(rows(1, start=100))
    assert buf.tree.nodes[buf.tree.leaves + 0] == pytest.approx(9.0**alpha)


def test_update_priorities_refuses_td_errors_that_do_not_match_the_sample():
    buf = TransitionReplayBuffer(capacity=8, seed=0)
    buf.add_transitions(rows(8))
    buf.sample(4)
    with pytest.raises(ValueError, match="4 sampled rows"):
        buf.update_priorities(np.ones(3))


def sampled_episodes(ray_session, iters: int = 30):
    cfg = compose_cfg(["algo=dqn", "resources.num_envs_per_env_runner=4"])
    algo = build_algo_config(cfg).build_algo()
    try:
        episodes = [e for _ in range(iters) for e in algo.env_runner.sample()]
        learner = algo.learner_group._learner  # the learner's own connector pipeline
        rllib = learner._learner_connector(
            rl_module=learner.module, batch={}, episodes=episodes, shared_data={}
        )[DEFAULT_MODULE_ID]
    finally:
        algo.stop()
    return episodes, rllib


def test_transitions_are_the_rows_rllibs_episode_path_gives_the_learner(ray_session):
    episodes, rllib = sampled_episodes(ray_session)
    assert any(e.is_terminated for e in episodes) and any(not e.is_done for e in episodes)
    ours = [transitions(e) for e in episodes]

    def flat(x):
        return np.concatenate([np.asarray(v).reshape(len(v), -1) for v in x])

    for col in (Columns.ACTIONS, Columns.REWARDS, Columns.TERMINATEDS):
        np.testing.assert_array_equal(flat([r[col] for r in ours]).ravel(), np.asarray(rllib[col]))
    for col in (Columns.OBS, Columns.NEXT_OBS):
        for key in ("observations", "action_mask"):
            np.testing.assert_array_equal(
                flat([r[col][key] for r in ours]), flat([np.asarray(rllib[col][key])])
            )


def test_transitions_bootstrap_through_truncation_but_not_termination():
    env = make_env(OmegaConf.to_container(compose_cfg().env, resolve=True))
    from ray.rllib.env.single_agent_episode import SingleAgentEpisode

    obs, _ = env.reset(seed=0)
    for end in ("terminated", "truncated"):
        ep = SingleAgentEpisode(observations=[obs], observation_space=env.observation_space)
        for step in range(3):
            ep.add_env_step(
                obs,
                1,
                1.0,
                terminated=end == "terminated" and step == 2,
                truncated=end == "truncated" and step == 2,
            )
        ep.to_numpy()
        assert transitions(ep)[Columns.TERMINATEDS].tolist() == [False, False, end == "terminated"]


@pytest.mark.parametrize(
    "overrides, fix",
    [
        (["algo.replay=fifo"], "use one of"),
        (["algo.n_step=3"], "algo.n_step=1 or algo.replay=episodes"),
    ],
)
def test_bad_replay_settings_name_the_fix(overrides, fix, ray_session):
    with pytest.raises(ConfigError, match=fix):
        build_algo_config(compose_cfg(["algo=dqn", *overrides])).build_algo()


def test_replay_choice_picks_the_algorithm_class():
    assert build_algo_config(compose_cfg(["algo=dqn"])).algo_class is TransitionReplayDQN
    episodes = build_algo_config(compose_cfg(["algo=dqn", "algo.replay=episodes"]))
    assert episodes.algo_class.__name__ == "DQN"


@pytest.mark.parametrize("replay", ["transitions", "episodes"])
def test_both_replays_train_and_store_every_sampled_step(replay, ray_session):
    cfg = compose_cfg(
        ["algo=dqn", f"algo.replay={replay}", "algo.num_steps_sampled_before_learning_starts=200"]
    )
    algo = build_algo_config(cfg).build_algo()
    try:
        for _ in range(2):
            result = algo.train()
        learner = result["learners"][DEFAULT_MODULE_ID]
        sampled = result["env_runners"]["num_env_steps_sampled_lifetime"]
        assert np.isfinite(learner["qf_loss"]) and learner["num_module_steps_trained"] > 0
        stored = (
            len(algo.local_replay_buffer)
            if replay == "transitions"
            else algo.local_replay_buffer.get_num_timesteps()
        )
        assert stored == sampled
    finally:
        algo.stop()


@pytest.mark.parametrize("algo_name", ["dqn", "sac"])
def test_reducing_the_learners_metrics_once_per_step_learns_exactly_what_reducing_each_update_does(
    algo_name, ray_session
):
    cfg = compose_cfg([f"algo={algo_name}", "algo.num_steps_sampled_before_learning_starts=200"])
    ends = []
    for defer in (True, False):  # one after the other: a seeded build resets the global RNGs
        algo = build_algo_config(cfg).build_algo()
        algo.defer_learner_reduce = defer  # False: RLlib DQN's way, a reduce after every update
        try:
            result = [algo.train() for _ in range(3)][-1]
            ends.append(
                {
                    "trained": result["learners"][DEFAULT_MODULE_ID][
                        "num_module_steps_trained_lifetime"
                    ],
                    "weights": algo.learner_group._learner.module[DEFAULT_MODULE_ID].state_dict(),
                    "priorities": algo.local_replay_buffer.tree.nodes.copy(),
                }
            )
        finally:
            algo.stop()
    deferred, each = ends
    assert deferred["trained"] == each["trained"] > 20 * 1000  # many updates per training step
    for name, value in deferred["weights"].items():
        np.testing.assert_array_equal(value.numpy(), each["weights"][name].numpy(), err_msg=name)
    # The priorities came from each update's own TD errors in both.
    np.testing.assert_array_equal(deferred["priorities"], each["priorities"])
    assert len(np.unique(deferred["priorities"])) > 100
