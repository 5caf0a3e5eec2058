"""The sweep comparison as a W&B Report (wandb-workspaces), or how to get there from offline runs.

Runs of a sweep share one W&B group (the sweep) and have the cell as job_type (``src.tracking``),
so the report is one run set filtered on the group, grouped by job_type: the same cells as
``report.md``, with seeds aggregated (mean and min/max band) by W&B itself.

Publishing needs network access and a W&B login, neither of which the machine this was built
on has: the report is built the documented way but has not been saved to W&B from here.
Offline (the default here), nothing can be published: :func:`publish_or_explain` says how to
upload the runs with ``wandb sync`` and then publish with ``python -m src.report <dir> --wandb``.
"""

from __future__ import annotations

import os
from pathlib import Path

from omegaconf import OmegaConf

from src.sweep import group_name

CHARTS = {
    "charts/episode_return_mean": "return (rolling mean)",
    "charts/invalid_action_rate": "invalid-action rate",
    "diagnostics/p_invalid": "P(invalid | s) before masking",
}


def sweep_group(root: Path) -> tuple[str | None, str | None, str | None]:
    """(entity, project, group) of the sweep's W&B runs, from one job's config and Hydra files."""
    for config in sorted(root.glob("*/.hydra/hydra.yaml")):
        hydra_cfg = OmegaConf.load(config).hydra
        job_cfg = OmegaConf.load(config.parent / "config.yaml")  # Hydra's copy: every job has it
        if "logger" not in job_cfg or not job_cfg.logger.get("enabled", False):
            continue
        # The sweep dir is the job dir's parent. Hydra saves hydra.sweep.dir unresolved
        # (${now:...}), which cannot be resolved after the fact.
        sweep_dir = config.parent.parent.parent
        group = job_cfg.logger.group or group_name(hydra_cfg.job.config_name, sweep_dir)
        return job_cfg.logger.entity, job_cfg.logger.project, group
    return None, None, None


def offline_runs(root: Path) -> list[Path]:
    return sorted(root.glob("*/wandb/offline-run-*"))


def build_report(entity: str, project: str, group: str, title: str, summary_md: str):
    import wandb_workspaces.reports.v2 as wr

    runset = wr.Runset(
        entity=entity,
        project=project,
        name=group,
        filters=f"Metric('Group') == '{group}'",
        groupby=["run.jobType"],
    )
    panels = [
        wr.LinePlot(
            title=name,
            x="env_steps",
            y=[key],
            groupby_aggfunc="mean",
            groupby_rangefunc="minmax",
            layout=wr.Layout(w=12, h=8),
        )
        for key, name in CHARTS.items()
    ]
    return wr.Report(
        project=project,
        entity=entity,
        title=title,
        description=f"maskbench sweep {group}: one line per cell (W&B job_type), seeds aggregated.",
        blocks=[
            wr.H1(title),
            wr.MarkdownBlock(summary_md),
            wr.PanelGrid(runsets=[runset], panels=panels),
        ],
        width="fluid",
    )


def publish_or_explain(root: Path, summary_md: str, publish: bool, shown: str | None = None) -> str:
    """Publish the W&B Report (``publish`` and online) and return its URL, else instructions.

    ``shown``: how the text names ``root`` (a committed report never holds an absolute path).
    """
    entity, project, group = sweep_group(root)
    shown = shown or str(root)
    if group is None:
        return "These runs did not log to W&B (logger=none): there is no W&B Report to publish."
    online = os.environ.get("WANDB_MODE", "offline") == "online" or bool(
        os.environ.get("WANDB_API_KEY")
    )
    if publish and online:
        report = build_report(entity or "", project, group, f"maskbench: {group}", summary_md)
        report.save()
        return f"W&B Report: {report.url}"
    pending = offline_runs(root)
    lines = [
        f"The W&B runs of this sweep are in group `{group}` of project `{project}`"
        + (f" ({len(pending)} offline runs)." if pending else "."),
    ]
    if pending:
        lines.append(
            f"Upload them with `wandb sync {shown}/*/wandb/offline-run-*` (after `wandb login`),"
        )
    lines.append(
        f"then publish the comparison as a W&B Report with "
        f"`WANDB_MODE=online python -m src.report {shown} --wandb`."
    )
    return " ".join(lines)
