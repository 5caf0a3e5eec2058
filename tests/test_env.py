"""ParametricCartPole: layouts, embeddings and invalid-action modes."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from src.envs.parametric_cartpole import INVALID_ACTION_ERROR, LAYOUTS, ParametricCartPole
from src.errors import ConfigError


def env(**cfg) -> ParametricCartPole:
    return ParametricCartPole(cfg)


def valid_slots(obs) -> tuple[int, ...]:
    return tuple(np.flatnonzero(obs["action_mask"]))


def invalid_slot(e: ParametricCartPole) -> int:
    return next(a for a in range(e.max_avail_actions) if a not in (e.left_idx, e.right_idx))


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("embeddings", [False, True])
def test_passes_gymnasium_env_checker(layout, embeddings):
    # The checker steps random actions, so use a mode that accepts invalid ones.
    e = env(layout=layout, embeddings=embeddings, invalid_action="penalty")
    check_env(e, skip_render_check=True)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_mask_marks_exactly_left_and_right(layout):
    e = env(layout=layout, max_avail_actions=8)
    obs, _ = e.reset(seed=3)
    for step in range(20):
        assert obs["action_mask"].shape == (8,) and obs["action_mask"].dtype == np.float32
        assert valid_slots(obs) == tuple(sorted((e.left_idx, e.right_idx)))
        obs, _, term, _, _ = e.step(e.left_idx if step % 2 else e.right_idx)
        if term:
            obs, _ = e.reset()


def layouts_seen(layout: str, instances: int, episodes: int, steps: int) -> dict[str, set]:
    """Which (left, right) pairs appear across instances, across episodes, within an episode."""
    seen = {"instances": set(), "episodes": set(), "steps": set()}
    for i in range(instances):
        e = env(layout=layout, seed=i)
        e.reset()
        seen["instances"].add((e.left_idx, e.right_idx))
        for ep in range(episodes):
            e.reset()
            seen["episodes"].add((e.left_idx, e.right_idx))
            for _ in range(steps):
                _, _, term, trunc, _ = e.step(e.right_idx if ep % 2 else e.left_idx)
                seen["steps"].add((e.left_idx, e.right_idx))
                if term or trunc:
                    break
    return seen


def test_fixed_layout_is_the_same_everywhere_and_follows_layout_seed():
    seen = layouts_seen("fixed", instances=5, episodes=5, steps=5)
    assert len(seen["instances"] | seen["episodes"] | seen["steps"]) == 1
    pairs = {
        (e.left_idx, e.right_idx) for e in (env(layout="fixed", layout_seed=s) for s in range(20))
    }
    assert len(pairs) > 1


def test_per_instance_layout_differs_between_instances_not_episodes():
    seen_eps = [layouts_seen("per_instance", instances=1, episodes=6, steps=5) for _ in range(3)]
    assert all(len(s["episodes"]) == 1 for s in seen_eps)
    assert len(layouts_seen("per_instance", instances=12, episodes=1, steps=1)["instances"]) > 1


def test_per_episode_layout_changes_at_reset_only():
    e = env(layout="per_episode")
    pairs = set()
    for _ in range(12):
        e.reset()
        pair = (e.left_idx, e.right_idx)
        pairs.add(pair)
        for _ in range(5):
            e.step(e.left_idx)
            assert (e.left_idx, e.right_idx) == pair
    assert len(pairs) > 1


def test_per_step_layout_changes_within_an_episode():
    assert len(layouts_seen("per_step", instances=1, episodes=1, steps=8)["steps"]) > 1


def test_per_step_mask_moves_the_mask_but_never_a_slot_s_meaning():
    """per_step_mask: the valid pair changes within an episode, but a slot that pushed left once
    always pushes left, in every instance; half the slots mean LEFT."""
    meaning: dict[int, int] = {}
    pairs = set()
    for seed in (0, 1):
        e = env(layout="per_step_mask", max_avail_actions=10, seed=seed)
        e.reset(seed=seed)
        assert sorted(np.bincount(e.slot_meaning)) == [5, 5]
        for step in range(40):
            pairs.add((e.left_idx, e.right_idx))
            slot = e.left_idx if step % 2 else e.right_idx
            before = e.cartpole.state[1]  # cart velocity
            _, _, terminated, _, _ = e.step(slot)
            direction = int(e.cartpole.state[1] > before)  # 0: LEFT, 1: RIGHT
            assert meaning.setdefault(slot, direction) == direction
            if terminated:
                e.reset()
    assert len(pairs) > 5 and len(meaning) == 10


def test_left_and_right_keep_their_meaning():
    """Slot `left_idx` pushes the cart left (CartPole action 0) whatever the layout."""
    for layout in ("fixed", "per_step", "per_step_mask"):
        e = env(layout=layout, seed=1)
        e.reset()
        for _ in range(5):
            before = e.cartpole.state[1]  # cart velocity
            e.step(e.left_idx)
            assert e.cartpole.state[1] < before
            before = e.cartpole.state[1]
            e.step(e.right_idx)
            assert e.cartpole.state[1] > before


def test_embeddings_mark_left_and_right_and_distractors_elsewhere():
    e = env(layout="per_step", embeddings=True, embed_dim=5, max_avail_actions=7)
    obs, _ = e.reset(seed=0)
    for _ in range(5):
        emb = obs["avail_actions"]
        assert emb.shape == (7, 5)
        np.testing.assert_allclose(emb[e.left_idx], e.left_right_embeddings[0])
        np.testing.assert_allclose(emb[e.right_idx], e.left_right_embeddings[1])
        others = np.delete(emb, [e.left_idx, e.right_idx], axis=0)
        assert not np.isclose(others[:, None, :], e.left_right_embeddings[None]).all(-1).any()
        obs, *_ = e.step(e.right_idx if len(obs) % 2 else e.left_idx)


def test_left_right_embeddings_are_shared_by_all_instances():
    a, b = env(embeddings=True, seed=1), env(embeddings=True, seed=2)
    np.testing.assert_array_equal(a.left_right_embeddings, b.left_right_embeddings)


def test_no_embeddings_key_when_embeddings_off():
    obs, _ = env(embeddings=False).reset(seed=0)
    assert set(obs) == {"action_mask", "observations"}


def test_raise_mode_keeps_the_seeds_error():
    e = env(invalid_action="raise")
    e.reset(seed=0)
    with pytest.raises(ValueError, match=INVALID_ACTION_ERROR):
        e.step(invalid_slot(e))


def test_penalty_mode_penalises_and_does_not_move_the_cart():
    e = env(invalid_action="penalty", invalid_penalty=-0.5, max_episode_steps=10)
    obs, _ = e.reset(seed=0)
    for step in range(1, 11):
        nxt, reward, term, trunc, info = e.step(invalid_slot(e))
        assert reward == -0.5 and info["invalid_action"] and not term
        np.testing.assert_array_equal(nxt["observations"], obs["observations"])
        assert trunc == (step == 10)  # invalid steps count towards the time limit
    e.reset(seed=0)
    _, reward, _, _, info = e.step(e.left_idx)
    assert reward == 1.0 and not info["invalid_action"]


def test_terminate_mode_ends_the_episode_with_the_penalty():
    e = env(invalid_action="terminate", invalid_penalty=-1.0)
    e.reset(seed=0)
    _, reward, term, trunc, info = e.step(invalid_slot(e))
    assert (reward, term, trunc, info["invalid_action"]) == (-1.0, True, False, True)


def test_seeded_resets_are_reproducible():
    runs = []
    for _ in range(2):
        e = env(layout="per_step", embeddings=True)
        obs, _ = e.reset(seed=42)
        traj = [obs["avail_actions"].copy()]
        for step in range(5):
            obs, *_ = e.step(e.left_idx if step % 2 else e.right_idx)
            traj.append(obs["avail_actions"].copy())
        runs.append(np.stack(traj))
    np.testing.assert_array_equal(*runs)


@pytest.mark.parametrize(
    "cfg,words",
    [
        ({"layout": "shuffled"}, "env.layout"),
        ({"invalid_action": "ignore"}, "env.invalid_action"),
        ({"max_avail_actions": 1}, "max_avail_actions"),
    ],
)
def test_bad_env_config_names_the_key(cfg, words):
    with pytest.raises(ConfigError, match=words):
        env(**cfg)
