"""Fixtures that compose the real configs in conf/ (as `python -m src.run` would)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig

from src.frameworks import set_framework_env
from src.options import Axes, register_configs

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
set_framework_env()
register_configs()


def compose_cfg(overrides: list[str] | None = None, config_dir: Path = CONF) -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose(config_name="config", overrides=list(overrides or []))


def metrics_rows(run_dir: Path) -> list[dict]:
    """A run's metrics.jsonl, one dict per logged row."""
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def check_run(cfg: DictConfig, **env_changes) -> None:
    """Every axis's start-up checks, as a run makes them (``env_changes``: values that cannot go
    through a config, such as an env's kwargs holding arrays)."""
    axes = Axes.from_cfg(cfg)
    if env_changes:
        axes.env = dataclasses.replace(axes.env, **env_changes)
    axes.check()


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture(scope="session")
def ray_session():
    """One local Ray instance for every run in the session (ray.init costs seconds), started as
    a run starts it (src.ray_start: its kwargs, and a second try after a start-up timeout)."""
    import ray

    from src.ray_start import init_with_retry

    init_with_retry(SimpleNamespace(num_cpus=2))
    yield
    ray.shutdown()


def run_sweep(name: str, sweep_dir, *overrides: str, env=None) -> subprocess.CompletedProcess:
    """A named sweep from sweeps/ through the real CLI, as `make sweep NAME=...` runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "src.run",
            "--multirun",
            "--config-dir",
            "sweeps",
            "--config-name",
            name,
            f"hydra.sweep.dir={sweep_dir}",
            "logger=none",
            *overrides,
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def study_parts(name: str) -> list[tuple[str, str]]:
    """A study's parts as `make study NAME=<name>` runs them: (sweep config, subdir) pairs from
    the Makefile's PARTS_<name>, else the one sweep of that name."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(f"PARTS_{name} :="):
            return [tuple(p.split(":")) for p in line.split(":=", 1)[1].split()]
    return [(name, "all")]


def study_report_args(name: str) -> list[str]:
    """The options `make study NAME=<name>` gives its report: the Makefile's REPORT_ARGS_<name>."""
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(f"REPORT_ARGS_{name} :="):
            return line.split(":=", 1)[1].split()
    return []


def run_report(root, reps: int, *args: str) -> None:
    """``python -m src.report <root> [args]`` through the real CLI; fails the test if it fails."""
    report = subprocess.run(
        [sys.executable, "-m", "src.report", str(root), "--reps", str(reps), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-3000:]
