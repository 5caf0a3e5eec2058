"""``python -m src.evaluate``: a trained run's checkpoint played again, with or without the mask."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pandas as pd
import pytest
from omegaconf import OmegaConf
from PIL import Image

from src import evaluation
from src.errors import ConfigError
from src.evaluate import evaluate_checkpoint, evaluate_sweep, is_sweep, locate, parse
from src.train import train
from src.wandb_files import read_run
from tests.conftest import ROOT, compose_cfg


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, ray_session):
    out = tmp_path_factory.mktemp("run")
    train(compose_cfg(["debug=smoke", "logger=none", "stop.env_steps=4000"]), out)
    return out


def test_masked_agent_with_its_mask_sends_no_invalid_action_and_without_it_does(run_dir):
    on = evaluate_checkpoint(run_dir, {"episodes": "8", "mask": "on", "greedy": "true"})
    assert on["invalid_actions"] == 0 and on["episodes"] == 8
    lo, hi = on["return_iqm_ci95"]
    assert lo <= on["return_iqm"] <= hi
    assert json.loads((run_dir / "eval.json").read_text()) == on
    # Without the mask the policy's scores for the 4 invalid slots are no longer cut off.
    off = evaluate_checkpoint(run_dir, {"episodes": "8", "mask": "off", "greedy": "false"})
    assert off["invalid_actions"] > 0
    again = evaluate_checkpoint(run_dir, {"episodes": "8", "mask": "on", "greedy": "true"})
    assert again == on  # fixed episode seeds: the same numbers


def test_record_writes_the_first_episode_as_a_gif_and_logs_it_to_w_and_b(run_dir, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(run_dir, run)
    cfg = OmegaConf.load(run / "config.yaml")
    cfg.logger.update(name="wandb", enabled=True, mode="offline")  # trained with logger=none
    OmegaConf.save(cfg, run / "config.yaml")
    options = {"episodes": "3", "mask": "on", "greedy": "true"}
    result = evaluate_checkpoint(run, options, record=True)
    assert result["recording"] == "episode.gif"
    with Image.open(run / "episode.gif") as gif:
        assert 1 < gif.n_frames <= 501  # the reset and each step of one CartPole episode
    (offline,) = (run / "wandb").glob("offline-run-*")
    assert result["wandb"] == str(offline)
    assert list(offline.rglob("*.gif"))  # the episode, as the W&B run's video
    logged = read_run(next(offline.glob("run-*.wandb")))
    assert logged.job_type == "evaluate" and logged.summary["invalid_actions"] == 0
    # Recording plays the same episodes: the numbers are those of an evaluation without it.
    plain = evaluate_checkpoint(run, options)
    assert {k: v for k, v in result.items() if k not in ("recording", "wandb")} == plain


def test_a_sweep_dir_evaluates_each_run_under_its_own_config_and_compares_the_cells(
    run_dir, tmp_path
):
    sweep = tmp_path / "sweep"
    for name, limit in (("a", None), ("b", 10)):
        shutil.copytree(run_dir, sweep / name, ignore=shutil.ignore_patterns("eval.json"))
        cfg = OmegaConf.load(sweep / name / "config.yaml")
        # b: a cell of its own (a treatment: the penalty), and a time limit its evaluation obeys.
        cfg.env.max_episode_steps = limit
        cfg.env.invalid_penalty = -1.0 if limit else cfg.env.invalid_penalty
        OmegaConf.save(cfg, sweep / name / "config.yaml")
    assert is_sweep(sweep) and not is_sweep(sweep / "a") and not is_sweep(locate(run_dir)[1])
    out = evaluate_sweep(sweep, {"episodes": "4"}, reps=200)
    assert out == sweep / "eval_episodes-4.md"
    rows = {r["run"]: r for r in pd.read_csv(out.with_suffix(".csv")).to_dict("records")}
    assert set(rows) == {"a", "b"} and rows["b"]["episode_len_mean"] <= 10  # b's own env config
    assert not list(sweep.rglob("eval.json"))  # each run's own evaluation is left as it was
    # The numbers are those of evaluating the run alone.
    alone = evaluate_checkpoint(sweep / "a", {"episodes": "4"}, write=False)
    assert rows["a"]["task_return_mean"] == alone["task_return_mean"]
    text = out.read_text()
    assert "![by cell](eval_episodes-4.png)" in text and out.with_suffix(".png").stat().st_size
    # Two cells of one seed each, their evaluation returns as the table's IQM, and one comparison.
    for name in ("a", "b"):
        assert f"| 1 | {rows[name]['task_return_mean']:.0f} [" in text
    assert "over 1 comparison;" in text


def test_seat_plays_every_game_from_that_seat_and_is_refused_where_there_are_none(
    run_dir, tmp_path, monkeypatch
):
    with pytest.raises(ConfigError, match="has no seats: leave seat out"):
        evaluate_checkpoint(run_dir, {"episodes": "2", "seat": "first"})
    with pytest.raises(ConfigError, match="seat=third: choose one of as_trained, first, second"):
        parse([str(tmp_path), "seat=third"])
    game = tmp_path / "game"
    train(compose_cfg(["env=tictactoe", "debug=smoke", "logger=none", "stop.env_steps=500"]), game)
    seen = []

    class Spy(evaluation.Evaluator):
        def __init__(self, env_cfg, episodes, **kwargs):
            seen.append(env_cfg["agent_seat"])
            super().__init__(env_cfg, episodes, **kwargs)

    monkeypatch.setattr(evaluation, "Evaluator", Spy)
    for seat in ("first", "second", "as_trained"):
        result = evaluate_checkpoint(game, {"episodes": "6", "seat": seat})
        assert result["win_rate"] + result["draw_rate"] + result["loss_rate"] <= 1
    assert seen == ["first", "second", "random"]  # as trained: the run's own env.agent_seat
    # Over a sweep dir, a game's table has all four results, games stalled to the limit included.
    out = evaluate_sweep(tmp_path, {"episodes": "6", "seat": "first"}, reps=100)
    assert "| win rate | draw rate | loss rate | unfinished rate |" in out.read_text()
    (row,) = pd.read_csv(out.with_suffix(".csv")).to_dict("records")
    rates = [row[f"{r}_rate"] for r in ("win", "draw", "loss", "unfinished")]
    assert sum(rates) == pytest.approx(1.0)


def test_a_checkpoint_path_and_its_run_dir_name_the_same_checkpoint(run_dir):
    _, checkpoint = locate(run_dir)
    assert locate(checkpoint) == (run_dir.resolve(), checkpoint.resolve())


def test_bad_arguments_name_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="neither a run dir"):
        locate(tmp_path)
    with pytest.raises(ConfigError, match="Unknown option 'epsiodes'"):
        parse([str(tmp_path), "epsiodes=3"])
    with pytest.raises(ConfigError, match="mask=on|off"):
        parse([str(tmp_path), "mask=maybe"])
    with pytest.raises(ConfigError, match="Unknown flag '--recrod'"):
        parse([str(tmp_path), "--recrod"])
    assert parse([str(tmp_path), "--record"])[2] is True


def test_the_cli_prints_one_line_and_exits_2_on_a_wrong_path(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "src.evaluate", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "maskbench: " in proc.stderr


@pytest.mark.slow
def test_a_tf2_checkpoint_is_evaluated_through_the_cli(tmp_path):
    train_cmd = [sys.executable, "-m", "src.run", "framework=tf2", "debug=smoke", "logger=none"]
    subprocess.run([*train_cmd, f"hydra.run.dir={tmp_path}"], cwd=ROOT, check=True, timeout=600)
    proc = subprocess.run(
        [sys.executable, "-m", "src.evaluate", str(tmp_path), "episodes=4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert json.loads((tmp_path / "eval.json").read_text())["invalid_actions"] == 0
