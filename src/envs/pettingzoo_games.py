"""Two-player PettingZoo classic games as single-agent envs against a fixed opponent.

``env=connect_four`` / ``env=tictactoe`` / ``env=chess`` (``connect_four_v3``, ``tictactoe_v3``,
``chess_v6``: 7, 9 and 4672 actions). The legal-move mask changes with every state. The agent takes
a seat (``agent_seat``: first, second or random per episode); the opponent plays the other:

* ``random``    a uniformly random legal move;
* ``heuristic`` (connect four, tic-tac-toe) win now if it can, else block the agent's immediate
                win, else random: a fair test that a policy learned to look one move ahead.

Reward: +1 win, -1 loss, 0 draw, at the end of the game (PettingZoo's). An illegal move by the
agent follows ``env.invalid_action`` (see ``adapters.MaskedEnvAdapter``); the opponent only ever
plays legal moves.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from omegaconf import MISSING

from src.envs.adapters import MaskedEnvAdapter
from src.envs.base import EnvConfig
from src.errors import ConfigError

# game -> (PettingZoo module, pieces in a row that win: the heuristic opponent needs it)
GAMES = {
    "connect_four": ("pettingzoo.classic.connect_four_v3", 4),
    "tictactoe": ("pettingzoo.classic.tictactoe_v3", 3),
    "chess": ("pettingzoo.classic.chess_v6", None),
}
OPPONENTS = ("random", "heuristic")
OUTCOME = "outcome"  # info key of a game's last step: "win", "loss" or "draw"
SEATS = ("first", "second", "random")


def wins(plane: np.ndarray, k: int) -> bool:
    """Whether a 2-D 0/1 board plane holds k in a row (row, column or diagonal)."""
    rows, cols = plane.shape
    for dr, dc in ((0, 1), (1, 0), (1, 1), (1, -1)):
        for r in range(rows):
            for c in range(cols):
                end_r, end_c = r + dr * (k - 1), c + dc * (k - 1)
                if not (0 <= end_r < rows and 0 <= end_c < cols):
                    continue
                if all(plane[r + dr * i, c + dc * i] for i in range(k)):
                    return True
    return False


def place(game: str, plane: np.ndarray, occupied: np.ndarray, action: int) -> np.ndarray:
    """The plane after a piece goes to ``action`` (a column in connect four, a cell otherwise)."""
    plane = plane.copy()
    if game == "connect_four":
        row = max(r for r in range(plane.shape[0]) if not occupied[r, action])
        plane[row, action] = 1
    else:
        plane[action // plane.shape[1], action % plane.shape[1]] = 1
    return plane


def heuristic_move(game: str, k: int, obs: dict, rng: np.random.Generator) -> int:
    """Win, else block, else random; ``obs`` is the mover's observation (own pieces first)."""
    board, legal = obs["observation"], np.flatnonzero(obs["action_mask"])
    own, other = board[..., 0].astype(bool), board[..., 1].astype(bool)
    occupied = own | other
    for plane in (own, other):  # first a move that wins, then one that stops the other winning
        for action in legal:
            if wins(place(game, plane, occupied, int(action)), k):
                return int(action)
    return int(rng.choice(legal))


@dataclass
class PettingZooGameConfig(EnvConfig):
    """``env=connect_four|tictactoe|chess``: a PettingZoo classic game against a fixed opponent;
    the legal-move mask changes every state. Return: +1 win, -1 loss, 0 draw."""

    name: str = MISSING  # connect_four | tictactoe | chess
    opponent: str = "random"  # random | heuristic (wins, else blocks, else random; not chess)
    agent_seat: str = "random"  # first | second | random (per episode)
    min_return: float | None = -1.0  # loss (a penalty can go below)
    max_return: float | None = 1.0  # win
    return_thresholds: list[float] = field(default_factory=lambda: [0.0, 0.5, 0.8])

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.name not in GAMES:
            raise ConfigError(f"Unknown game {self.name!r}; known: {sorted(GAMES)}.")
        if self.opponent not in OPPONENTS:
            raise ConfigError(f"env.opponent={self.opponent!r}: choose one of {OPPONENTS}.")
        if self.opponent == "heuristic" and GAMES[self.name][1] is None:
            raise ConfigError(
                f"env={self.name} has no heuristic opponent; use env.opponent=random."
            )
        if self.agent_seat not in SEATS:
            raise ConfigError(f"env.agent_seat={self.agent_seat!r}: choose one of {SEATS}.")

    def env_class(self) -> type:
        return PettingZooGame


class VsOpponent(gym.Env):
    """The raw game for one seat: Dict(observations=board planes, action_mask=legal moves)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 2}
    render_mode = "rgb_array"

    def __init__(self, cfg: PettingZooGameConfig):
        self.game, self.opponent, self.seat = cfg.name, cfg.opponent, cfg.agent_seat
        module, self.k = GAMES[self.game]
        try:
            self.aec = importlib.import_module(module).env()
        except ImportError as err:
            raise ConfigError(
                f"env={self.game} needs PettingZoo's classic games ({err}); `make install` "
                "installs them."
            ) from None
        first = self.aec.possible_agents[0]
        space = self.aec.observation_space(first)
        self.observation_space = spaces.Dict(
            {"observations": space["observation"], "action_mask": space["action_mask"]}
        )
        self.action_space = self.aec.action_space(first)
        self.me = first

    def _game_over(self) -> bool:
        return bool(self.aec.terminations[self.me] or self.aec.truncations[self.me])

    def _observe(self) -> dict[str, np.ndarray]:
        obs = self.aec.observe(self.me)
        return {"observations": obs["observation"], "action_mask": obs["action_mask"]}

    def _opponent_moves(self) -> float:
        """Let the opponent move until it is the agent's turn or the game ends; its rewards."""
        reward = 0.0
        while not self._game_over() and self.aec.agent_selection != self.me:
            obs = self.aec.observe(self.aec.agent_selection)
            if self.opponent == "heuristic":
                action = heuristic_move(self.game, self.k, obs, self.np_random)
            else:
                action = int(self.np_random.choice(np.flatnonzero(obs["action_mask"])))
            self.aec.step(action)
            reward += float(self.aec.rewards[self.me])
        return reward

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.aec.reset(seed=int(self.np_random.integers(2**31)))
        agents = self.aec.possible_agents
        seat = {"first": 0, "second": 1}.get(self.seat, int(self.np_random.integers(2)))
        self.me = agents[seat]
        self._opponent_moves()
        return self._observe(), {}

    def step(self, action):
        self.aec.step(int(action))
        reward = float(self.aec.rewards[self.me]) + self._opponent_moves()
        terminated = bool(self.aec.terminations[self.me])
        truncated = bool(self.aec.truncations[self.me]) and not terminated
        info = {}
        if terminated:  # the game's result for the agent: +1 win, -1 loss, 0 draw
            info[OUTCOME] = "win" if reward > 0 else "loss" if reward < 0 else "draw"
        return self._observe(), reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        """The board, the agent's pieces blue and the opponent's red."""
        from src.envs import render

        board = self.aec.unwrapped.board
        seat = self.aec.possible_agents.index(self.me)
        if self.game == "chess":
            return render.chess_board(board, agent_is_white=seat == 0)
        if self.game == "tictactoe":  # squares are numbered down the columns
            cells = np.asarray(board.squares).reshape(3, 3).T
        else:  # connect four: 6 rows of 7, top row first
            cells = np.asarray(board).reshape(6, 7)
        return render.grid_board(cells, mine=seat + 1, discs=self.game == "connect_four")


class PettingZooGame(MaskedEnvAdapter):
    """``VsOpponent`` behind the adapter: checked spaces, flat float32 board, invalid-action modes."""

    reports_outcomes = True  # info["outcome"] at a game's end: evaluations count its results

    def __init__(self, config: dict[str, Any]):
        cfg = PettingZooGameConfig.from_dict(config)
        super().__init__(
            VsOpponent(cfg),
            obs_key="observations",
            mask_key="action_mask",
            embeddings_key=None,
            invalid_action=cfg.invalid_action,
            invalid_penalty=cfg.invalid_penalty,
            max_episode_steps=cfg.max_episode_steps,
            name=f"env={cfg.name}",
        )
