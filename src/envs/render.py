"""Frames of an episode, drawn with Pillow (no pygame): what ``python -m src.evaluate --record``
turns into a GIF.

Each env draws its own state (``render()``, gymnasium's ``rgb_array`` mode: CartPole's cart and
pole, a game's board); :func:`annotate` adds what every env shares below it: the step, the action
taken, the return so far, and the mask the policy saw as a row of slots (valid green, invalid
grey, the chosen one outlined, red when it was invalid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

WIDTH = 320
BACKGROUND, INK, GREY = (255, 255, 255), (30, 30, 30), (200, 200, 200)
AGENT, OPPONENT = (40, 100, 220), (220, 60, 50)  # the agent's pieces, the opponent's
VALID, INVALID_CHOSEN = (90, 180, 90), (230, 40, 40)
MAX_MASK_SLOTS = 64  # wider masks (chess: 4672) are summarised as a count


def _font(size: int = 12) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def canvas(height: int, width: int = WIDTH) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGB", (width, height), BACKGROUND)
    return image, ImageDraw.Draw(image)


def cartpole(state: Sequence[float], push: int | None, x_limit: float = 2.4) -> np.ndarray:
    """CartPole's cart and pole (gymnasium's geometry); ``push``: 0 left, 1 right, None none."""
    x, _, theta, _ = (float(v) for v in state)
    image, draw = canvas(200)
    scale = WIDTH / (2 * x_limit)
    ground, cart_w, cart_h, pole_len = 150, 50, 26, scale * 1.0
    cx = WIDTH / 2 + x * scale
    draw.line([(0, ground), (WIDTH, ground)], fill=INK)
    draw.rectangle([cx - cart_w / 2, ground - cart_h, cx + cart_w / 2, ground], fill=INK)
    top = (cx + pole_len * math.sin(theta), ground - cart_h - pole_len * math.cos(theta))
    draw.line([(cx, ground - cart_h), top], fill=(200, 140, 80), width=8)
    if push is not None:  # an arrow under the cart: the way the last action pushed it
        sign = -1 if push == 0 else 1
        tip = cx + sign * 36
        draw.line([(cx, ground + 18), (tip, ground + 18)], fill=AGENT, width=3)
        draw.polygon(
            [(tip, ground + 18), (tip - sign * 8, ground + 12), (tip - sign * 8, ground + 24)],
            fill=AGENT,
        )
    return np.asarray(image)


def grid_board(cells: np.ndarray, mine: int, discs: bool) -> np.ndarray:
    """A board of ``cells`` (rows x cols; 0 empty, else the player's number): the agent's
    (``mine``) pieces blue, the opponent's red; discs (connect four) or X / O (tic-tac-toe)."""
    rows, cols = cells.shape
    size = min(WIDTH // cols, 240 // rows)
    image, draw = canvas(rows * size + 8)
    left = (WIDTH - cols * size) / 2
    for r in range(rows):
        for c in range(cols):
            box = [left + c * size + 3, 4 + r * size + 3, left + (c + 1) * size - 3]
            box.append(4 + (r + 1) * size - 3)
            draw.rectangle(box, outline=GREY, width=1)
            player = int(cells[r, c])
            if not player:
                continue
            color = AGENT if player == mine else OPPONENT
            if discs:
                draw.ellipse(box, fill=color)
            elif player == 1:  # tic-tac-toe: the first player is X
                draw.line([box[0] + 6, box[1] + 6, box[2] - 6, box[3] - 6], fill=color, width=5)
                draw.line([box[0] + 6, box[3] - 6, box[2] - 6, box[1] + 6], fill=color, width=5)
            else:
                inset = [v + (6 if i < 2 else -6) for i, v in enumerate(box)]
                draw.ellipse(inset, outline=color, width=5)
    return np.asarray(image)


def chess_board(board, agent_is_white: bool) -> np.ndarray:
    """A python-chess board as letters (white upper case), from the agent's side."""
    size = 30
    image, draw = canvas(8 * size + 8)
    left, font = (WIDTH - 8 * size) / 2, _font(18)
    for rank in range(8):
        for file in range(8):
            row = 7 - rank if agent_is_white else rank
            col = file if agent_is_white else 7 - file
            x, y = left + col * size, 4 + row * size
            shade = (235, 220, 190) if (rank + file) % 2 else (180, 140, 100)
            draw.rectangle([x, y, x + size, y + size], fill=shade)
            piece = board.piece_at(rank * 8 + file)
            if piece is not None:
                mine = piece.color == agent_is_white
                draw.text(
                    (x + size / 2, y + size / 2),
                    piece.symbol(),
                    fill=AGENT if mine else OPPONENT,
                    font=font,
                    anchor="mm",
                )
    return np.asarray(image)


def annotate(
    frame: np.ndarray,
    step: int,
    action: int | None,
    mask: np.ndarray,
    invalid: bool,
    episode_return: float,
) -> np.ndarray:
    """``frame`` with a caption below it: step, action, return, and the mask the policy saw."""
    mask = np.asarray(mask).reshape(-1) > 0
    n, valid = mask.size, int(mask.sum())
    strip = n <= MAX_MASK_SLOTS
    image, draw = canvas(frame.shape[0] + (46 if strip else 26), frame.shape[1])
    image.paste(Image.fromarray(frame), (0, 0))
    y = frame.shape[0] + 4
    what = "start" if action is None else f"action {action} ({'INVALID' if invalid else 'valid'})"
    draw.text(
        (6, y),
        f"step {step}  {what}  return {episode_return:g}  [{valid}/{n} valid]",
        fill=INVALID_CHOSEN if invalid else INK,
        font=_font(),
    )
    if strip:
        slot = min(18, (frame.shape[1] - 12) // n)
        for i, ok in enumerate(mask):
            box = [6 + i * slot, y + 20, 6 + (i + 1) * slot - 3, y + 20 + slot - 3]
            chosen = i == action
            fill = (INVALID_CHOSEN if chosen else GREY) if not ok else VALID
            draw.rectangle(box, fill=fill, outline=INK if chosen else None, width=2)
    return np.asarray(image)


def save_gif(frames: Sequence[np.ndarray], path, fps: int = 30) -> None:
    """An animated GIF, looping; frames of different heights are padded to the tallest."""
    height = max(f.shape[0] for f in frames)
    images = []
    for f in frames:
        image, _ = canvas(height, f.shape[1])
        image.paste(Image.fromarray(f), (0, 0))
        images.append(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=32))
    images[0].save(path, save_all=True, append_images=images[1:], duration=int(1000 / fps), loop=0)
