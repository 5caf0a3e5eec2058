"""Bring-your-own envs (env=custom, including the forum threads' envs), PettingZoo games against a
fixed opponent, and the start-up errors of malformed envs."""

from __future__ import annotations

import re

import numpy as np
import pytest
from gymnasium import spaces
from omegaconf import OmegaConf

from src.envs import make_env
from src.envs.adapters import InvalidActionError
from src.envs.pettingzoo_games import heuristic_move, wins
from src.errors import ConfigError
from src.train import train
from tests.conftest import ROOT, check_run, compose_cfg, metrics_rows

SEED_ENVS = str(ROOT / "tests" / "seed_envs")
# (class in tests/seed_envs/forum_envs.py, its mask key, its features key)
FORUM_ENVS = [
    ("ParametricActionsCartPole", "action_mask", "observations"),
    ("ParametricActionsCartPoleNoEmbeddings", "action_mask", "observation"),
    ("ParametricActionsCartPoleThread2", "valid_avail_actions_mask", "cart"),
]


@pytest.fixture
def seed_envs_on_path(monkeypatch):
    monkeypatch.syspath_prepend(SEED_ENVS)  # where `import gym` finds the old-API shim


def forum_cfg(cls: str, mask_key: str, obs_key: str, *overrides: str):
    return compose_cfg(
        [
            "env=custom",
            f"env.entry_point=forum_envs:{cls}",
            "+env.kwargs.max_avail_actions=6",
            f"env.mask_key={mask_key}",
            f"env.obs_key={obs_key}",
            *overrides,
        ]
    )


# -- the forum threads' envs, unchanged, through env=custom --------------------------------------
@pytest.mark.parametrize("cls,mask_key,obs_key", FORUM_ENVS)
def test_forum_envs_pass_the_start_up_checks_and_speak_gymnasium(
    seed_envs_on_path, cls, mask_key, obs_key
):
    cfg = forum_cfg(cls, mask_key, obs_key)
    check_run(cfg)
    env = make_env(OmegaConf.to_container(cfg.env, resolve=True))
    obs, info = env.reset(seed=0)  # their reset() takes no seed and returns the obs only
    assert set(obs) == {mask_key, obs_key} and obs[mask_key].dtype == np.float32
    assert obs[mask_key].sum() == 2 and env.observation_space.contains(obs)
    valid = int(np.flatnonzero(obs[mask_key])[0])
    result = env.step(valid)  # their step() returns 4 values
    assert len(result) == 5 and result[4]["invalid_action"] is False


def test_a_forum_env_in_raise_mode_names_the_fix_before_its_own_value_error(seed_envs_on_path):
    env = make_env(OmegaConf.to_container(forum_cfg(*FORUM_ENVS[0]).env, resolve=True))
    obs, _ = env.reset(seed=0)
    invalid = int(np.flatnonzero(obs["action_mask"] == 0)[0])
    with pytest.raises(InvalidActionError, match="env.invalid_action=penalty"):
        env.step(invalid)


def test_penalty_mode_never_passes_an_invalid_action_to_the_env(seed_envs_on_path):
    cfg = forum_cfg(*FORUM_ENVS[2], "env.invalid_action=penalty", "env.max_episode_steps=3")
    env = make_env(OmegaConf.to_container(cfg.env, resolve=True))
    obs, _ = env.reset(seed=0)
    invalid = int(np.flatnonzero(obs["valid_avail_actions_mask"] == 0)[0])
    for step in range(3):  # the forum env would raise ValueError if the action reached it
        nxt, reward, terminated, truncated, info = env.step(invalid)
        assert reward == -0.1 and info["invalid_action"] and not terminated
        np.testing.assert_array_equal(nxt["cart"], obs["cart"])  # the cart did not move
        assert truncated == (step == 2)  # the step limit still ends the episode


@pytest.mark.parametrize("cls,mask_key,obs_key", FORUM_ENVS[::2])
def test_forum_envs_train_with_masked_ppo_and_send_no_invalid_action(
    seed_envs_on_path, cls, mask_key, obs_key, tmp_path, ray_session
):
    cfg = forum_cfg(cls, mask_key, obs_key, "debug=smoke", "logger=none")
    summary = train(cfg, tmp_path)
    assert summary["env_steps"] >= 1000 and summary["invalid_actions_total"] == 0


# -- malformed envs -------------------------------------------------------------------------------
class _Env:
    """A minimal gymnasium-style env whose spaces and observations the tests bend."""

    def __init__(self, n=4, mask=None, mask_space=None, action_space=None, obs_space=None):
        mask = np.ones(n, np.float32) if mask is None else np.asarray(mask)
        self.mask = mask
        self.action_space = action_space or spaces.Discrete(n)
        self.observation_space = obs_space or spaces.Dict(
            {
                "action_mask": mask_space or spaces.Box(0, 1, (n,), np.float32),
                "observations": spaces.Box(-1, 1, (3,), np.float32),
            }
        )

    def reset(self, seed=None, options=None):
        return {"action_mask": self.mask, "observations": np.zeros(3, np.float32)}, {}

    def step(self, action):
        return self.reset()[0], 0.0, False, False, {}


MALFORMED = {
    "no_mask": (
        dict(obs_space=spaces.Dict({"observations": spaces.Box(-1, 1, (3,))})),
        "has no 'action_mask' entry",
    ),
    "mask_shape": (dict(mask_space=spaces.Box(0, 1, (5,), np.float32)), "needs (4,)"),
    "mask_dtype": (dict(mask_space=spaces.Discrete(4)), "Box(0, 1, (4,)) or MultiBinary(4)"),
    "mask_bounds": (dict(mask_space=spaces.Box(0, 0.5, (4,), np.float32)), "holds 0 and 1"),
    "all_zero": (dict(mask=np.zeros(4, np.float32)), "every action invalid"),
    "not_0_1": (dict(mask=np.array([1, 0.5, 0, 1], np.float32)), "other than 0/1"),
    "box_actions": (dict(action_space=spaces.Box(-1, 1, (2,))), "Discrete(n)"),
    "no_dict": (dict(obs_space=spaces.Box(-1, 1, (3,))), "not a Dict"),
}


def malformed_env(kind: str):
    return _Env(**MALFORMED[kind][0])


@pytest.mark.parametrize("kind", sorted(MALFORMED))
def test_malformed_env_fails_at_start_up_naming_the_problem(kind):
    cfg = compose_cfg(["env=custom", "env.entry_point=tests.test_envs_adapters:malformed_env"])
    with pytest.raises(ConfigError, match=re.escape(MALFORMED[kind][1])):
        check_run(cfg, kwargs={"kind": kind})


def test_a_multibinary_int_mask_is_accepted_and_served_as_float():
    cfg = compose_cfg(["env=custom", "env.entry_point=tests.test_envs_adapters:_Env"])
    kwargs = {"mask": np.array([1, 0, 1, 1], np.int8), "mask_space": spaces.MultiBinary(4)}
    check_run(cfg, kwargs=kwargs)
    obs, _ = make_env({**OmegaConf.to_container(cfg.env, resolve=True), "kwargs": kwargs}).reset()
    assert obs["action_mask"].dtype == np.float32


def test_custom_env_errors_name_the_fix():
    cfg = compose_cfg(["env=custom", "env.entry_point=no_such_module:Env"])
    with pytest.raises(ConfigError, match="cannot import 'no_such_module'"):
        make_env(OmegaConf.to_container(cfg.env, resolve=True))
    cfg = compose_cfg(
        ["env=custom", "env.entry_point=tests.test_envs_adapters:_Env", "model=embedding"]
    )
    with pytest.raises(ConfigError, match="embeddings_source=learned"):
        check_run(cfg)


# -- PettingZoo games against a fixed opponent -----------------------------------------------------
GAMES = {"connect_four": 7, "tictactoe": 9, "chess": 4672}


def game(name: str, *overrides: str):
    cfg = compose_cfg([f"env={name}", *overrides])
    return make_env(OmegaConf.to_container(cfg.env, resolve=True))


@pytest.mark.parametrize("name,n", sorted(GAMES.items()))
def test_games_mask_changes_with_the_state_and_the_opponent_moves_legally(name, n):
    env = game(name, "env.opponent=random", "env.agent_seat=first")
    obs, _ = env.reset(seed=0)
    assert env.action_space.n == n and env.observation_space.contains(obs)
    masks, rng, done, reward = [obs["action_mask"].copy()], np.random.default_rng(0), False, 0.0
    while not done:
        action = int(rng.choice(np.flatnonzero(obs["action_mask"])))
        obs, reward, terminated, truncated, info = env.step(action)
        assert not info["invalid_action"]
        done = terminated or truncated
        masks.append(obs["action_mask"].copy())
        if name == "connect_four":  # a column is legal while its top cell is empty
            top = obs["observations"].reshape(6, 7, 2)[0].sum(-1)
            np.testing.assert_array_equal(obs["action_mask"], top == 0)
        if name == "chess" and len(masks) > 30:
            break
    if name != "connect_four":  # a connect-four game can end before a column fills
        assert any(not np.array_equal(masks[0], m) for m in masks[1:])
    if name != "chess":
        assert done and reward in (-1.0, 0.0, 1.0)


def test_playing_second_starts_after_the_opponent_has_moved():
    env = game("tictactoe", "env.agent_seat=second")
    obs, _ = env.reset(seed=0)
    board = obs["observations"].reshape(3, 3, 2)
    assert board[..., 0].sum() == 0 and board[..., 1].sum() == 1
    assert obs["action_mask"].sum() == 8


@pytest.mark.parametrize("mode", ["raise", "terminate"])
def test_an_illegal_move_follows_the_invalid_action_mode(mode):
    env = game("tictactoe", f"env.invalid_action={mode}", "env.agent_seat=first")
    env.reset(seed=0)
    obs, *_ = env.step(0)
    assert obs["action_mask"][0] == 0  # the agent's own piece is there now
    if mode == "raise":
        with pytest.raises(InvalidActionError, match="env.invalid_action=penalty"):
            env.step(0)
    else:
        _, reward, terminated, _, info = env.step(0)
        assert terminated and reward == -0.1 and info["invalid_action"]


def planes(own: list[tuple[int, int]], other: list[tuple[int, int]], shape) -> dict:
    board = np.zeros((*shape, 2), np.int8)
    for r, c in own:
        board[r, c, 0] = 1
    for r, c in other:
        board[r, c, 1] = 1
    return board


def test_heuristic_opponent_wins_first_then_blocks():
    rng = np.random.default_rng(0)
    # tic-tac-toe, row-major cells: the mover has (0,0),(0,1): cell 2 wins.
    board = planes([(0, 0), (0, 1)], [(1, 0), (1, 1)], (3, 3))
    mask = (board.sum(-1) == 0).reshape(-1).astype(np.int8)
    assert heuristic_move("tictactoe", 3, {"observation": board, "action_mask": mask}, rng) == 2
    # no win of its own: block the other's row 1 at cell 5.
    board = planes([(0, 0), (2, 2)], [(1, 0), (1, 1)], (3, 3))
    mask = (board.sum(-1) == 0).reshape(-1).astype(np.int8)
    assert heuristic_move("tictactoe", 3, {"observation": board, "action_mask": mask}, rng) == 5
    # connect four, gravity: the other has three stacked in column 3 (rows 5, 4, 3): block on top.
    board = planes([(5, 0), (5, 1)], [(5, 3), (4, 3), (3, 3)], (6, 7))
    mask = np.ones(7, np.int8)
    assert heuristic_move("connect_four", 4, {"observation": board, "action_mask": mask}, rng) == 3
    assert wins(np.eye(4, dtype=bool), 4) and not wins(np.eye(3, dtype=bool), 4)


@pytest.mark.parametrize("name", ["connect_four", "tictactoe", "chess"])
@pytest.mark.parametrize(
    "model",
    [
        ["model=masked"],
        ["model=unmasked", "env.invalid_action=penalty"],
        ["model=embedding", "model.embeddings_source=learned"],
        ["model=naive_masked"],
    ],
    ids=["masked", "unmasked", "embedding", "naive_masked"],
)
def test_every_model_trains_on_every_game(name, model, tmp_path, ray_session):
    # chess steps cost ~10 ms (two moves and a 7104-wide board): one small batch is enough.
    small = ["algo.train_batch_size_per_learner=256", "algo.minibatch_size=128"]
    steps = ["stop.env_steps=200", *small] if name == "chess" else []
    cfg = compose_cfg([f"env={name}", "debug=smoke", "logger=none", *model, *steps])
    summary = train(cfg, tmp_path)
    assert summary["episodes"] > 0 or name == "chess"
    rows = metrics_rows(tmp_path)
    assert "diagnostics/p_invalid" in rows[-1] or summary["episodes"] == 0
    if model[0] != "model=unmasked":
        assert summary["invalid_actions_total"] == 0
