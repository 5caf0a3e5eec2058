"""An env that fails while sampling ends the run with its own message (the last thing printed),
the env step and the action, an exit status, and what was written so far kept."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from src.envs.guard import EnvError, env_error_in, guarded
from src.errors import ConfigError
from tests.conftest import ROOT
from tests.failing_envs import Raises


def test_guarded_env_says_which_step_and_action_and_keeps_the_cause():
    env = guarded(Raises)(fail_after=3)
    env.reset()
    env.step(0)
    env.step(1)
    with pytest.raises(
        EnvError, match=r"ValueError at step 3 of an episode, action 1 .*lost its conn"
    ) as info:
        env.step(1)
    assert isinstance(info.value.__cause__, ValueError) and not info.value.config_error


def test_env_error_is_found_through_rllib_and_ray_wrappers():
    inner = EnvError("the env raised X", config_error=True)
    try:
        try:
            raise inner
        except EnvError as e:
            raise RuntimeError from e  # what RLlib's env runner does
    except RuntimeError as wrapped:
        ray_like = Exception("task failed")
        ray_like.cause = wrapped  # what a RayTaskError carries
        assert env_error_in(ray_like) is inner
    assert env_error_in(RuntimeError("unrelated")) is None


CASES = {
    # name -> env, remote env runners, exit status, the env's own message
    "all_zero_mask": ("MaskGoesAllZero", 0, 2, "ConfigError at step .* every action invalid"),
    "raises": ("Raises", 0, 1, "ValueError at step .*: the simulator lost its connection"),
    # A remote env runner's process dies with the error (Ray says only "actor died", and RLlib
    # would restart it): the run still ends with the env's message.
    "raises_remote": ("Raises", 1, 1, "ValueError at step .*: the simulator lost its connection"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_failing_env_ends_the_run_with_its_message_status_and_kept_files(case, tmp_path):
    env, runners, status, message = CASES[case]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "src.run",
            "env=custom",
            f"env.entry_point=tests.failing_envs:{env}",
            "+env.kwargs.fail_after=2500",
            f"resources.num_env_runners={runners}",
            "resources.num_envs_per_env_runner=2",
            "checkpoint.every_n_iters=1",
            "evaluation.every_env_steps=0",
            "logger=none",
            f"hydra.run.dir={tmp_path}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == status, proc.stderr[-3000:]
    last = [line for line in proc.stderr.splitlines() if line.strip()][-2:]
    assert last[0].startswith("maskbench: the env raised "), proc.stderr[-3000:]
    assert __import__("re").search(message, last[0]), last
    assert "kept in" in last[1]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["stop_reason"] == "env_error" and summary["error"] in last[0]
    assert summary["iterations"] >= 1 and (tmp_path / summary["checkpoint"]).is_dir()
    rows = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert len(rows) == summary["iterations"]


def test_config_error_is_an_env_error_with_exit_status_2():
    assert EnvError.of(ConfigError("bad mask"), "E", "at step 1").config_error


def test_wandb_online_without_credentials_fails_before_anything_runs(tmp_path, monkeypatch):
    from src.tracking import check_logger
    from tests.conftest import compose_cfg

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    cfg = compose_cfg(["logger=wandb"])
    with pytest.raises(ConfigError, match="wandb login.*WANDB_API_KEY.*WANDB_MODE=offline"):
        check_logger(cfg)
    monkeypatch.setenv("WANDB_API_KEY", "a" * 40)
    check_logger(cfg)  # credentials: no error
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY")
    check_logger(cfg)  # offline needs none


@pytest.mark.slow
def test_an_unreachable_wandb_server_falls_back_to_offline_and_the_run_is_kept(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env.update(WANDB_MODE="online", WANDB_API_KEY="a" * 40, WANDB_BASE_URL="http://127.0.0.1:9")
    proc = subprocess.run(
        [sys.executable, "-m", "src.run", "stop.env_steps=2000", f"hydra.run.dir={tmp_path}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "logging offline instead" in proc.stdout
    assert len(list(tmp_path.glob("wandb/offline-run-*/run-*.wandb"))) == 1
    assert json.loads((tmp_path / "summary.json").read_text())["env_steps"] >= 2000
