"""Runs survive: checkpoints are atomic and pruned, a killed run resumes where its last
checkpoint was taken (weights, counters, rolling window, replay), and a sweep re-run resumes its
killed job instead of starting it again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from src.checkpoints import LATEST, Checkpointer, latest, loop_state
from src.errors import ConfigError
from src.replay import TransitionReplayBuffer
from src.train import prepare_run_dir
from tests.conftest import ROOT, compose_cfg, group_options


class FakeAlgo:
    """Stands in for an RLlib algorithm: ``save_to_path`` writes one file, or dies half-way."""

    def __init__(self):
        self.config = SimpleNamespace(enable_rl_module_and_learner=True)
        self.die = False

    def save_to_path(self, path: str) -> str:
        (Path(path) / "weights.bin").write_bytes(b"w")
        if self.die:
            raise KeyboardInterrupt  # as if killed while writing
        return path


def saved(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "checkpoints").glob("step_*"))


def test_checkpoints_keep_the_newest_and_a_killed_save_leaves_the_last_one_whole(tmp_path):
    algo, ckpt = FakeAlgo(), Checkpointer(tmp_path, 1, 0, keep=2, now=0.0)
    for steps in (100, 200, 300):
        ckpt.save(algo, {"env_steps": steps, "iteration": steps // 100}, now=0.0)
    assert saved(tmp_path) == ["step_000000200", "step_000000300"]
    assert latest(tmp_path).name == "step_000000300"
    algo.die = True
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(algo, {"env_steps": 400, "iteration": 4}, now=0.0)
    assert (
        latest(tmp_path).name == "step_000000300" and loop_state(latest(tmp_path))["iteration"] == 3
    )
    assert saved(tmp_path) == ["step_000000200", "step_000000300"]  # the half-written one is hidden
    algo.die = False
    ckpt.save(algo, {"env_steps": 500, "iteration": 5}, now=0.0)
    assert saved(tmp_path) == ["step_000000300", "step_000000500"]
    assert not list((tmp_path / "checkpoints").glob(".*.tmp"))  # the killed save's leftovers
    (tmp_path / "checkpoints" / LATEST).write_text("step_000000999")  # dangling pointer
    assert latest(tmp_path).name == "step_000000500"


def test_checkpoint_schedule_by_iterations_and_by_seconds(tmp_path):
    by_iters = Checkpointer(tmp_path, every_n_iters=3, every_s=0, keep=1, now=0.0)
    assert [i for i in range(1, 10) if by_iters.due(i, now=1e9)] == [3, 6, 9]
    by_time = Checkpointer(tmp_path, every_n_iters=0, every_s=60, keep=1, now=100.0)
    assert not by_time.due(1, now=159.0) and by_time.due(1, now=160.0)


def test_replay_buffer_state_round_trips_rows_priorities_and_generator():
    rows = {
        "obs": {"observations": np.arange(20.0).reshape(10, 2), "action_mask": np.ones((10, 3))},
        "actions": np.arange(10),
    }
    buffer = TransitionReplayBuffer(capacity=8, alpha=0.6, seed=1)
    buffer.add_transitions(rows)  # 10 rows into 8: the newest 8
    buffer.add_transitions(
        {"obs": {k: v[:3] for k, v in rows["obs"].items()}, "actions": rows["actions"][:3]}
    )
    buffer.sample(4)
    buffer.update_priorities(np.array([5.0, 0.1, 2.0, 1.0]))
    state = buffer.get_state()
    copy = TransitionReplayBuffer(capacity=8, alpha=0.6, seed=999)
    copy.set_state(state)
    a, b = buffer.sample(6), copy.sample(6)
    assert np.array_equal(buffer.last_sampled, copy.last_sampled)
    np.testing.assert_array_equal(a["obs"]["observations"], b["obs"]["observations"])
    np.testing.assert_array_equal(a["weights"], b["weights"])
    assert (len(copy), copy.next, copy.max_priority) == (8, 3, buffer.max_priority)
    with pytest.raises(ConfigError, match="replay_buffer_config"):
        TransitionReplayBuffer(capacity=16, alpha=0.6).set_state(state)


def write_rows(path: Path, iterations: range) -> None:
    path.write_text(
        "".join(json.dumps({"iteration": i, "env_steps": 10 * i}) + "\n" for i in iterations)
    )


def test_a_resumed_dir_keeps_metrics_up_to_its_checkpoint_and_refuses_other_runs(tmp_path):
    cfg = compose_cfg(["debug=smoke", "logger=none"])
    assert prepare_run_dir(cfg, tmp_path) is None
    Checkpointer(tmp_path, 1, 0, keep=2, now=0.0).save(
        FakeAlgo(), {"env_steps": 30, "iteration": 3}, now=0.0
    )
    write_rows(tmp_path / "metrics.jsonl", range(0, 6))  # rows 4 and 5 came after the checkpoint
    assert prepare_run_dir(cfg, tmp_path).name == "step_000000030"
    kept = [
        json.loads(r)["iteration"] for r in (tmp_path / "metrics.jsonl").read_text().splitlines()
    ]
    assert kept == [0, 1, 2, 3]
    with pytest.raises(ConfigError, match="another configuration.*resume="):
        prepare_run_dir(compose_cfg(["debug=smoke", "logger=none", "seed=7"]), tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"stop_reason": "env_steps"}))
    with pytest.raises(ConfigError, match="finished run.*hydra.run.dir"):
        prepare_run_dir(cfg, tmp_path)
    assert (tmp_path / "metrics.jsonl").exists()  # refusing writes nothing


def start(args: list[str], log: Path) -> subprocess.Popen:
    # Not this pytest process's W&B service (an earlier in-process run may have started one):
    # the killed run's W&B run would stay open in it and the resumed one be refused as "in use".
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    return subprocess.Popen(
        [sys.executable, "-m", "src.run", *args],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: SIGKILL takes Ray's processes too
        env={**env, "WANDB_MODE": "offline"},
    )


def kill_after_checkpoint(proc: subprocess.Popen, run_dir: Path, iteration: int, log: Path):
    """SIGKILL the run once its latest checkpoint is at ``iteration`` or later."""
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline:
        path = latest(run_dir) if (run_dir / "checkpoints").exists() else None
        if path is not None and loop_state(path)["iteration"] >= iteration:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return loop_state(path)
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    pytest.fail(f"no checkpoint at iteration {iteration}: {log.read_text()[-3000:]}")


def rows_of(run_dir: Path) -> list[dict]:
    return [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]


def assert_resumed(run_dir: Path, at: dict, budget: int, log: str) -> None:
    rows = [r for r in rows_of(run_dir) if r["iteration"] > 0]
    steps = [r["env_steps"] for r in rows]
    assert "maskbench: resumed from checkpoints/step_" in log, log[-3000:]
    # Each iteration once, none missing; env steps never go back (an asynchronous old-stack
    # iteration may sample nothing new, so equal neighbours are allowed there).
    assert [r["iteration"] for r in rows] == list(range(1, len(rows) + 1))
    assert steps == sorted(steps), steps
    assert steps[-1] >= budget
    first = next(r for r in rows if r["iteration"] == at["iteration"] + 1)
    gap = first["env_steps"] - at["env_steps"]
    assert 0 <= gap <= max(b - a for a, b in zip(steps, steps[1:], strict=False))
    # The rolling window went on: episodes counted from the checkpoint's, not from zero.
    assert first["charts/episodes"] > at["episodes"]["episodes"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["env_steps"] == steps[-1] and summary["iterations"] == len(rows)
    assert summary["episodes"] == rows[-1]["charts/episodes"]
    ids = {p.name.rsplit("-", 1)[-1] for p in (run_dir / "wandb").glob("offline-run-*")}
    assert len(ids) == 1 and len(list((run_dir / "wandb").glob("offline-run-*"))) == 2  # one run


def kill_and_resume(tmp_path: Path, overrides: list[str], budget: int, resume_by_dir: bool):
    run_dir = tmp_path / "run"
    args = [
        *overrides,
        f"stop.env_steps={budget}",
        "stop.target_return=null",
        "checkpoint.every_n_iters=1",
        "evaluation.every_env_steps=0",
        "logger=wandb",
        f"hydra.run.dir={run_dir}",
    ]
    log = tmp_path / "first.log"
    at = kill_after_checkpoint(start(args, log), run_dir, 2, log)
    assert not (run_dir / "summary.json").exists()
    again = tmp_path / "again.log"
    # The same command again, or resume=<run dir> alone.
    proc = start([f"resume={run_dir}"] if resume_by_dir else args, again)
    assert proc.wait(timeout=600) == 0, again.read_text()[-3000:]
    assert_resumed(run_dir, at, budget, again.read_text())


def test_ppo_killed_after_its_second_checkpoint_resumes_where_it_was(tmp_path):
    kill_and_resume(tmp_path, [], budget=12_000, resume_by_dir=True)


# Budgets that last past a second checkpoint (checkpoints every iteration): an asynchronous
# iteration on torch samples ~5k env steps, DQN's and SAC's 1000.
BUDGETS = {"appo": 40_000, "impala": 40_000}


@pytest.mark.slow
@pytest.mark.parametrize("algo", [a for a in group_options("algo") if a != "ppo"])
def test_every_torch_algorithm_resumes_after_sigkill(algo, tmp_path):
    budget = BUDGETS.get(algo, 8_000)
    kill_and_resume(tmp_path, [f"algo={algo}"], budget=budget, resume_by_dir=False)


@pytest.mark.slow
@pytest.mark.parametrize("algo", [a for a in group_options("algo") if a != "sac"])
def test_tf2_runs_resume_after_sigkill(algo, tmp_path):
    kill_and_resume(tmp_path, ["framework=tf2", f"algo={algo}"], budget=8_000, resume_by_dir=False)


@pytest.mark.slow
def test_a_killed_sweep_job_resumes_when_the_sweep_is_run_again(tmp_path):
    sweep_dir = tmp_path / "sweep"
    args = [
        "--multirun",
        "seed=0,1",
        "stop.env_steps=8000",
        "stop.target_return=null",
        "checkpoint.every_n_iters=1",
        "evaluation.every_env_steps=0",
        "logger=none",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    log = tmp_path / "first.log"
    proc = start(args, log)
    deadline = time.monotonic() + 300
    while not list(sweep_dir.glob("0_*/checkpoints")) and time.monotonic() < deadline:
        time.sleep(0.2)
    job = next(sweep_dir.glob("0_*"))
    at = kill_after_checkpoint(proc, job, 2, log)
    again = tmp_path / "again.log"
    assert start(args, again).wait(timeout=900) == 0, again.read_text()[-3000:]
    rows = [r for r in rows_of(job) if r["iteration"] > 0]
    assert "maskbench: resumed from checkpoints/step_" in again.read_text()
    assert [r["iteration"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[at["iteration"]]["charts/episodes"] > at["episodes"]["episodes"]
    assert all((j / "summary.json").exists() for j in sweep_dir.glob("[01]_*"))


def test_dqn_checkpoint_restores_its_transition_replay(tmp_path, ray_session):
    from src.algos import build_algo_config
    from src.checkpoints import restore_algorithm, save_algorithm

    cfg = compose_cfg(["debug=smoke", "logger=none", "algo=dqn"])
    algo = build_algo_config(cfg).build_algo()
    algo.train()
    stored = algo.local_replay_buffer.get_state()
    save_algorithm(algo, tmp_path)
    algo.stop()
    fresh = build_algo_config(cfg).build_algo()
    assert len(fresh.local_replay_buffer) == 0
    restore_algorithm(fresh, tmp_path)
    assert len(fresh.local_replay_buffer) == stored["size"] > 0
    np.testing.assert_array_equal(
        fresh.local_replay_buffer.get_state()["rows"]["actions"], stored["rows"]["actions"]
    )
    fresh.stop()


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc: Ray's raylet and workers are the run's)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


@pytest.mark.slow
def test_a_killed_remote_env_runner_is_replaced_and_the_run_goes_on(tmp_path):
    log = tmp_path / "run.log"
    proc = start(
        [
            "resources.num_env_runners=1",
            "stop.env_steps=30000",
            "stop.target_return=null",
            "evaluation.every_env_steps=0",
            "fault_tolerance.restart_delay_s=1",
            "logger=none",
            f"hydra.run.dir={tmp_path / 'run'}",
        ],
        log,
    )
    deadline = time.monotonic() + 300
    while "iter    3 " not in log.read_text() and time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.2)
    runners = [
        p
        for p in descendants(proc.pid)
        if Path(f"/proc/{p}/cmdline").read_bytes().startswith(b"ray::SingleAgentEnvRunner")
    ]
    assert len(runners) == 1, runners
    os.kill(runners[0], signal.SIGKILL)
    assert proc.wait(timeout=600) == 0, log.read_text()[-3000:]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["stop_reason"] == "env_steps" and summary["env_steps"] >= 30000
    assert "back into service" in log.read_text()  # RLlib replaced it
