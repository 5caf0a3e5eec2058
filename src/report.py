"""Runs -> tables and plots: ``python -m src.report <sweep or outputs dir> [--out DIR]``.

Reads every run below the directory (``config.yaml`` + ``summary.json`` + ``metrics.jsonl``, as
``src.train`` writes them), groups runs into cells (env, layout, invalid-action mode, algo, model,
framework; seeds are the repetitions) and writes ``report.md`` with PNG plots:

* final return per cell as IQM with 95% stratified-bootstrap confidence intervals (rliable);
* probability that ``model=masked`` improves on each other model of the same setting (rliable);
* env steps and seconds to each return threshold (median over the seeds that reached it);
* invalid-action rate;
* learning curves (IQM with bootstrap CI bands, against env steps), invalid-action-rate curves
  and an aggregate bar chart.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src.sweep import FAILED, SUMMARY
from src.tracking import run_choices

CELL_KEYS = ("env", "layout", "actions", "invalid_action", "algo", "model", "framework")
# What the models are compared within (the invalid-action mode may differ: masked runs in raise).
SETTING_KEYS = ("env", "layout", "actions", "algo", "framework")
RETURN = "charts/episode_return_mean"
COLORS = {"masked": "tab:blue", "unmasked": "tab:orange", "embedding": "tab:green"}
INVALID_RATE = "charts/invalid_action_rate"
P_INVALID = "diagnostics/p_invalid"
KL = "diagnostics/kl_masked_unmasked"


@dataclass
class Run:
    path: Path
    cell: tuple[str, ...]
    seed: int
    summary: dict
    metrics: pd.DataFrame = field(repr=False)

    @property
    def key(self) -> dict[str, str]:
        return cell_dict(self.cell)


def cell_dict(cell: tuple[str, ...]) -> dict[str, str]:
    return dict(zip(CELL_KEYS, cell, strict=True))


def load_runs(root: Path) -> list[Run]:
    from omegaconf import OmegaConf

    runs = []
    for summary_path in sorted(root.rglob(SUMMARY)):
        run_dir = summary_path.parent
        if (run_dir / FAILED).exists():
            continue  # a re-run that failed after an earlier one finished: not a result
        cfg = OmegaConf.load(run_dir / "config.yaml")
        choices = run_choices(cfg)  # the same cell definition the W&B groups use
        cell = tuple(choices[k] for k in CELL_KEYS)
        metrics = pd.read_json(run_dir / "metrics.jsonl", lines=True)
        runs.append(
            Run(run_dir, cell, int(cfg.seed), json.loads(summary_path.read_text()), metrics)
        )
    return runs


def load_wandb_runs(project: str, group: str, api=None) -> list[Run]:
    """The finished W&B runs of one group (a sweep), as :func:`load_runs` reads local ones.

    Every maskbench W&B run holds the resolved config, the summary and the same metric rows
    (logged with ``step = env_steps``), so the cells and statistics come out the same.
    """
    from omegaconf import OmegaConf

    if api is None:
        import wandb

        api = wandb.Api()
    runs = []
    for wb_run in api.runs(project, filters={"group": group}):
        if wb_run.state != "finished":
            continue
        cfg = OmegaConf.create(dict(wb_run.config))
        cell = tuple(run_choices(cfg)[k] for k in CELL_KEYS)
        metrics = pd.DataFrame(wb_run.history(samples=1_000_000, pandas=True))
        summary = {k: v for k, v in dict(wb_run.summary).items() if not k.startswith("_")}
        runs.append(Run(Path(wb_run.id), cell, int(cfg.seed), summary, metrics))
    return runs


def failed_jobs(root: Path) -> dict[str, str]:
    """Job dir (relative to root) -> error, for every job of a sweep that failed."""
    return {
        str(path.parent.relative_to(root)): json.loads(path.read_text())["error"]
        for path in sorted(root.rglob(FAILED))
    }


def by_cell(runs: list[Run]) -> dict[tuple[str, ...], list[Run]]:
    cells: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        cells.setdefault(run.cell, []).append(run)
    return dict(sorted(cells.items()))


def cell_label(cell: tuple[str, ...]) -> str:
    return "/".join(cell)


# -- statistics (rliable) -------------------------------------------------------------------------
def final_scores(runs: list[Run]) -> np.ndarray:
    """(num_seeds, 1) matrix of final rolling-mean returns: rliable's runs x tasks layout."""
    return np.array([[r.summary["final_return_mean"] or 0.0] for r in runs], dtype=float)


def iqm_with_ci(scores: dict[str, np.ndarray], reps: int, seed: int = 0):
    from rliable import library as rly
    from rliable import metrics

    np.random.seed(seed)  # rliable draws its bootstrap samples from numpy's global generator
    return rly.get_interval_estimates(scores, metrics.aggregate_iqm, reps=reps)


def probability_of_improvement(
    pairs: dict[str, tuple[np.ndarray, np.ndarray]], reps: int, seed: int = 0
):
    from rliable import library as rly
    from rliable import metrics

    np.random.seed(seed)
    return rly.get_interval_estimates(pairs, metrics.probability_of_improvement, reps=reps)


def _scalar(value) -> float:
    """rliable returns one value per metric function; we ask for one metric."""
    return float(np.ravel(value)[0])


def threshold_stats(runs: list[Run], threshold: str) -> dict[str, float | int | None]:
    hits = [r.summary.get("first_reached", {}).get(threshold) for r in runs]
    hits = [h for h in hits if h]
    return {
        "reached": len(hits),
        "env_steps": float(np.median([h["env_steps"] for h in hits])) if hits else None,
        "wall_time_s": float(np.median([h["wall_time_s"] for h in hits])) if hits else None,
    }


def _mean_or_none(values: list) -> float | None:
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def diagnostic_columns(runs: list[Run]) -> dict[str, float | None]:
    """Mean over seeds of the last P(invalid | s) and KL logged, and of the "masking removed"
    evaluation (src.diagnostics); None where the runs did not log them."""

    def last(run: Run, column: str):
        if column not in run.metrics:
            return None
        values = run.metrics[column].dropna()
        return values.iloc[-1] if len(values) else None

    return {
        "p_invalid_final": _mean_or_none([last(r, P_INVALID) for r in runs]),
        "kl_final": _mean_or_none([last(r, KL) for r in runs]),
        "mask_removed_return": _mean_or_none(
            [r.summary.get("eval/mask_removed/return_mean") for r in runs]
        ),
        "mask_removed_invalid_rate": _mean_or_none(
            [r.summary.get("eval/mask_removed/invalid_action_rate") for r in runs]
        ),
    }


def summary_table(runs: list[Run], thresholds: list[str], reps: int) -> pd.DataFrame:
    cells = by_cell(runs)
    scores = {cell_label(c): final_scores(rs) for c, rs in cells.items()}
    point, ci = iqm_with_ci(scores, reps)
    rows = []
    for cell, rs in cells.items():
        label = cell_label(cell)
        row = cell_dict(cell)
        row.update(
            seeds=len(rs),
            final_return_iqm=_scalar(point[label]),
            ci_low=_scalar(ci[label][0]),
            ci_high=_scalar(ci[label][1]),
            invalid_action_rate=float(
                np.mean([r.summary["invalid_action_rate_total"] or 0.0 for r in rs])
            ),
        )
        row.update(diagnostic_columns(rs))
        for t in thresholds:
            stats = threshold_stats(rs, t)
            row[f"reached_{t}"] = f"{stats['reached']}/{len(rs)}"
            row[f"env_steps_to_{t}"] = stats["env_steps"]
            row[f"seconds_to_{t}"] = stats["wall_time_s"]
        rows.append(row)
    return pd.DataFrame(rows)


def improvement_table(runs: list[Run], reps: int) -> pd.DataFrame:
    """P(masked > other) for every other model in the same setting (SETTING_KEYS)."""
    cells = by_cell(runs)
    pairs, meta = {}, {}
    for cell, rs in cells.items():
        key = cell_dict(cell)
        if key["model"] != "masked":
            continue
        for other_cell, other_rs in cells.items():
            other = cell_dict(other_cell)
            same_setting = all(other[k] == key[k] for k in SETTING_KEYS)
            if same_setting and other["model"] != "masked":
                name = f"{cell_label(cell)} vs {other['model']}"
                pairs[name] = (final_scores(rs), final_scores(other_rs))
                meta[name] = {**{k: key[k] for k in SETTING_KEYS}, "other": other["model"]}
    if not pairs:
        return pd.DataFrame()
    point, ci = probability_of_improvement(pairs, reps)
    return pd.DataFrame(
        [
            {
                **meta[n],
                "p_masked_better": _scalar(point[n]),
                "ci_low": _scalar(ci[n][0]),
                "ci_high": _scalar(ci[n][1]),
            }
            for n in pairs
        ]
    )


# -- curves ---------------------------------------------------------------------------------------
def curve_on_grid(runs: list[Run], column: str, grid: np.ndarray) -> np.ndarray:
    """(num_runs, len(grid)): each run's metric interpolated at the grid's env steps (NaN outside it)."""
    out = np.full((len(runs), len(grid)), np.nan)
    for i, run in enumerate(runs):
        df = (
            run.metrics[["env_steps", column]].dropna() if column in run.metrics else pd.DataFrame()
        )
        if df.empty:
            continue
        x, y = df["env_steps"].to_numpy(float), df[column].to_numpy(float)
        inside = (grid >= x[0]) & (grid <= x[-1])
        out[i, inside] = np.interp(grid[inside], x, y)
    return out


def iqm(values: np.ndarray, axis: int = 0) -> np.ndarray:
    from scipy.stats import trim_mean

    return trim_mean(values, proportiontocut=0.25, axis=axis)


def bootstrap_band(
    values: np.ndarray, reps: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile-bootstrap band of the IQM over runs (rows), per grid point (columns)."""
    n = values.shape[0]
    samples = values[rng.integers(0, n, size=(reps, n))]  # (reps, n, grid)
    stats = iqm(samples, axis=1)
    return np.nanpercentile(stats, 2.5, axis=0), np.nanpercentile(stats, 97.5, axis=0)


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (reports run on machines with no screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_curves(runs: list[Run], column: str, ylabel: str, path: Path, reps: int) -> Path:
    plt = _pyplot()

    settings = sorted({tuple(r.key[k] for k in SETTING_KEYS) for r in runs})
    cols = min(4, len(settings))  # a grid, four settings per row
    rows = -(-len(settings) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(settings) :]:
        ax.set_visible(False)
    rng = np.random.default_rng(0)
    for ax, setting in zip(axes.flat, settings, strict=False):
        members = [r for r in runs if tuple(r.key[k] for k in SETTING_KEYS) == setting]
        end = max(r.metrics["env_steps"].max() for r in members)
        grid = np.linspace(0, end, 60)
        variants = sorted({(r.key["model"], r.key["invalid_action"]) for r in members})
        for i, (model, mode) in enumerate(variants):
            model_runs = [
                r for r in members if (r.key["model"], r.key["invalid_action"]) == (model, mode)
            ]
            values = curve_on_grid(model_runs, column, grid)
            keep = (~np.isnan(values)).sum(0) >= max(
                1, len(model_runs) // 2
            )  # most seeds still running
            if not keep.any():
                continue
            kept = values[:, keep]  # a seed that ended early stands in with the others' mean
            filled = np.where(np.isnan(kept), np.nanmean(kept, axis=0), kept)
            center = iqm(filled)
            low, high = bootstrap_band(filled, reps, rng)
            # One line per model; per model and invalid-action mode when the modes vary (penalty sweep).
            by_mode = sum(m == model for m, _ in variants) > 1
            color = f"C{i}" if by_mode else COLORS.get(model, "tab:gray")
            name = f"{model} {mode}" if by_mode else model
            ax.plot(grid[keep], center, color=color, label=f"{name} ({len(model_runs)} seeds)")
            ax.fill_between(grid[keep], low, high, color=color, alpha=0.25)
        env, layout, actions, algo, framework = setting
        ax.set_title(f"{algo} ({framework}), {env}\nlayout={layout}, {actions} actions", fontsize=9)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_bars(table: pd.DataFrame, path: Path) -> Path:
    plt = _pyplot()

    # Label bars by what varies across the cells (always the model).
    varying = [k for k in CELL_KEYS if k != "model" and table[k].nunique() > 1]
    labels = [
        "/".join(str(getattr(r, k)) for k in varying) + f"\n{r.model}" for r in table.itertuples()
    ]
    fig, ax = plt.subplots(figsize=(max(5, 0.9 * len(table)), 3.8))
    y = table["final_return_iqm"].to_numpy()
    err = np.vstack([y - table["ci_low"].to_numpy(), table["ci_high"].to_numpy() - y])
    ax.bar(
        range(len(y)),
        y,
        yerr=err,
        capsize=3,
        color=[COLORS.get(m, "tab:gray") for m in table["model"]],
    )
    ax.set_xticks(range(len(y)), labels, fontsize=7)
    ax.set_ylabel("final return (IQM, 95% CI)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# -- report ---------------------------------------------------------------------------------------
def _md(df: pd.DataFrame) -> str:
    def cell(v):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "–"
        return (
            f"{v:,.3g}"
            if isinstance(v, float) and abs(v) < 10
            else (f"{v:,.0f}" if isinstance(v, float) else str(v))
        )

    head = "| " + " | ".join(df.columns) + " |"
    sep = "|" + "---|" * len(df.columns)
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])


def write_report(
    root: Path,
    out: Path,
    reps: int = 2000,
    publish_wandb: bool = False,
    runs: list[Run] | None = None,
) -> Path:
    """report.md and plots in ``out`` for the runs under ``root`` (or the given ``runs``)."""
    runs = load_runs(root) if runs is None else runs
    if not runs:
        raise SystemExit(
            f"No runs under {root}: expected */summary.json, config.yaml, metrics.jsonl."
        )
    out.mkdir(parents=True, exist_ok=True)
    thresholds = sorted(
        {t for r in runs for t in r.summary.get("first_reached", {})} | {"150", "450"}, key=float
    )
    table = summary_table(runs, thresholds, reps)
    improvement = improvement_table(runs, reps)
    table.to_csv(out / "cells.csv", index=False)
    plot_curves(runs, RETURN, "return (rolling mean, IQM)", out / "learning_curves.png", reps=500)
    plot_curves(runs, INVALID_RATE, "invalid-action rate (IQM)", out / "invalid_rate.png", reps=500)
    # Only cells that log it (the policy-gradient modules on torch): no empty panels for DQN.
    with_p_invalid = [
        r for r in runs if P_INVALID in r.metrics and r.metrics[P_INVALID].notna().any()
    ]
    has_p_invalid = bool(with_p_invalid)
    if has_p_invalid:
        plot_curves(
            with_p_invalid,
            P_INVALID,
            "P(invalid | s) before masking (IQM)",
            out / "p_invalid.png",
            reps=500,
        )
    plot_bars(table, out / "final_return.png")
    lines = [
        f"# maskbench report: {root}",
        "",
        f"Made by `python -m src.report {root}`.",
        "",
        f"{len(runs)} runs in {len(table)} cells. Return = rolling mean over the last "
        f"{runs[0].summary.get('return_window', 100)} episodes at the end of each run; IQM and 95% "
        f"stratified-bootstrap CIs over seeds ({reps} resamples, rliable).",
        "",
        "![final return](final_return.png)",
        "",
        "## Final return, time to thresholds, invalid actions",
        "",
        _md(table),
        "",
        "## Probability that masking improves on the other models "
        "(same env, layout, action count, algo, framework)",
        "",
        _md(improvement)
        if not improvement.empty
        else "No masked cell with a comparison in these runs.",
        "",
        "## Learning curves",
        "",
        "![learning curves](learning_curves.png)",
        "",
        "## Invalid-action rate",
        "",
        "![invalid-action rate](invalid_rate.png)",
        "",
    ]
    if has_p_invalid:
        lines += [
            "## Diagnostics: the network's mass on invalid actions",
            "",
            "P(invalid | s) is the probability the network's own logits put on invalid actions "
            "*before* masking (KL(masked || unmasked) = -log(1 - P)), logged by the "
            "policy-gradient modules (DQN's Q-values define no such probability); "
            "`mask_removed_*` columns: "
            "greedy episodes in the penalty env with the mask replaced by ones at the end of each "
            "run. A masked agent never needs to learn to avoid invalid actions, so its P stays "
            "high and it falls apart without the mask; the unmasked agent learns to avoid them.",
            "",
            "![P(invalid)](p_invalid.png)",
            "",
        ]
    failed = failed_jobs(root)
    if failed:
        lines += [
            "## Failed jobs",
            "",
            f"{len(failed)} job(s) failed and are not in the tables above; re-run the sweep with "
            f"`hydra.sweep.dir={root}` to run only the jobs that did not finish.",
            "",
            *(f"- `{name}`: {error}" for name, error in failed.items()),
            "",
        ]
    from src.wandb_report import publish_or_explain

    summary_md = f"{len(runs)} runs in {len(table)} cells; see report.md for IQMs and CIs."
    wandb_note = (
        publish_or_explain(root, summary_md, publish_wandb)
        if root.is_dir()
        else f"Runs read through the W&B API (group `{root}`)."
    )
    lines += ["## Weights & Biases", "", wandb_note, ""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    print(lines[-2])
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "root",
        type=Path,
        nargs="?",
        help="a sweep dir (multirun/...) or any dir holding runs (omit with --wandb-group)",
    )
    parser.add_argument(
        "--wandb-group",
        help="read the runs of this W&B group (a sweep: <sweep>/<sweep dir>) through the W&B API "
        "instead of local files; needs network access and a login",
    )
    parser.add_argument("--wandb-project", default="maskbench", help="[entity/]project")
    parser.add_argument(
        "--out", type=Path, help="where report.md and the plots go (default: <root>/report)"
    )
    parser.add_argument("--reps", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also publish the comparison as a W&B Report (needs WANDB_MODE=online and a login)",
    )
    args = parser.parse_args()
    if args.wandb_group:
        runs = load_wandb_runs(args.wandb_project, args.wandb_group)
        root = Path(args.wandb_group.replace("/", "_"))
        out = args.out or Path("reports") / root
        report = write_report(root, out, args.reps, args.wandb, runs=runs)
    elif args.root is None:
        parser.error("give a directory of runs, or --wandb-group")
    else:
        report = write_report(args.root, args.out or args.root / "report", args.reps, args.wandb)
    print(f"report: {report}")


if __name__ == "__main__":
    main()
