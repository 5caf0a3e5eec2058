"""Entry point: ``python -m src.run model=masked algo=ppo`` (see conf/config.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from src import sweep
from src.envs.guard import EnvError
from src.errors import ConfigError
from src.frameworks import set_framework_env
from src.metrics import objective
from src.options import build, register_configs
from src.ray_start import start_ray

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    out_dir = Path(HydraConfig.get().runtime.output_dir)
    if not sweep.in_multirun():
        if cfg.resume:
            cfg = resumed_config(Path(cfg.resume))
        elif (found := _in_records(cfg)) is not None:
            return _reuse(found, cfg, out_dir)
        return _train(cfg, out_dir)
    # In a sweep: skip a job that already finished, and let a failed job fail alone.
    if (done := sweep.finished_summary(out_dir, cfg)) is not None:
        print(f"maskbench: {out_dir.name} already finished, skipped")
        return objective(done, cfg.metrics.objective)
    if (twin := sweep.finished_twin(out_dir, cfg)) is not None:
        print(f"maskbench: {out_dir.name} already finished as {twin[0].name}, skipped")
        sweep.drop_empty_job(out_dir)
        return objective(twin[1], cfg.metrics.objective)
    if (found := _in_records(cfg)) is not None:
        return _reuse(found, cfg, out_dir)
    sweep.clear_failure(out_dir)
    try:
        return _train(cfg, out_dir)
    except Exception as err:  # noqa: BLE001 - recorded in failed.json, listed at the sweep's end
        sweep.record_failure(out_dir, err)
        print(f"maskbench: job {out_dir.name} failed: {err}", file=sys.stderr)
        # None, not nan: Optuna's sweeper marks the trial failed and goes on (nan makes
        # hydra-optuna-sweeper 1.3 tell the study twice and abort the whole search).
        return None


def resumed_config(run_dir: Path) -> DictConfig:
    """``resume=<run dir>``: that run's own config (Hydra already runs in that dir)."""
    config = run_dir / "config.yaml"
    if not config.exists():
        print(
            f"maskbench: resume={run_dir}: no {config}; resume names the dir of a run "
            "(outputs/<date>/<time>_<algo>_<model>, or a sweep's job dir).",
            file=sys.stderr,
        )
        sys.exit(2)
    return OmegaConf.load(config)


def _in_records(cfg: DictConfig) -> tuple[Path, dict] | None:
    """``reuse=[<record>, ...]``: this config's finished run in a committed record, if any."""
    if not cfg.reuse:
        return None
    try:
        return sweep.finished_in_records(cfg, list(cfg.reuse), _start_dir())
    except ConfigError as err:  # a wrong path is every job's error: stop before training any
        print(f"maskbench: configuration error: {err}", file=sys.stderr)
        sys.exit(2)


def _reuse(found: tuple[Path, dict], cfg: DictConfig, out_dir: Path) -> float | None:
    run_dir, summary = found
    sweep.take_record(run_dir, out_dir, cfg)
    where = run_dir.relative_to(_start_dir()) if run_dir.is_relative_to(_start_dir()) else run_dir
    print(f"maskbench: {out_dir.name} already finished in {where}, reused")
    return objective(summary, cfg.metrics.objective)


def _start_dir() -> Path:
    """Where the run was started: the paths in ``reuse`` are relative to it."""
    return Path(HydraConfig.get().runtime.cwd)


def _train(cfg: DictConfig, out_dir: Path) -> float | None:
    # A torch run skips importing TF, but not in a sweep: its process may run a tf2 job later,
    # and RLlib keeps the TF stub of any module imported while TF was skipped.
    needs_tf = build(cfg.framework, "framework").NEEDS_TF
    set_framework_env(skip_tf=not needs_tf and not sweep.in_multirun())
    start_ray(cfg.resources)  # in a thread, while RLlib is imported (src.ray_start)
    from src.train import train  # imports RLlib: after the framework's environment is set

    try:
        summary = train(cfg, out_dir)
    except ConfigError as err:
        if sweep.in_multirun():
            raise
        print(f"maskbench: configuration error: {err}", file=sys.stderr)
        sys.exit(2)
    except EnvError as err:
        if sweep.in_multirun():
            raise
        # Last, after RLlib's own log of it: the env's message, where, and what was kept.
        print(
            f"maskbench: {err}\n  kept in {out_dir}: summary.json (stop_reason env_error), "
            "metrics.jsonl, checkpoints/ up to the last iteration that finished",
            file=sys.stderr,
        )
        sys.exit(2 if err.config_error else 1)
    return objective(summary, cfg.metrics.objective)  # what Hydra sweepers (Optuna) maximise


if __name__ == "__main__":
    main()
