"""Learning runs (minutes each, `make test-slow`): the claims in the README, re-measured."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from omegaconf import OmegaConf

from src.train import train
from tests.conftest import (
    compose_cfg,
    group_options,
    metrics_rows,
    run_report,
    run_sweep,
    study_parts,
    study_report_args,
)

pytestmark = pytest.mark.slow


def learn(tmp_path, *overrides):
    cfg = compose_cfg(["logger=none", "checkpoint.final=false", *overrides])
    summary = train(cfg, tmp_path)
    rows = metrics_rows(tmp_path)
    assert rows[0]["iteration"] == 0 and "eval/greedy/return_mean" in rows[0]  # the step-0 eval
    return summary, rows[1:]  # the training iterations


def test_masked_ppo_solves_the_default_env_without_invalid_actions(tmp_path, ray_session):
    summary, _ = learn(tmp_path)
    assert summary["solved"] and summary["final_return_mean"] >= 400
    assert summary["invalid_actions_total"] == 0


def test_unmasked_invalid_rate_starts_high_and_falls(tmp_path, ray_session):
    summary, rows = learn(tmp_path, "model=unmasked", "env.invalid_action=penalty")
    assert rows[0]["charts/invalid_action_rate"] > 0.3  # 4 of 6 slots are invalid
    late = [
        r["charts/invalid_action_rate"]
        for r in rows[-5:]
        if r["charts/invalid_action_rate"] is not None
    ]
    assert late and max(late) < 0.02
    assert summary["final_return_mean"] >= 400


@pytest.mark.parametrize("layout", ["per_episode", "per_step"])
def test_moving_slots_embeddings_learn_where_the_mask_cannot(tmp_path, ray_session, layout):
    budget = ["stop.env_steps=150000", "stop.target_return=null"]
    emb, _ = learn(tmp_path / "embedding", "model=embedding", f"env.layout={layout}", *budget)
    masked, _ = learn(tmp_path / "masked", "model=masked", f"env.layout={layout}", *budget)
    assert emb["final_return_mean"] >= 400, emb
    assert masked["best_return_mean"] < 320, masked  # the mask-only ceiling is ~260
    assert emb["invalid_actions_total"] == masked["invalid_actions_total"] == 0


def test_layout_edge_smoke_sweep_runs_every_job(tmp_path):
    proc = run_sweep("layout_edge_smoke", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p.parent for p in tmp_path.glob("*/summary.json"))
    assert len(jobs) == 4
    for job in jobs:
        assert json.loads((job / "summary.json").read_text())["invalid_actions_total"] == 0
    cells = {
        (c.model.action_head, c.env.layout)
        for c in (OmegaConf.load(j / "config.yaml") for j in jobs)
    }
    assert cells == {(m, lay) for m in ("masked", "embedding") for lay in ("fixed", "per_episode")}


def test_headline_smoke_sweeps_and_one_report_over_both(tmp_path):
    """As `make headline`: both parts into one dir, then one report over it."""
    parts = study_parts("masking_vs_embedding")
    assert [p for _, p in parts] == ["fixed", "per_episode"]
    for name, part in parts:
        proc = run_sweep(f"{name}_smoke", tmp_path / part)
        assert proc.returncode == 0, proc.stderr[-3000:]
    run_report(tmp_path, reps=200)
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## layout=fixed" in text and "## layout=per_episode" in text
    assert "| algo | masked | unmasked | embedding |" in text
    for algo in group_options("algo"):
        assert f"| {algo} | masked − unmasked |" in text
    cells = pd.read_csv(tmp_path / "report" / "cells.csv")
    assert (
        len(cells) == 2 * 3 * len(group_options("algo"))
        and (cells["score_source"] == "evaluation").all()
    )
    assert (tmp_path / "report" / "eval_curves.png").exists()
    assert str(tmp_path) not in text


@pytest.mark.parametrize(
    "name",
    [
        "frameworks",
        "action_space_scale",
        "penalty",
        "diagnostics",
        "games",
        "games_entropy",
        "games_penalty",
        "games_mask_prediction",
    ],
)
def test_named_smoke_studies_run_every_job_and_report(name, tmp_path):
    """As `make study NAME=<name>`: each part's smoke sweep into one dir, then one report with
    the study's report options."""
    for sweep_name, part in study_parts(name):
        proc = run_sweep(f"{sweep_name}_smoke", tmp_path / part, "hydra/launcher=parallel")
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
        assert "0 failed" in proc.stdout
    run_report(tmp_path, 100, *study_report_args(name))
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Failed jobs" not in text
    if name == "games":  # scored by task return, with the outcomes of the evaluation games
        assert "--score task_return`" in text and "## Games: win / draw / loss / unfinished" in text
        for env in ("tictactoe", "connect_four"):
            assert f"## {env}\n" in text
    if name == "penalty":  # the masked reference against each of the baseline's four penalties
        verdicts = "| ppo | masked, invalid_penalty=-0.1 − unmasked, invalid_penalty="
        assert text.count(verdicts) == 2 * 4  # score and sample efficiency
    if name == "games_penalty":  # masked against the baseline at each of its three penalties
        verdicts = "| ppo | masked, invalid_penalty=-0.1 − unmasked, invalid_penalty="
        assert text.count(verdicts) == 2 * 3
    if name == "games_mask_prediction":  # masked with the loss, at each weight, vs masked without
        assert "mask_prediction_coeff=1.0" in text and "mask_prediction_coeff=0.0" in text
    if name == "diagnostics":
        assert "naive_masked" in text and "p_invalid.png" in text


@pytest.mark.parametrize("algo", ["ppo", "appo", "impala", "dqn"])
def test_tune_smoke_searches_write_their_best_parameters(algo, tmp_path):
    proc = run_sweep(f"tune_{algo}_smoke", tmp_path)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert "algo.lr" in best.best_params and best.best_value is not None
    # Every trial ran the algorithm the search is for.
    configs = [OmegaConf.load(p) for p in tmp_path.glob("*/config.yaml")]
    assert configs and {c.algo.name for c in configs} == {algo}


def test_a_failed_trial_does_not_stop_an_optuna_search(tmp_path):
    """An unmasked model in raise mode fails at start-up: those trials fail, the search goes on."""
    proc = run_sweep(
        "tune_ppo_smoke",
        tmp_path,
        "model=unmasked",
        "env.invalid_action=choice(raise,penalty)",
        "hydra.sweeper.n_trials=6",
    )
    # Every trial ran (the failed ones recorded, as in any sweep, which then exits 1) and the
    # study finished with a best trial among those that did not fail.
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    assert len(list(tmp_path.glob("*/.hydra"))) == 6
    assert list(tmp_path.glob("*/failed.json")), "no trial failed: the test tests nothing"
    assert list(tmp_path.glob("*/summary.json")), "every trial failed"
    best = OmegaConf.load(tmp_path / "optimization_results.yaml")
    assert best.best_params["env.invalid_action"] == "penalty"
