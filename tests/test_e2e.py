"""Short real runs: every model trains end to end and leaves its files behind."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.rl_module import RLModule

from src.envs import make_env
from src.train import train
from tests.conftest import ROOT, compose_cfg, group_options, metrics_rows

CELLS = {
    "masked": ["model=masked"],
    "embedding": ["model=embedding"],
    "embedding_learned": [
        "model=embedding",
        "model.embeddings_source=learned",
        "env.embeddings=false",
    ],
    "unmasked": ["model=unmasked", "env.invalid_action=penalty"],
    # The penalty baseline that sees the mask as input features.
    "unmasked_mask_input": [
        "model=unmasked",
        "env.invalid_action=penalty",
        "model.mask_as_input=true",
    ],
}


def run(tmp_path, overrides):
    cfg = compose_cfg(["debug=smoke", *overrides])
    return cfg, train(cfg, tmp_path)


@pytest.mark.parametrize("cell", sorted(CELLS))
def test_short_run_leaves_metrics_checkpoint_and_wandb_files(cell, tmp_path, ray_session):
    cfg, summary = run(tmp_path, CELLS[cell])
    rows = metrics_rows(tmp_path)
    assert rows and rows[-1]["env_steps"] >= cfg.stop.env_steps
    assert {
        "charts/episode_return_mean",
        "charts/invalid_action_rate",
        "perf/env_steps_per_s",
        "learner/policy_loss",
    } <= set(rows[-1])
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    # Where the job's time went: start-up and training, evaluation and checkpoints within it.
    assert datetime.fromisoformat(summary["started_at"]).tzinfo is not None
    parts = ("startup_s", "wall_time_s", "eval_time_s", "checkpoint_time_s")
    assert all(summary[p] > 0 for p in parts[:2])
    assert sum(summary[p] for p in parts) <= summary["job_s"]
    # Where it was made: what a same-seed repeat on another machine can differ by.
    assert summary["machine"]["cpu"] and summary["machine"]["torch"] == torch.__version__
    assert summary["machine"]["torch_cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert (tmp_path / summary["checkpoint"] / "rllib_checkpoint.json").exists()
    assert len(list(tmp_path.glob("wandb/offline-run-*/run-*.wandb"))) == 1
    assert (tmp_path / "config.yaml").exists()
    if cell.startswith("unmasked"):
        # A fresh policy spreads over 6 slots, 2 valid: invalid actions must show up.
        assert summary["invalid_actions_total"] > 0 and rows[0]["charts/invalid_action_rate"] > 0.3
    else:
        # raise mode: one invalid action would have crashed the run.
        assert cfg.env.invalid_action == "raise" and summary["invalid_actions_total"] == 0


@pytest.mark.parametrize("algo", group_options("algo"))
@pytest.mark.parametrize("model", ["masked", "embedding", "unmasked"])
def test_every_algo_and_model_runs_end_to_end(algo, model, tmp_path, ray_session):
    mode = "penalty" if model == "unmasked" else "raise"
    cfg, summary = run(
        tmp_path,
        [
            f"algo={algo}",
            f"model={model}",
            f"env.invalid_action={mode}",
            "logger=none",
            "checkpoint.final=false",
        ],
    )
    assert summary["env_steps"] >= cfg.stop.env_steps and summary["episodes"] > 0
    if model == "unmasked":
        assert summary["invalid_actions_total"] > 0
    else:
        assert summary["invalid_actions_total"] == 0
    assert_evaluated(summary, algo, model)


def test_impala_learner_batches_are_whole_samples(tmp_path, ray_session):
    # The note's arithmetic against RLlib's own count: 2 envs x rollout_fragment_length 50 =
    # 100 env steps a sample, so train_batch_size_per_learner 150 gives batches of 2 samples.
    from src.algos import build_algo_config
    from src.options import Axes

    overrides = ["algo=impala", "algo.train_batch_size_per_learner=150", "logger=none"]
    cfg, _ = run(tmp_path, [*overrides, "stop.env_steps=3000", "checkpoint.final=false"])
    predicted = Axes.from_cfg(cfg).algo.learner_batch_env_steps(build_algo_config(cfg))
    assert predicted == 200
    rows = [r for r in metrics_rows(tmp_path) if r.get("learner_queue/batches_trained")]
    trained = sum(r["learner/num_module_steps_trained"] for r in rows)
    batches = sum(r["learner_queue/batches_trained"] for r in rows)
    # Each episode piece in a batch adds one bootstrap step (measured: 212 a batch here; 832 at
    # 16 envs), well short of one more sample (300).
    assert batches and predicted <= trained / batches <= predicted * 1.25, (trained, batches)


def assert_evaluated(summary: dict, algo: str, model: str) -> None:
    """The run ended with separate evaluation episodes: greedy always, stochastic for the
    policy-gradient algorithms (DQN's epsilon is exploration, not a policy to evaluate)."""
    assert summary["eval/greedy/episode_len_mean"] > 0
    assert ("eval/stochastic/return_mean" in summary) == (algo != "dqn")
    if model != "unmasked":  # the masked models never send an invalid action, in any mode
        assert summary["eval/greedy/invalid_action_rate"] == 0.0
        assert summary.get("eval/stochastic/invalid_action_rate", 0.0) == 0.0


TF2_CELLS = [
    (a, m) for a in ("ppo", "appo", "impala", "dqn") for m in ("masked", "embedding", "unmasked")
]


@pytest.mark.parametrize(
    "algo,model",
    [
        pytest.param(a, m, marks=[] if (a, m) == ("ppo", "masked") else [pytest.mark.slow])
        for a, m in TF2_CELLS
    ],
)
def test_tf2_runs_end_to_end_with_the_same_metrics(algo, model, tmp_path, ray_session):
    mode = "penalty" if model == "unmasked" else "raise"
    # The old stack's IMPALA/APPO learner thread lags sampling: it reports its first stats later.
    steps = 12_000 if algo in ("appo", "impala") else 2000
    overrides = ["framework=tf2", f"algo={algo}", f"model={model}", f"env.invalid_action={mode}"]
    cfg, summary = run(tmp_path, [*overrides, "logger=none", f"stop.env_steps={steps}"])
    rows = metrics_rows(tmp_path)
    assert rows[-1]["env_steps"] >= cfg.stop.env_steps and summary["episodes"] > 0
    assert {
        "charts/episode_return_mean",
        "charts/invalid_action_rate",
        "perf/env_steps_per_s",
    } <= set(rows[-1])
    assert any(k.startswith("learner/") for r in rows for k in r), (len(rows), rows[-1])
    assert (tmp_path / summary["checkpoint"]).is_dir()
    if model == "unmasked":
        assert summary["invalid_actions_total"] > 0
    else:
        assert summary["invalid_actions_total"] == 0
    assert_evaluated(summary, algo, model)


@pytest.mark.parametrize("framework", ["torch", "tf2"])
def test_appo_decays_lr_over_sampled_env_steps_on_both_stacks(framework, tmp_path, ray_session):
    # The old stack steps APPO's lr schedule on steps trained, num_epochs (6) per sampled step:
    # unscaled, lr reached lr_final after a sixth of the budget and tf2 learned later than torch.
    # learner/cur_lr is the optimizer's lr on both (RLlib's torch metric is a lagging average).
    budget = 6000
    overrides = [f"framework={framework}", "algo=appo", f"algo.budget_env_steps={budget}"]
    cfg, _ = run(tmp_path, [*overrides, "logger=none", f"stop.env_steps={budget}"])
    lr, lr_final = cfg.algo.lr, cfg.algo.lr_final
    rows = metrics_rows(tmp_path)
    seen = [(r["env_steps"], r["learner/cur_lr"]) for r in rows if "learner/cur_lr" in r]
    assert seen and seen[0][0] < budget / 2, seen
    for steps, cur in seen:  # trained steps lag sampled ones, so lr is at or above its schedule
        scheduled = lr + (lr_final - lr) * min(1.0, steps / budget)
        assert cur >= scheduled * (1 - 1e-4), (steps, cur, scheduled)
    assert seen[-1][1] < lr  # and it does decay


@pytest.mark.parametrize("framework", ["torch", "tf2"])
def test_optimizer_steps_count_ppo_minibatches_on_both_stacks(framework, tmp_path, ray_session):
    # learner/optimizer_steps is read from the optimizer itself: PPO takes num_epochs passes of
    # minibatch steps over each iteration's batch on both stacks (unlike old-stack APPO, which
    # trains on the whole batch per pass: the metric is there to show such differences).
    epochs, batch, minibatch = 3, 500, 100
    overrides = [
        f"framework={framework}",
        "algo=ppo",
        f"algo.num_epochs={epochs}",
        f"algo.train_batch_size_per_learner={batch}",
        f"algo.minibatch_size={minibatch}",
        "logger=none",
        "stop.env_steps=1500",
    ]
    run(tmp_path, overrides)
    rows = metrics_rows(tmp_path)
    seen = [(r["env_steps"], r["learner/optimizer_steps"]) for r in rows if r.get("iteration")]
    assert len(seen) >= 3, seen
    for (steps0, opt0), (steps1, opt1) in zip([(0, 0), *seen[:-1]], seen, strict=True):
        # torch's batch holds a few more env steps than asked (whole episode chunks)
        expected = epochs * (steps1 - steps0) / minibatch
        assert abs((opt1 - opt0) - expected) <= epochs, (steps1, opt1 - opt0, expected)


def test_checkpointed_module_restores_and_still_masks(tmp_path, ray_session):
    cfg, summary = run(tmp_path, ["logger=none"])
    path = (
        tmp_path
        / summary["checkpoint"]
        / "learner_group"
        / "learner"
        / "rl_module"
        / "default_policy"
    )
    module = RLModule.from_checkpoint(path)
    env = make_env({**cfg.env, "max_avail_actions": cfg.env.max_avail_actions})
    obs, _ = env.reset(seed=0)
    batch = {Columns.OBS: {k: torch.as_tensor(np.stack([v] * 500)) for k, v in obs.items()}}
    logits = module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]
    actions = module.get_inference_action_dist_cls().from_logits(logits).sample()
    assert set(actions.tolist()) <= {env.left_idx, env.right_idx}


def cli(tmp_path, *overrides):
    return subprocess.run(
        [sys.executable, "-m", "src.run", f"hydra.run.dir={tmp_path}", *overrides],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_cli_runs_and_writes_to_the_hydra_run_dir(tmp_path):
    proc = cli(tmp_path, "debug=smoke", "logger=none")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "steps/s" in proc.stdout  # one progress line per iteration
    assert json.loads((tmp_path / "summary.json").read_text())["invalid_actions_total"] == 0
    assert (tmp_path / ".hydra" / "config.yaml").exists()


def test_cli_config_error_exits_2_before_anything_starts(tmp_path):
    proc = cli(tmp_path, "model=unmasked")
    assert proc.returncode == 2
    assert "env.invalid_action=penalty" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "metrics.jsonl").exists()


def test_the_default_command_writes_its_run_under_outputs(tmp_path):
    """`make run` as a user types it: no hydra.run.dir, so the configured run dir is resolved."""
    import os

    proc = subprocess.run(
        [sys.executable, "-m", "src.run", "debug=smoke", "logger=none"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (run_dir,) = tmp_path.glob("outputs/*/*_ppo_masked")
    assert (run_dir / "summary.json").exists() and (run_dir / ".hydra" / "config.yaml").exists()


@pytest.mark.slow  # a learner actor starts its own torch + RLlib: minutes on 2 busy cores
@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_a_remote_learner_trains_the_masked_model(algo, tmp_path, ray_session):
    """resources.num_learners=1: the learner is a Ray actor (on CPU here; the same path takes a
    GPU with resources.num_gpus_per_learner=1): the masked module, DQN's replay batches and the
    learner's metrics all cross the process boundary, and the mask still holds."""
    overrides = [f"algo={algo}", "resources.num_learners=1", "logger=none"]
    cfg, summary = run(tmp_path, overrides)
    assert summary["env_steps"] >= cfg.stop.env_steps
    assert summary["invalid_actions_total"] == 0 and cfg.env.invalid_action == "raise"
    rows = metrics_rows(tmp_path)
    assert any(k.startswith("learner/") for k in rows[-1])
