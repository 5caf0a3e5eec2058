"""The comparison as a W&B Report that says what ``report.md`` says, checked before it is published.

``python -m src.report <dir>`` writes the report's full spec, ``wandb_report.json``, beside
``report.md`` (:func:`report_spec`): a section per facet of the report (layout, number of
actions, ...) with its compact table and verdicts as markdown, then per algorithm (row) a panel
grid whose run set filters on that facet's and row's config values and groups by the treatment
keys (the model), so each chart has one line per model with its seed band; then the report's
plots as images, and the commands and commit that made it. Nothing in it needs the network.

Before publishing, :func:`verify` checks the spec against the sweep's own runs, read from their
offline run files (``src.wandb_files``): every filter key is in the runs' config, every panel's
metric in the history of every run it shows, every summary key in their summaries, and every
run of the sweep is shown by exactly one run set (the facets cover each cell once).

``python -m src.wandb_report <report dir>`` publishes a spec (after ``wandb sync`` of the runs):
it needs ``wandb-workspaces``, network access and a login, and prints the report's URL.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from src.metrics import EVAL_RETURN, INVALID_RATE, P_INVALID, TRAIN_RETURN
from src.sweep import group_name

SPEC = "wandb_report.json"
SWEEP_FILE = "sweep.json"  # a committed record's part: which W&B group its runs logged to
PANELS = {
    EVAL_RETURN: "evaluation return (greedy)",
    TRAIN_RETURN: "training return (rolling mean)",
    INVALID_RATE: "invalid-action rate",
    P_INVALID: "P(invalid | s) before masking",
}
# End-of-run numbers shown per run in each grid's runs table (the run summary: summary.json).
SUMMARY_KEYS = (
    EVAL_RETURN,
    "final_return_mean",
    "invalid_actions_total",
    "eval/mask_removed/return_mean",
    "first_reached",
)


# -- where the runs went ----------------------------------------------------------------------
def sweep_groups(root: Path) -> tuple[str | None, str, list[str]]:
    """(entity, project, W&B groups) of the runs under ``root``: from each sweep's Hydra files,
    or from the ``sweep.json`` that ``python -m src.sweep archive`` leaves in a committed record.
    No groups: the runs did not log to W&B."""
    entity, project, groups = None, "maskbench", []
    for hydra_yaml in sorted(Path(root).rglob(".hydra/hydra.yaml")):
        job_cfg = OmegaConf.load(hydra_yaml.parent / "config.yaml")
        if "logger" not in job_cfg or not job_cfg.logger.get("enabled", False):
            continue
        hydra_cfg = OmegaConf.load(hydra_yaml).hydra
        # The sweep dir is the job dir's parent: Hydra saves hydra.sweep.dir unresolved.
        sweep_dir = hydra_yaml.parent.parent.parent
        entity, project = job_cfg.logger.entity, job_cfg.logger.project
        groups.append(job_cfg.logger.group or group_name(hydra_cfg.job.config_name, sweep_dir))
    for sweep_file in sorted(Path(root).rglob(SWEEP_FILE)):
        info = json.loads(sweep_file.read_text())
        entity, project = info.get("entity"), info.get("project", project)
        groups.append(info["group"])
    return entity, project, list(dict.fromkeys(groups))


def offline_run_dirs(root: Path) -> list[Path]:
    return sorted(Path(root).glob("*/wandb/offline-run-*"))


# -- the spec ----------------------------------------------------------------------------------
def typed(value: str) -> Any:
    """A flattened config value (text) as W&B holds it: 6, -0.1, true, null, or the text."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def report_spec(
    cells, design, facet_markdown: Mapping[str, str], images: list[str], meta: dict[str, Any]
) -> dict[str, Any]:
    """The W&B Report of ``report.md`` as plain data (``meta``: title, entity, project, groups,
    commands, commit). ``cells``: the report's cells; ``facet_markdown``: per facet, its table
    and verdicts."""
    treatment_keys = design.keys("treatment") or ["model.action_head"]
    sections = []
    for facet, markdown in facet_markdown.items():
        grids = []
        for cell in cells:
            if cell.facet != facet or any(g["row"] == cell.row for g in grids):
                continue
            # Panels and columns the grid's runs all have (DQN logs no P(invalid | s)).
            runs = [r for c in cells if (c.facet, c.row) == (facet, cell.row) for r in c.runs]
            keys = design.keys("facet") + design.keys("row")
            grids.append(
                {
                    "row": cell.row,
                    "title": " | ".join(p for p in (facet, cell.row) if p) or "all runs",
                    "filters": {k: typed(cell.runs[0].flat[k]) for k in keys},
                    "groupby": treatment_keys,
                    "panels": [
                        {"metric": k, "title": t}
                        for k, t in PANELS.items()
                        if all(k in r.metrics for r in runs)
                    ],
                    "summary_keys": [k for k in SUMMARY_KEYS if all(k in r.summary for r in runs)],
                }
            )
        sections.append({"title": facet or "All runs", "markdown": markdown, "grids": grids})
    return {**meta, "x_axis": "env_steps", "sections": sections, "images": images}


def grid_runs(spec: Mapping[str, Any], grid: Mapping[str, Any], runs: list) -> list:
    """The runs (``src.wandb_files.RunFile``) a grid's run set shows: the spec's groups, then
    the grid's config filters."""
    return [
        r
        for r in runs
        if r.group in spec["groups"]
        and all(r.config.get(k) == v for k, v in grid["filters"].items())
    ]


def verify(spec: Mapping[str, Any], runs: list) -> list[str]:
    """What would be wrong with the published report, against the sweep's runs; [] when
    nothing. Run before publishing: an empty chart is otherwise found online, by the reader."""
    runs = [r for r in runs if r.job_type != "evaluate"]  # src.evaluate's runs are not cells
    problems = []
    if not runs:
        return ["no W&B runs to check against (logger=none, or no offline-run-* dirs)"]
    if missing := set(spec["groups"]) - {r.group for r in runs}:
        problems.append(f"no run is in the group(s) {sorted(missing)}")
    shown: dict[str, int] = {r.id: 0 for r in runs if r.group in spec["groups"]}
    for section in spec["sections"]:
        for grid in section["grids"]:
            where = f"{section['title']} / {grid['title']}"
            for key in [*grid["filters"], *grid["groupby"]]:
                if not any(key in r.config for r in runs):
                    problems.append(f"{where}: no run's config has the key {key!r}")
            members = grid_runs(spec, grid, runs)
            if not members:
                problems.append(f"{where}: its filters {grid['filters']} match no run")
            for run in members:
                shown[run.id] += 1
                for panel in grid["panels"]:
                    if panel["metric"] not in run.history_keys:
                        problems.append(f"{where}: run {run.id} never logged {panel['metric']!r}")
                for key in grid["summary_keys"]:
                    if key not in run.summary:
                        problems.append(f"{where}: run {run.id}'s summary has no {key!r}")
    problems += [f"run {i} is shown by {n} run sets, not 1" for i, n in shown.items() if n != 1]
    return problems


# -- publishing ----------------------------------------------------------------------------------
def build_report(spec: Mapping[str, Any], media_keys: list[str]):
    """The spec as wandb-workspaces objects (needs a login to save). ``media_keys``: the plots,
    logged by :func:`upload_plots` to the group's run of job_type ``report``."""
    import wandb_workspaces.reports.v2 as wr

    entity, project = spec["entity"] or "", spec["project"]
    groups = " or ".join(f"Metric('Group') == '{g}'" for g in spec["groups"])
    blocks: list[Any] = [wr.H1(spec["title"]), wr.MarkdownBlock(spec["intro"])]
    for section in spec["sections"]:
        blocks += [wr.H2(section["title"]), wr.MarkdownBlock(section["markdown"])]
        for grid in section["grids"]:
            filters = [f"Config('{k}') == {v!r}" for k, v in grid["filters"].items()]
            runset = wr.Runset(
                entity=entity,
                project=project,
                name=grid["title"],
                filters=" and ".join([f"({groups})", *filters]),
                groupby=[f"config.{k}" for k in grid["groupby"]],
                visible_columns=[f"summary:{k}" for k in grid["summary_keys"]],
            )
            panels = [
                wr.LinePlot(
                    title=p["title"],
                    x=spec["x_axis"],
                    y=[p["metric"]],
                    groupby_aggfunc="mean",
                    groupby_rangefunc="minmax",
                    layout=wr.Layout(w=12, h=8),
                )
                for p in grid["panels"]
            ]
            blocks += [wr.H3(grid["title"]), wr.PanelGrid(runsets=[runset], panels=panels)]
    plots = wr.Runset(
        entity=entity,
        project=project,
        name="plots",
        filters=f"({groups}) and Metric('JobType') == 'report'",
    )
    blocks += [
        wr.H2("Plots (as in report.md)"),
        wr.PanelGrid(runsets=[plots], panels=[wr.MediaBrowser(media_keys=media_keys)]),
        wr.MarkdownBlock(spec["reproduce"]),
    ]
    return wr.Report(
        project=project,
        entity=entity,
        title=spec["title"],
        description=spec["description"],
        blocks=blocks,
        width="fluid",
    )


def upload_plots(spec: Mapping[str, Any], report_dir: Path) -> list[str]:
    """Log the report's plots (PNG files beside the spec) to a run of job_type ``report`` in
    the sweep's group, where the report's media panel shows them. Returns their keys."""
    import wandb

    run = wandb.init(
        project=spec["project"],
        entity=spec["entity"],
        group=spec["groups"][0],
        job_type="report",
        name="report-plots",
    )
    keys = {f"report/{Path(name).stem}": name for name in spec["images"]}
    run.log({k: wandb.Image(str(report_dir / name), caption=name) for k, name in keys.items()})
    run.finish()
    return list(keys)


def publish(spec: Mapping[str, Any], report_dir: Path) -> str:
    report = build_report(spec, upload_plots(spec, report_dir))
    report.save()
    return report.url


def online() -> bool:
    return os.environ.get("WANDB_MODE", "offline") == "online" or bool(
        os.environ.get("WANDB_API_KEY")
    )


def write_spec(root: Path, out: Path, spec: dict[str, Any], to_wandb: bool, shown: str) -> str:
    """Write ``wandb_report.json`` in ``out``, check it against the offline runs under ``root``,
    and publish it (``to_wandb`` and online) or say how. Returns the report.md paragraph."""
    (out / SPEC).write_text(json.dumps(spec, indent=2) + "\n")
    if not spec["groups"]:
        return "These runs did not log to W&B (logger=none): there is no W&B Report to publish."
    from src.wandb_files import offline_runs

    pending = offline_run_dirs(root)
    problems = verify(spec, offline_runs(root)) if pending else []
    for problem in problems:
        print(f"maskbench: W&B report check: {problem}", file=sys.stderr)
    if to_wandb and online() and not problems:
        return f"W&B Report: {publish(spec, out)}"
    groups = ", ".join(f"`{g}`" for g in spec["groups"])
    lines = [
        f"The W&B Report's spec is `{SPEC}` beside this file: one section per facet, one panel "
        f"grid per algorithm with a line per model. Its runs are in group(s) {groups} of "
        f"project `{spec['project']}`"
        + (
            f" ({len(pending)} offline runs; the spec was checked against them: "
            + (f"{len(problems)} problems, printed when it was made)." if problems else "OK).")
            if pending
            else "."
        )
    ]
    if pending:
        lines.append(
            f"Upload them with `wandb sync {shown}/*/wandb/offline-run-*` (after `wandb login`),"
        )
    else:  # a committed record: config, metrics and summary only
        lines.append(
            "These runs' W&B files are not here: upload them from the sweep dir that made them "
            "(`wandb sync <sweep dir>/*/wandb/offline-run-*`, after `wandb login`),"
        )
    lines.append(f"then publish it with `python -m src.wandb_report {display(out)}`.")
    return " ".join(lines)


def display(path: Path) -> str:
    from src.report import display_path

    return display_path(path)


def main(argv: list[str]) -> int:
    usage = "usage: python -m src.wandb_report <report dir holding wandb_report.json>"
    if {"-h", "--help"} & set(argv):
        print(f"{usage}\n\n{__doc__}")
        return 0
    if len(argv) != 1:
        print(usage)
        return 2
    report_dir = Path(argv[0])
    if not (report_dir / SPEC).exists():
        print(f"maskbench: no {SPEC} in {report_dir}: make it with python -m src.report <runs>")
        return 2
    spec = json.loads((report_dir / SPEC).read_text())
    print(f"W&B Report: {publish(spec, report_dir)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
