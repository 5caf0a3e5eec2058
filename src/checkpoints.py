"""Checkpoints a run resumes from: taken every ``checkpoint.every_n_iters`` iterations and/or
every ``checkpoint.every_s`` seconds (and at the end), written atomically, the last
``checkpoint.keep`` kept.

A run dir holds::

    checkpoints/step_000040123/   RLlib's checkpoint (weights, optimiser, env-step counters; the
                                  replay buffer of algo.replay=transitions) + loop_state.json
    checkpoints/latest            the name of the newest complete checkpoint

Each checkpoint is written into a hidden temporary directory and renamed once complete, then
``latest`` is replaced (``os.replace``), so a run killed at any moment leaves the previous
checkpoint whole and named. ``loop_state.json`` is the training loop's own state (iteration,
rolling window, thresholds reached, best return, training seconds, evaluation schedule), so a
resumed run goes on where the checkpoint was taken (``src.train``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

CHECKPOINTS = "checkpoints"
LATEST = "latest"
LOOP_STATE = "loop_state.json"


def checkpoint_root(out_dir: Path) -> Path:
    return Path(out_dir) / CHECKPOINTS


def latest(out_dir: Path) -> Path | None:
    """The newest complete checkpoint of the run in ``out_dir``, else None."""
    root = checkpoint_root(out_dir)
    pointer = root / LATEST
    if pointer.exists():
        path = root / pointer.read_text().strip()
        if (path / LOOP_STATE).exists():
            return path
    # No (or a dangling) pointer: the newest directory that was completed (renamed).
    done = sorted(p for p in root.glob("step_*") if (p / LOOP_STATE).exists())
    return done[-1] if done else None


def loop_state(path: Path) -> dict[str, Any]:
    return json.loads((Path(path) / LOOP_STATE).read_text())


def replace_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically: a reader sees the old file or the new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Checkpointer:
    """When to checkpoint, and how: atomically, keeping the newest ``keep``."""

    def __init__(self, out_dir: Path, every_n_iters: int, every_s: float, keep: int, now: float):
        self.root = checkpoint_root(out_dir)
        self.every_n_iters, self.every_s, self.keep = every_n_iters, every_s, max(int(keep), 1)
        self.last_s = now

    def due(self, iteration: int, now: float) -> bool:
        if self.every_n_iters and iteration % self.every_n_iters == 0:
            return True
        return bool(self.every_s) and now - self.last_s >= self.every_s

    def save(self, algo, state: dict[str, Any], now: float) -> Path:
        """Write a checkpoint of ``algo`` with the loop's ``state``; return its path."""
        self.last_s = now
        name = f"step_{int(state['env_steps']):09d}"
        final = self.root / name
        if (final / LOOP_STATE).exists() and loop_state(final) == state:
            return final  # the same point, already saved (a final save right after a periodic one)
        tmp = self.root / f".{name}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)  # left by a save that was killed
        tmp.mkdir(parents=True)
        save_algorithm(algo, tmp)
        (tmp / LOOP_STATE).write_text(json.dumps(state, indent=1) + "\n")
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        replace_text(self.root / LATEST, name)
        self._prune(keep=final)
        return final

    def _prune(self, keep: Path) -> None:
        done = sorted(p for p in self.root.glob("step_*") if p != keep)
        for old in done[: max(len(done) - (self.keep - 1), 0)]:
            shutil.rmtree(old, ignore_errors=True)
        for stale in self.root.glob(".step_*.tmp"):
            shutil.rmtree(stale, ignore_errors=True)


def save_algorithm(algo, path: Path) -> str:
    """New API stack: ``save_to_path``; the old stack (framework=tf2) only has ``save``."""
    if algo.config.enable_rl_module_and_learner:
        return str(algo.save_to_path(str(path)))
    return str(algo.save(str(path)).checkpoint.path)


def restore_algorithm(algo, path: Path) -> None:
    if algo.config.enable_rl_module_and_learner:
        algo.restore_from_path(str(path))
    else:
        algo.restore(str(path))
