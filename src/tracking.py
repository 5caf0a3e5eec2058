"""Where metrics go: ``metrics.jsonl`` in the run dir, and a W&B run (offline by default).

Both get the same rows with the same names (CleanRL-style namespaces: ``charts/``, ``perf/``,
``learner/``), indexed by ``env_steps``.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.errors import ConfigError
from src.sweep import sweep_name

METRICS = "metrics.jsonl"
WANDB_ID = "wandb_run_id"  # the run's W&B id, so that a resumed run logs to the same W&B run


def run_choices(cfg: DictConfig) -> dict[str, str]:
    """The main options of a run, for its W&B tags and name (cells: :func:`cell_name`)."""
    mode = cfg.env.invalid_action
    if mode != "raise" and cfg.env.get("invalid_penalty") is not None:
        mode = f"{mode}({cfg.env.invalid_penalty:g})"
    return {
        "env": cfg.env.name,
        "layout": cfg.env.get("layout", "-"),
        "actions": str(cfg.env.get("max_avail_actions", "-")),
        "invalid_action": mode,
        "model": cfg.model.action_head,
        "algo": cfg.algo.name,
        "framework": cfg.framework.name,
    }


def cell_name(overrides: list[str] | None = None) -> str:
    """The run's cell: its command-line overrides except the seed and bookkeeping
    (``src.cells.IGNORED``), sorted; "defaults" when none are left. In a sweep these are exactly
    what varies between its jobs, so the W&B cells are the report's (``src.cells``)."""
    from hydra.core.hydra_config import HydraConfig

    from src.cells import IGNORED, matches

    if overrides is None:
        overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    kept = [o for o in overrides if not matches(o.split("=", 1)[0].lstrip("+~"), IGNORED)]
    return ",".join(sorted(kept)) or "defaults"


def wandb_grouping(cfg: DictConfig) -> tuple[str, str]:
    """(group, job_type) of a run's W&B run: in a sweep, group = the sweep and job_type = the cell,
    so one W&B view compares the sweep's cells; a single run is grouped by its cell."""
    cell = cell_name()
    sweep = sweep_name()
    if cfg.logger.group:
        return cfg.logger.group, cell if sweep else "train"
    return (sweep, cell) if sweep else (cell, "train")


ONLINE_TIMEOUT_S = 60.0


def wandb_mode(cfg: DictConfig) -> str:
    return os.environ.get("WANDB_MODE") or cfg.logger.mode


def check_logger(cfg: DictConfig) -> None:
    """W&B online needs credentials: fail before anything runs or is written, naming the fixes."""
    if not cfg.logger.enabled or wandb_mode(cfg) != "online" or os.environ.get("WANDB_API_KEY"):
        return
    import netrc
    from urllib.parse import urlparse

    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        known = netrc.netrc(os.environ.get("NETRC")).authenticators(host) is not None
    except (FileNotFoundError, netrc.NetrcParseError):
        known = False
    if not known:
        raise ConfigError(
            f"W&B online (logger.mode=online or WANDB_MODE=online) needs credentials for {host}: "
            "run `wandb login`, or set WANDB_API_KEY, or log offline (WANDB_MODE=offline, the "
            "default) and upload later with `wandb sync`."
        )


class Tracker:
    """``resume``: the run goes on from a checkpoint; its rows are appended to the same
    ``metrics.jsonl`` and logged to the same W&B run (its id is kept in the run dir)."""

    def __init__(self, cfg: DictConfig, out_dir: Path, resume: bool = False):
        self.out_dir = out_dir
        self.metrics_path = out_dir / METRICS
        self._file = self.metrics_path.open("a", buffering=1)
        self.wandb_run = None
        if cfg.logger.enabled:
            self.wandb_run = self._init_wandb(cfg, resume)

    def _wandb_id(self, resume: bool) -> str:
        path = self.out_dir / WANDB_ID
        if resume and path.exists():
            return path.read_text().strip()
        run_id = secrets.token_hex(4)  # W&B ids: lower-case letters and digits
        path.write_text(run_id + "\n")
        return run_id

    def _init_wandb(self, cfg: DictConfig, resume: bool):
        import wandb

        choices = run_choices(cfg)
        mode = wandb_mode(cfg)
        group, job_type = wandb_grouping(cfg)
        tags = [f"{k}={v}" for k, v in choices.items()] + list(cfg.logger.tags)
        kwargs = dict(
            project=cfg.logger.project,
            entity=cfg.logger.entity,
            group=group,
            tags=tags,
            name=f"{choices['algo']}-{choices['model']}-{choices['layout']}-s{cfg.seed}",
            job_type=job_type,
            # The resolved config as a plain dict (W&B never shows a raw ${...}), and the cell's
            # options as top-level keys, one column each in W&B's tables.
            config={
                **OmegaConf.to_container(cfg, resolve=True),
                "cell": cell_name(),
                **{f"choice/{k}": v for k, v in choices.items()},
            },
            dir=str(self.out_dir),
            id=self._wandb_id(resume),
            resume="allow",
        )
        settings = dict(console="off", quiet=True)
        if mode != "online":
            return wandb.init(mode=mode, settings=wandb.Settings(**settings), **kwargs)
        try:  # a server that does not answer: a bounded wait, then offline
            return wandb.init(
                mode="online",
                settings=wandb.Settings(init_timeout=ONLINE_TIMEOUT_S, **settings),
                **kwargs,
            )
        except Exception as err:  # noqa: BLE001 - any failure to reach W&B; the run goes on
            print(
                f"maskbench: W&B did not answer within {ONLINE_TIMEOUT_S:.0f} s ({err}); logging "
                "offline instead: upload this run later with `wandb sync` (path printed at the end)"
            )
            wandb.teardown()  # the service still holds the failed online run's id
            return wandb.init(mode="offline", settings=wandb.Settings(**settings), **kwargs)

    def log(self, row: dict[str, Any]) -> None:
        self._file.write(json.dumps(row) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log(row, step=int(row["env_steps"]))

    def summary(self, summary: dict[str, Any]) -> None:
        (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.summary.update(summary)

    def finish(self, exit_code: int = 0) -> None:
        self._file.close()
        if self.wandb_run is not None:
            offline = self.wandb_run.settings.mode == "offline"
            run_dir = Path(self.wandb_run.dir).parent
            self.wandb_run.finish(exit_code=exit_code)
            if offline:
                print(f"W&B run saved offline; upload it with: wandb sync {run_dir}")


def trained_group(run_dir: Path, run_id: str | None) -> str | None:
    """The W&B group the trained run logged to, read from its local run file (offline or not)."""
    from src.wandb_files import read_run

    files = sorted(run_dir.glob(f"wandb/*-{run_id}/run-{run_id}.wandb")) if run_id else []
    return read_run(files[-1]).group or None if files else None


def log_evaluation(cfg: DictConfig, run_dir: Path, result: dict[str, Any], video: Path) -> str:
    """Log an evaluation of a trained run (``src.evaluate --record``) to W&B as its own run:
    job_type ``evaluate`` in the trained run's group, its config plus ``trained_run_id``, the numbers of
    ``eval.json`` in its summary and the episode as a video. Its own run, not rows appended to
    the training run: a resumed offline run cannot know the step it ended at, and W&B drops
    rows logged below it. Returns where it went."""
    import wandb

    check_logger(cfg)
    trained = (run_dir / WANDB_ID).read_text().strip() if (run_dir / WANDB_ID).exists() else None
    choices = run_choices(cfg)
    run = wandb.init(
        project=cfg.logger.project,
        entity=cfg.logger.entity,
        mode=wandb_mode(cfg),
        group=trained_group(run_dir, trained),
        job_type="evaluate",
        name=f"{choices['algo']}-{choices['model']}-{choices['layout']}-s{cfg.seed}-eval",
        tags=["evaluate"] + [f"{k}={v}" for k, v in choices.items()],
        config={**OmegaConf.to_container(cfg, resolve=True), "trained_run_id": trained},
        dir=str(run_dir),
        settings=wandb.Settings(console="off", quiet=True),
    )
    caption = f"mask {result['mask']}, greedy {result['greedy']}: first evaluation episode"
    run.log({"eval/episode": wandb.Video(str(video), caption=caption, format="gif")})
    run.summary.update({k: v for k, v in result.items() if isinstance(v, int | float)})
    where = run.url if run.settings.mode == "online" else str(Path(run.dir).parent)
    run.finish()
    return where
