"""Where metrics go: ``metrics.jsonl`` in the run dir, and a W&B run (offline by default).

Both get the same rows with the same names (CleanRL-style namespaces: ``charts/``, ``perf/``,
``learner/``), indexed by ``env_steps``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf


def run_choices(cfg: DictConfig) -> dict[str, str]:
    """The options that define a cell of the comparison (everything but the seed)."""
    return {
        "env": cfg.env.name,
        "layout": cfg.env.get("layout", "-"),
        "invalid_action": cfg.env.invalid_action,
        "model": cfg.model.action_head,
        "algo": cfg.algo.name,
        "framework": cfg.framework.name,
    }


class Tracker:
    def __init__(self, cfg: DictConfig, out_dir: Path):
        self.out_dir = out_dir
        self.metrics_path = out_dir / "metrics.jsonl"
        self._file = self.metrics_path.open("a", buffering=1)
        self.wandb_run = None
        if cfg.logger.enabled:
            self.wandb_run = self._init_wandb(cfg)

    def _init_wandb(self, cfg: DictConfig):
        import wandb

        choices = run_choices(cfg)
        mode = os.environ.get("WANDB_MODE") or cfg.logger.mode
        group = cfg.logger.group or "-".join(f"{v}" for v in choices.values())
        tags = [f"{k}={v}" for k, v in choices.items()] + list(cfg.logger.tags)
        return wandb.init(
            project=cfg.logger.project,
            entity=cfg.logger.entity,
            mode=mode,
            group=group,
            tags=tags,
            name=f"{choices['algo']}-{choices['model']}-{choices['layout']}-s{cfg.seed}",
            job_type="train",
            # The resolved config as a plain dict: W&B never shows a raw ${...}.
            config=OmegaConf.to_container(cfg, resolve=True),
            dir=str(self.out_dir),
            settings=wandb.Settings(console="off", quiet=True),
        )

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
