"""Sweep bookkeeping shared by every launcher: skip finished jobs, record failed ones.

A job is *finished* when its directory holds a ``summary.json`` from a run that was not cut short
(``UNFINISHED``: interrupted, or stopped by its env's error) and a ``config.yaml`` equal to the
job's config; re-running a sweep into the same ``hydra.sweep.dir`` then skips it, and resumes
the others from their checkpoints. A job that raises writes ``failed.json`` (error and traceback)
and returns nan (a failed trial for Optuna); the other jobs still run, and :class:`SweepSummary`
lists the failures when the sweep ends and exits with status 1.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

FAILED = "failed.json"
SUMMARY = "summary.json"
# Stop reasons of a run that did not finish: a re-run resumes it from its last checkpoint.
UNFINISHED = (None, "interrupted", "env_error")


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def group_name(config_name: str, sweep_dir: str | Path) -> str:
    """``<sweep config>/<sweep dir's name>``: a sweep's name, and its runs' W&B group."""
    return f"{config_name}/{Path(sweep_dir).name}"


def sweep_name() -> str | None:
    """The sweep's name for the job of a sweep, else None."""
    if not in_multirun():
        return None
    hydra_cfg = HydraConfig.get()
    return group_name(hydra_cfg.job.config_name, hydra_cfg.sweep.dir)


def finished_summary(out_dir: Path, cfg: DictConfig) -> dict[str, Any] | None:
    """The summary of a finished run of this same config in ``out_dir``, else None."""
    summary_path, config_path = out_dir / SUMMARY, out_dir / "config.yaml"
    if not (summary_path.exists() and config_path.exists()):
        return None
    summary = json.loads(summary_path.read_text())
    if summary.get("stop_reason") in UNFINISHED:
        return None
    return summary if same_config(config_path, cfg) else None


def same_config(config_path: Path, cfg: DictConfig) -> bool:
    """Whether the resolved config saved at ``config_path`` is ``cfg``'s."""
    saved = OmegaConf.to_container(OmegaConf.load(config_path))
    return saved == OmegaConf.to_container(cfg, resolve=True)


def record_failure(out_dir: Path, err: BaseException) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / FAILED).write_text(
        json.dumps(
            {
                "error": f"{type(err).__name__}: {err}",
                "traceback": "".join(traceback.format_exception(err)),
            },
            indent=2,
        )
        + "\n"
    )


def clear_failure(out_dir: Path) -> None:
    (out_dir / FAILED).unlink(missing_ok=True)


def job_states(sweep_dir: Path) -> dict[str, list[Path]]:
    """Job dirs of a sweep by state: finished, failed, unfinished (started, no summary)."""
    states: dict[str, list[Path]] = {"finished": [], "failed": [], "unfinished": []}
    for job in sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()):
        if (job / FAILED).exists():
            states["failed"].append(job)
        elif (job / SUMMARY).exists():
            states["finished"].append(job)
        else:
            states["unfinished"].append(job)
    return states


class SweepSummary(Callback):
    """Hydra callback: at the end of a sweep, say what finished and which jobs failed, and how to
    resume (re-run into the same sweep dir: finished jobs are skipped)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        states = job_states(sweep_dir)
        print(
            f"sweep {sweep_dir}: {len(states['finished'])} finished, "
            f"{len(states['failed'])} failed, {len(states['unfinished'])} unfinished"
        )
        for job in states["failed"]:
            error = json.loads((job / FAILED).read_text())["error"]
            print(f"  FAILED {job.name}: {error}")
        if states["failed"] or states["unfinished"]:
            print(
                "  re-run the same command with hydra.sweep.dir="
                f"{sweep_dir} to run only the jobs that did not finish"
            )
        print(f"  report: python -m src.report {sweep_dir}")
        if states["failed"]:
            raise SystemExit(1)  # the other jobs ran; the sweep as a whole did not succeed
