"""Recorded episodes (``src.evaluate --record``): every env draws its state, the caption shows the
action and the mask, and the GIF has one frame per step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from src.envs import make_env, render
from src.envs.adapters import MaskedEnvAdapter
from src.errors import ConfigError
from src.evaluation import Evaluator
from tests.conftest import compose_cfg


def env_cfg(*overrides: str) -> dict:
    return OmegaConf.to_container(compose_cfg(list(overrides)).env, resolve=True)


def colour_in(frame: np.ndarray, colour: tuple[int, int, int], rows=slice(None)) -> bool:
    return bool((frame[rows] == np.array(colour, dtype=frame.dtype)).all(axis=-1).any())


def first_valid(batch: dict[str, np.ndarray]) -> np.ndarray:
    return batch["action_mask"].argmax(axis=1)


def test_cartpole_frames_follow_the_pole_and_the_caption_marks_invalid_actions(tmp_path):
    cfg = env_cfg("env.invalid_action=penalty", "env.layout=fixed")
    env = make_env(cfg)
    mask = env.reset(seed=0)[0]["action_mask"]
    invalid_slot = int(np.flatnonzero(mask == 0)[0])
    # Slot 0..5 in turn: the invalid ones are penalised steps that leave the cart where it was.
    cycle = iter(range(10_000))
    evaluator = Evaluator(cfg, episodes=2)
    played = evaluator.episodes(
        lambda batch: np.full(len(batch["action_mask"]), next(cycle) % 6),
        "action_mask",
        record=True,
    )
    frames = played["frames"]
    assert len(frames) == played["lengths"][0] + 1  # the reset, then one per step
    height = frames[0].shape[0]
    caption = slice(height - 46, height)
    image_rows = slice(0, height - 46)
    steps = [(i % 6, (mask[i % 6] == 0)) for i in range(len(frames) - 1)]
    for frame, (_, invalid) in zip(frames[1:], steps, strict=True):
        assert colour_in(frame, render.INVALID_CHOSEN, caption) == bool(invalid)
    assert steps[invalid_slot][1]
    # A valid push moves the pole: the picture above the caption changes.
    pushes = [i for i, (_, bad) in enumerate(steps) if not bad]
    before, after = frames[pushes[0]][image_rows], frames[pushes[-1] + 1][image_rows]
    assert not np.array_equal(before, after)
    render.save_gif(frames, tmp_path / "episode.gif")
    with Image.open(tmp_path / "episode.gif") as gif:
        assert gif.n_frames == len(frames)
    evaluator.close()


@pytest.mark.parametrize("game", ["tictactoe", "connect_four", "chess"])
def test_games_draw_both_sides_pieces(game):
    cfg = env_cfg(f"env={game}", "env.agent_seat=second")
    evaluator = Evaluator(cfg, episodes=1)
    played = evaluator.episodes(first_valid, "action_mask", record=True)
    first, last = played["frames"][0], played["frames"][-1]
    # The opponent moved first (red); by the end the agent's pieces (blue) are on the board too.
    assert colour_in(first, render.OPPONENT) and colour_in(last, render.AGENT)
    assert len(played["frames"]) == played["lengths"][0] + 1
    evaluator.close()


def test_an_env_without_an_image_names_the_fix():
    class NoRender(gym.Env):
        observation_space = gym.spaces.Dict(
            {
                "observations": gym.spaces.Box(-1, 1, (2,)),
                "action_mask": gym.spaces.Box(0, 1, (3,)),
            }
        )
        action_space = gym.spaces.Discrete(3)

    env = MaskedEnvAdapter(
        NoRender(),
        obs_key="observations",
        mask_key="action_mask",
        embeddings_key=None,
        invalid_action="penalty",
        invalid_penalty=-0.1,
        max_episode_steps=None,
        name="my_env",
    )
    with pytest.raises(ConfigError, match="render_mode='rgb_array'"):
        env.render()
