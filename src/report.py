"""Runs -> a report a reviewer reads in a minute: ``python -m src.report <dir> [--out DIR]``.

Reads every run below the directory (``config.yaml`` + ``summary.json`` + ``metrics.jsonl``, as
``src.train`` writes them; ``python -m src.report docs/<sweep>/runs`` rebuilds a committed
report). Cells are derived from the configs (``src.cells``: every value that differs between
runs except the seed), and each run is scored by its **last evaluation**: the greedy return of
separate evaluation episodes at the end of its budget (``src.evaluation``; runs made before
evaluation existed fall back to the rolling training return, and the report says so).

``report.md``, top first:

* per facet (layout, number of actions, ...), a table of algorithm x model: IQM of the scores
  with a 95% stratified-bootstrap interval, the best of each row in bold;
* the verdicts: masked against every other model of the same row (``--compare framework``:
  the first framework against the other, the model joining the row), as the difference of IQMs
  with a Bonferroni-corrected interval (all of a report's intervals hold together at 95%) and a
  plain-language verdict against a margin of practical equivalence (``src.stats``);
* sample efficiency: the normalised area under each run's evaluation curve, with verdicts of
  its own (margin ±0.05), corrected together with the score's;
* plots: evaluation curves (IQM with bootstrap bands), per-seed curves, performance profiles,
  training-return, invalid-action and P(invalid) curves.

Every number per cell (thresholds, invalid actions, diagnostics, ...) is in ``cells.csv``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from src import stats
from src.cells import TREATMENT, Design, derive, flatten
from src.metrics import (
    EVAL_RETURN,
    EVAL_STOCHASTIC_RETURN,
    INVALID_RATE,
    OUTCOMES,
    P_INVALID,
    SCORES,
    TRAIN_RETURN,
    UNFINISHED_GAME,
    eval_key,
)
from src.sweep import FAILED, SUMMARY
from src.wandb_report import write_spec

MARGIN_FRACTION = 0.05  # default margin of practical equivalence: 5% of the env's return range
MIN_SEEDS = 3  # fewer seeds in either cell: the difference is shown, not tested
RESULTS = (*OUTCOMES, UNFINISHED_GAME)  # a game's evaluation results, as cells.csv's eval_<r>_rate
AUC_MARGIN = MARGIN_FRACTION  # sample efficiency is a fraction of [0, 1]: the same 5%
COLORS = {"masked": "tab:blue", "unmasked": "tab:orange", "embedding": "tab:green"}


@dataclass
class Run:
    path: Path
    flat: dict[str, str]  # the resolved config, flattened (src.cells.flatten)
    seed: int
    summary: dict
    metrics: pd.DataFrame = field(repr=False)
    score_key: str = EVAL_RETURN  # what the run is scored by (SCORES; write_report's score)

    @property
    def evaluated(self) -> bool:
        return self.summary.get(self.score_key) is not None

    @property
    def score(self) -> float:
        """The last evaluation's greedy return (or task return), else the final rolling
        training return."""
        value = self.summary.get(self.score_key) if self.evaluated else None
        if value is None:
            value = self.summary.get("final_return_mean")
        return float("nan") if value is None else float(value)

    def number(self, key: str) -> float | None:
        value = self.flat.get(key)
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


def _run(path: Path, cfg: dict, summary: dict, metrics: pd.DataFrame) -> Run:
    return Run(path, flatten(cfg), int(cfg.get("seed", 0)), summary, metrics)


def load_runs(root: Path) -> list[Run]:
    from omegaconf import OmegaConf

    runs = []
    for summary_path in sorted(root.rglob(SUMMARY)):
        run_dir = summary_path.parent
        if (run_dir / FAILED).exists():
            continue  # a re-run that failed after an earlier one finished: not a result
        cfg = OmegaConf.to_container(OmegaConf.load(run_dir / "config.yaml"), resolve=True)
        metrics = pd.read_json(run_dir / "metrics.jsonl", lines=True)
        runs.append(_run(run_dir, cfg, json.loads(summary_path.read_text()), metrics))
    return runs


def load_wandb_runs(project: str, group: str, api=None) -> list[Run]:
    """The finished W&B runs of one group (a sweep), as :func:`load_runs` reads local ones.

    Every maskbench W&B run holds the resolved config, the summary and the same metric rows
    (logged with ``step = env_steps``), so the cells and statistics come out the same.
    """
    if api is None:
        import wandb

        api = wandb.Api()
    runs = []
    for wb_run in api.runs(project, filters={"group": group}):
        if wb_run.state != "finished":
            continue
        metrics = pd.DataFrame(wb_run.history(samples=1_000_000, pandas=True))
        summary = {k: v for k, v in dict(wb_run.summary).items() if not k.startswith("_")}
        runs.append(_run(Path(wb_run.id), dict(wb_run.config), summary, metrics))
    return runs


def failed_jobs(root: Path) -> dict[str, str]:
    """Job dir (relative to root) -> error, for every job of a sweep that failed."""
    return {
        str(path.parent.relative_to(root)): json.loads(path.read_text())["error"]
        for path in sorted(root.rglob(FAILED))
    }


# -- cells ----------------------------------------------------------------------------------------
@dataclass
class Cell:
    facet: str
    row: str
    treatment: str
    runs: list[Run]

    @property
    def scores(self) -> np.ndarray:
        return np.array([r.score for r in self.runs], dtype=float)

    @property
    def is_masked(self) -> bool:
        return self.runs[0].flat.get("model.action_head") == "masked"

    def value_range(self) -> tuple[float | None, float | None]:
        """The env's return range (env.min_return, env.max_return) when its config states it."""
        return self.runs[0].number("env.min_return"), self.runs[0].number("env.max_return")


def group_cells(runs: list[Run], design: Design) -> list[Cell]:
    cells: dict[tuple[str, ...], list[Run]] = {}
    for run in runs:
        cells.setdefault(design.cell(run.flat), []).append(run)
    # Where nothing of a role varies, rows and columns still name the algorithm and the model.
    fallback = {"facet": None, "row": "algo.name", "treatment": "model.action_head"}
    out = [
        Cell(
            *(
                design.part(rs[0].flat, w) or rs[0].flat.get(fallback[w] or "", "")
                for w in ("facet", "row", "treatment")
            ),
            rs,
        )
        for rs in cells.values()
    ]
    return sorted(
        out,
        key=lambda c: (natural_key(c.facet), natural_key(c.row), treatment_order(c.treatment)),
    )


def natural_key(text: str) -> tuple:
    """Sorts labels with numbers by value: N=6 before N=60 before N=600, penalty -1 before -0.1."""
    parts = re.split(r"(-?\d+(?:\.\d+)?(?:e-?\d+)?)", text)
    return tuple((0, float(p), "") if i % 2 else (1, 0.0, p) for i, p in enumerate(parts))


def treatment_order(treatment: str) -> tuple:
    """masked first, then unmasked, embedding, the rest alphabetically; numbers by value."""
    first = treatment.split(",")[0]
    known = ["masked", "unmasked", "embedding", "naive_masked"]
    return (known.index(first) if first in known else len(known), natural_key(treatment))


def score_range(cells: list[Cell]) -> tuple[float, float]:
    """The scores' scale, for the margin and the normalised areas: the env's stated return
    range, else the range the runs' scores span."""
    lows, highs = zip(*(c.value_range() for c in cells), strict=True)
    if all(v is not None for v in lows + highs):
        return min(lows), max(highs)
    scores = np.concatenate([c.scores for c in cells])
    scores = scores[np.isfinite(scores)]
    return (float(scores.min()), float(scores.max())) if len(scores) else (0.0, 1.0)


# -- numbers --------------------------------------------------------------------------------------
def auc(run: Run, lo: float, hi: float) -> float | None:
    """Normalised area under the run's evaluation curve over its env-step budget."""
    key = run.score_key
    if key not in run.metrics:
        return None
    df = run.metrics[["env_steps", key]].dropna()
    budget = run.number("stop.env_steps") or (df["env_steps"].max() if len(df) else 0)
    return stats.normalised_auc(df["env_steps"], df[key], budget, lo, hi)


def thresholds(runs: list[Run]) -> list[str]:
    """The return thresholds the runs' configs ask for (metrics.thresholds, from the env)."""
    found = set()
    for run in runs:
        for t in json.loads(run.flat.get("metrics.thresholds", "[]")):
            found.add(f"{float(t):g}")
        found.update(run.summary.get("first_reached", {}))
    return sorted(found, key=float)


def _mean(values) -> float | None:
    values = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else None


def _last(run: Run, column: str) -> float | None:
    if column not in run.metrics:
        return None
    values = run.metrics[column].dropna()
    return float(values.iloc[-1]) if len(values) else None


def cell_table(cells: list[Cell], lo: float, hi: float, reps: int) -> pd.DataFrame:
    """Everything per cell: the wide table (cells.csv)."""
    rows = []
    for cell in cells:
        score = stats.iqm_interval(cell.scores, reps)
        aucs = cell_aucs(cell, lo, hi)
        auc_est = stats.iqm_interval(aucs, reps) if len(aucs) else None
        row = {
            "facet": cell.facet,
            "row": cell.row,
            "treatment": cell.treatment,
            "seeds": len(cell.runs),
            "score_iqm": score.value,
            "score_ci_low": score.low,
            "score_ci_high": score.high,
            "score_source": "evaluation" if all(r.evaluated for r in cell.runs) else "training",
            "stochastic_eval_return_mean": _mean(
                [r.summary.get(EVAL_STOCHASTIC_RETURN) for r in cell.runs]
            ),
            "train_return_final_mean": _mean(
                [r.summary.get("final_return_mean") for r in cell.runs]
            ),
            "auc_iqm": auc_est and auc_est.value,
            "auc_ci_low": auc_est and auc_est.low,
            "auc_ci_high": auc_est and auc_est.high,
            "invalid_action_rate": _mean(
                [r.summary.get("invalid_action_rate_total") for r in cell.runs]
            ),
            "p_invalid_final": _mean([_last(r, P_INVALID) for r in cell.runs]),
            "mask_removed_return": _mean(
                [r.summary.get("eval/mask_removed/return_mean") for r in cell.runs]
            ),
            "mask_removed_invalid_rate": _mean(
                [r.summary.get("eval/mask_removed/invalid_action_rate") for r in cell.runs]
            ),
        }
        for outcome in RESULTS:  # games: the greedy evaluation games' results
            rate = _mean([r.summary.get(eval_key("greedy", f"{outcome}_rate")) for r in cell.runs])
            if rate is not None:
                row[f"eval_{outcome}_rate"] = rate
        for t in thresholds(cell.runs):
            hits = [h for r in cell.runs if (h := r.summary.get("first_reached", {}).get(t))]
            row[f"reached_{t}"] = f"{len(hits)}/{len(cell.runs)}"
            row[f"env_steps_to_{t}"] = (
                float(np.median([h["env_steps"] for h in hits])) if hits else None
            )
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_pairs(cells: list[Cell]) -> list[tuple[Cell, Cell]]:
    """masked against every other treatment of the same facet and row (or, without a masked
    cell there, the first treatment against the others)."""
    pairs = []
    for key in dict.fromkeys((c.facet, c.row) for c in cells):
        group = [c for c in cells if (c.facet, c.row) == key]
        ref = next((c for c in group if c.is_masked), group[0])
        pairs += [(ref, other) for other in group if other is not ref]
    return pairs


def tested_pairs(
    pairs: list[tuple[Cell, Cell]], values: Callable[[Cell], np.ndarray]
) -> list[tuple[Cell, Cell]]:
    """The pairs whose cells both hold ``MIN_SEEDS`` values: those that get a CI and a verdict."""
    return [(a, b) for a, b in pairs if min(len(values(a)), len(values(b))) >= MIN_SEEDS]


def comparisons(
    cells: list[Cell],
    margin: float,
    reps: int,
    values: Callable[[Cell], np.ndarray] | None = None,
    num_comparisons: int | None = None,
) -> pd.DataFrame:
    """Δ IQM of ``values`` (default: the scores) for each of :func:`comparison_pairs`, with
    CIs Bonferroni-corrected over ``num_comparisons`` (default: the pairs tested) and a verdict;
    a pair with fewer than ``MIN_SEEDS`` values in a cell gets its Δ and no CI or verdict.
    A pair where either cell has no values is left out."""
    values = values or (lambda c: c.scores)
    pairs = [(a, b) for a, b in comparison_pairs(cells) if len(values(a)) and len(values(b))]
    tested = {(id(a), id(b)) for a, b in tested_pairs(pairs, values)}
    alpha = stats.corrected_alpha(num_comparisons or len(tested))
    rows = []
    for a, b in pairs:
        if (id(a), id(b)) in tested:
            diff = stats.difference_interval(values(a), values(b), reps, alpha)
            verdict = stats.verdict(diff, margin, a.treatment, b.treatment)
        else:  # a bootstrap over one or two seeds has no width to read
            diff = stats.Estimate(stats.iqm(values(a)) - stats.iqm(values(b)), np.nan, np.nan)
            verdict = (
                f"not tested: {len(values(a))} vs {len(values(b))} seeds (a verdict needs "
                f"{MIN_SEEDS} per cell)"
            )
        rows.append(
            {
                "facet": a.facet,
                "row": a.row,
                "a": a.treatment,
                "b": b.treatment,
                "diff": diff.value,
                "ci_low": diff.low,
                "ci_high": diff.high,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)


def cell_aucs(cell: Cell, lo: float, hi: float) -> np.ndarray:
    """The normalised areas under the cell's evaluation curves (runs without one left out)."""
    return np.array([a for r in cell.runs if (a := auc(r, lo, hi)) is not None], dtype=float)


# -- markdown -------------------------------------------------------------------------------------
def score_digits(margin: float) -> int:
    """Decimals that show a score to a tenth of the verdicts' margin: none on CartPole's 0-500
    (margin 25), two on a game's -1..1 (margin 0.1)."""
    return max(0, math.ceil(-math.log10(margin)) + 1) if margin > 0 else 2


def _num(v: float | None, digits: int = 0) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:.{digits}f}"


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def row_header(design: Design) -> str:
    """What a table's rows name: the config groups of the row keys ("algo", "algo, model")."""
    return ", ".join(dict.fromkeys(k.split(".")[0] for k in design.keys("row"))) or "algo"


def compact_tables(
    table: pd.DataFrame,
    value: str,
    low: str,
    high: str,
    digits: int,
    bold_best: bool = True,
    rows_are: str = "algo",
) -> dict[str, str]:
    """Per facet: rows x treatments, "IQM [low, high]", the best IQM of each row in bold; a cell
    of fewer than ``MIN_SEEDS`` seeds shows its seed count instead of a CI (a bootstrap over one
    or two seeds has no width to read)."""
    out = {}
    for facet, df in table.groupby("facet", sort=False):
        treatments = sorted(df["treatment"].unique(), key=treatment_order)
        rows = []
        for row, rdf in df.groupby("row", sort=False):
            best = rdf[value].max()
            cells = []
            for t in treatments:
                hit = rdf[rdf["treatment"] == t]
                if hit.empty or hit[value].isna().all():
                    cells.append("–")
                    continue
                r = hit.iloc[0]
                if r["seeds"] < MIN_SEEDS:
                    n = int(r["seeds"])
                    text = f"{_num(r[value], digits)} ({n} seed{'s' if n > 1 else ''}, no CI)"
                else:
                    text = f"{_num(r[value], digits)} [{_num(r[low], digits)}, {_num(r[high], digits)}]"
                cells.append(f"**{text}**" if bold_best and r[value] == best else text)
            rows.append([row or "all", *cells])
        out[facet] = md_table([rows_are, *(t or "score" for t in treatments)], rows)
    return out


def _percent(rate: float | None) -> str:
    return _num(None if rate is None else 100 * float(rate))


def outcome_tables(table: pd.DataFrame, rows_are: str = "algo") -> dict[str, str]:
    """Games: per facet, algo x treatment "win / draw / loss / unfinished %" of the greedy
    evaluation games (mean over seeds); {} when no run is a game."""
    if "eval_win_rate" not in table:
        return {}
    out = {}
    for facet, df in table[table["eval_win_rate"].notna()].groupby("facet", sort=False):
        treatments = sorted(df["treatment"].unique(), key=treatment_order)
        rows = []
        for row, rdf in df.groupby("row", sort=False):
            cells = []
            for t in treatments:
                hit = rdf[rdf["treatment"] == t]
                rates = [hit.iloc[0].get(f"eval_{o}_rate") for o in RESULTS] if len(hit) else []
                cells.append(" / ".join(_percent(r) for r in rates) if rates else "–")
            rows.append([row or "all", *cells])
        out[facet] = md_table([rows_are, *(t or "score" for t in treatments)], rows)
    return out


def verdict_lines(
    comp: pd.DataFrame, facet: str, digits: int = 0, rows_are: str = "algo"
) -> list[str]:
    df = comp[comp["facet"] == facet] if not comp.empty else comp
    if df.empty:
        return []
    return [
        md_table(
            [rows_are, "comparison", "Δ IQM [CI]", "verdict"],
            [
                [
                    r.row or "all",
                    f"{r.a} − {r.b}",
                    f"{r.diff:+.{digits}f} [{r.ci_low:+.{digits}f}, {r.ci_high:+.{digits}f}]"
                    if np.isfinite(r.ci_low)
                    else f"{r.diff:+.{digits}f}",
                    r.verdict,
                ]
                for r in df.itertuples()
            ],
        )
    ]


def display_path(path: Path) -> str:
    """A path as a reader of the committed report should see it: never absolute."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


# -- plots ----------------------------------------------------------------------------------------
def pyplot():
    """matplotlib's pyplot on the file-only Agg backend (reports run on machines with no screen)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def curve_on_grid(runs: list[Run], column: str, grid: np.ndarray) -> np.ndarray:
    """(num_runs, len(grid)): each run's metric interpolated at the grid's env steps (NaN outside)."""
    out = np.full((len(runs), len(grid)), np.nan)
    for i, run in enumerate(runs):
        if column not in run.metrics:
            continue
        df = run.metrics[["env_steps", column]].dropna()
        if df.empty:
            continue
        x, y = df["env_steps"].to_numpy(float), df[column].to_numpy(float)
        inside = (grid >= x[0]) & (grid <= x[-1])
        out[i, inside] = np.interp(grid[inside], x, y)
    return out


def bootstrap_band(values: np.ndarray, reps: int, rng: np.random.Generator):
    """95% percentile-bootstrap band of the IQM over runs (rows), per grid point (columns)."""
    n = values.shape[0]
    samples = values[rng.integers(0, n, size=(reps, n))]  # (reps, n, grid)
    boot = stats.iqm(samples, axis=1)
    return np.nanpercentile(boot, 2.5, axis=0), np.nanpercentile(boot, 97.5, axis=0)


def _color(treatment: str, i: int) -> str:
    return COLORS.get(treatment, f"C{i + 3}")


def panel_grid(cells: list[Cell], plt, cols: int = 4):
    keys = list(dict.fromkeys((c.facet, c.row) for c in cells))
    cols = min(cols, len(keys))
    rows = -(-len(keys) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.flat[len(keys) :]:
        ax.set_visible(False)
    return fig, list(zip(axes.flat, keys, strict=False))


def plot_curves(
    cells: list[Cell], column: str, ylabel: str, path: Path, reps: int, per_seed: bool = False
) -> Path | None:
    """One panel per facet and row; one line per treatment: the IQM over seeds with a bootstrap
    band, or (``per_seed``) every seed's own curve."""
    cells = [c for c in cells if any(column in r.metrics for r in c.runs)]
    if not cells:
        return None
    plt = pyplot()
    fig, panels = panel_grid(cells, plt)
    rng = np.random.default_rng(0)
    for ax, (facet, row) in panels:
        members = [c for c in cells if (c.facet, c.row) == (facet, row)]
        end = max(r.metrics["env_steps"].max() for c in members for r in c.runs)
        grid = np.linspace(0, end, 60)
        for i, cell in enumerate(members):
            color = _color(cell.treatment, i)
            values = curve_on_grid(cell.runs, column, grid)
            if per_seed:
                for j, run_values in enumerate(values):
                    label = f"{cell.treatment} ({len(values)} seeds)" if j == 0 else None
                    ax.plot(grid, run_values, color=color, alpha=0.6, lw=0.8, label=label)
                continue
            keep = (~np.isnan(values)).sum(0) >= max(1, len(cell.runs) // 2)
            if not keep.any():
                continue
            kept = values[:, keep]  # a seed that ended early stands in with the others' mean
            filled = np.where(np.isnan(kept), np.nanmean(kept, axis=0), kept)
            low, high = bootstrap_band(filled, reps, rng)
            label = f"{cell.treatment} ({len(cell.runs)} seeds)"
            ax.plot(grid[keep], stats.iqm(filled), color=color, label=label)
            ax.fill_between(grid[keep], low, high, color=color, alpha=0.25)
        ax.set_title(" | ".join(p for p in (facet, row) if p) or "all runs", fontsize=9)
        ax.set_xlabel("env steps")
        ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x / 1000:g}k"))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_profiles(cells: list[Cell], lo: float, hi: float, path: Path) -> Path:
    """Performance profiles (rliable's): per facet, the fraction of runs whose normalised score
    exceeds tau, one line per treatment over all rows (algorithms) of the facet."""
    plt = pyplot()
    facets = list(dict.fromkeys(c.facet for c in cells))
    fig, axes = plt.subplots(1, len(facets), figsize=(4.5 * len(facets), 3.4), squeeze=False)
    taus = np.linspace(0, 1, 101)
    for ax, facet in zip(axes.flat, facets, strict=True):
        members = [c for c in cells if c.facet == facet]
        treatments = sorted({c.treatment for c in members}, key=treatment_order)
        for i, t in enumerate(treatments):
            scores = np.concatenate([c.scores for c in members if c.treatment == t])
            norm = (scores - lo) / (hi - lo) if hi > lo else scores
            frac = [(norm > tau).mean() for tau in taus]
            ax.plot(taus, frac, color=_color(t, i), label=f"{t} ({len(scores)} runs)")
        ax.set_title(facet or "all runs", fontsize=9)
        ax.set_xlabel(f"normalised score τ (score in [{lo:g}, {hi:g}])")
        ax.set_ylabel("fraction of runs with score > τ")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# -- report ---------------------------------------------------------------------------------------
def wandb_spec(root, cells, design, facet_markdown, made, intro, shown, command) -> dict:
    """The W&B Report of this report (``src.wandb_report``): the same sections and tables."""
    import subprocess

    from src.wandb_report import report_spec, sweep_groups

    entity, project, groups = sweep_groups(Path(root))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    meta = {
        "title": f"maskbench: {shown}",
        "description": f"maskbench comparison of {shown}: one line per model, seeds as a band.",
        "intro": intro,
        "entity": entity,
        "project": project,
        "groups": groups,
        "reproduce": f"Made by `{command}` at commit `{commit or 'unknown'}`.",
    }
    images = ["profiles.png", *(name for name, path in made.items() if path)]
    return report_spec(cells, design, facet_markdown, images, meta)


def machine_label(summary: dict) -> str | None:
    """The machine a run was made on (its summary's ``machine``), as the report names it; None for
    runs that predate the field."""
    m = summary.get("machine")
    return f"{m['cpu']}, torch {m['torch_cpu_capability']}" if m else None


def machines_line(runs: list[Run]) -> list[str]:
    """Where the runs were made (each summary's ``machine``): one seed repeats its numbers exactly
    only on one kind of machine, so a record made on several reproduces its CIs, not each number.
    Nothing for records that predate the field."""
    made = Counter(label for r in runs if (label := machine_label(r.summary)))
    if not made:
        return []
    where = "; ".join(f"{n} on {machine}" for machine, n in sorted(made.items()))
    older = len(runs) - sum(made.values())
    return [
        f"**Machines**: {where}"
        + (f"; {older} made before runs recorded theirs" if older else "")
        + ". A seed repeats its numbers exactly only on one kind of machine "
        '(bench/RESULTS.md, "Same seed, another machine").',
        "",
    ]


def write_report(
    root: Path,
    out: Path,
    reps: int = 10_000,
    publish_wandb: bool = False,
    runs: list[Run] | None = None,
    margin: float | None = None,
    score: str = "return",
    compare: str | None = None,
) -> Path:
    """report.md, cells.csv and plots in ``out`` for the runs under ``root`` (or ``runs``),
    each run scored by ``score`` (a key of SCORES); ``compare``: a config key (or prefix) whose
    values are the treatments instead of the model's (src.cells)."""
    runs = load_runs(root) if runs is None else runs
    if not runs:
        raise SystemExit(
            f"No runs under {root}: expected */summary.json, config.yaml, metrics.jsonl."
        )
    key = SCORES[score]
    lacking = [r for r in runs if r.summary.get(EVAL_RETURN) is not None and key not in r.summary]
    if lacking:
        raise SystemExit(
            f"--score {score}: {len(lacking)} of the {len(runs)} runs have no {key} (made before "
            f"it was logged, e.g. {display_path(lacking[0].path)}); re-run them or use --score "
            "return."
        )
    for run in runs:
        run.score_key = key
    out.mkdir(parents=True, exist_ok=True)
    design = derive([r.flat for r in runs], (compare,) if compare else TREATMENT)
    if compare and not design.keys("treatment"):
        raise SystemExit(
            f"--compare {compare}: no config key under {compare!r} differs between these runs "
            f"(the keys that do: {', '.join(design.labels) or 'none'}); name one of them."
        )
    cells = group_cells(runs, design)
    lo, hi = score_range(cells)
    margin = MARGIN_FRACTION * (hi - lo) if margin is None else margin
    table = cell_table(cells, lo, hi, reps)
    table.to_csv(out / "cells.csv", index=False)
    # Two families of verdicts, the final score and sample efficiency (the normalised area under
    # the evaluation curve, margin AUC_MARGIN), corrected together: m counts both.
    aucs = {id(c): cell_aucs(c, lo, hi) for c in cells}
    # Only the pairs tested are counted.
    pairs = tested_pairs(comparison_pairs(cells), lambda c: c.scores)
    auc_pairs = tested_pairs(pairs, lambda c: aucs[id(c)])
    m = len(pairs) + len(auc_pairs)
    comp = comparisons(cells, margin, reps, num_comparisons=m)
    comp_auc = comparisons(cells, AUC_MARGIN, reps, lambda c: aucs[id(c)], num_comparisons=m)
    shown = display_path(root)
    command = (
        f"python -m src.report {shown}"
        + (f" --score {score}" if score != "return" else "")
        + (f" --compare {compare}" if compare else "")
    )
    evaluated = all(r.evaluated for r in runs)
    what = (
        "greedy return"
        if score == "return"
        else "greedy task return (the reward of valid actions only, invalid-action penalties "
        "left out)"
    )
    score_text = (
        f"the {what} of separate evaluation episodes at the end of each run's budget"
        if evaluated
        else "the rolling mean training return at the end of each run (these runs predate "
        "separate evaluation episodes, or some of them lack it)"
    )
    seeds = sorted({len(c.runs) for c in cells})
    lines = [
        f"# maskbench report: {shown}",
        "",
        f"Made by `{command}`. {len(runs)} runs in {len(cells)} cells "
        f"({'/'.join(map(str, seeds))} seeds per cell). Cells differ in "
        f"{', '.join(f'`{k}`' for k in design.labels) or 'nothing'}.",
        "",
        *machines_line(runs),
        f"**Score**: {score_text}. Tables: IQM over seeds [95% stratified-bootstrap CI, "
        f"{reps} resamples]; the best IQM of each row in bold.",
        "",
    ]
    if m:
        lines += [
            f"**Verdicts**: Δ = difference of IQMs with a {100 * (1 - stats.corrected_alpha(m)):.2f}% "
            f"bootstrap CI ({m} comparisons in this report: {len(pairs)} of the score, "
            f"{len(auc_pairs)} of sample efficiency; Bonferroni: all hold together at 95%). "
            f"Margin of practical equivalence ±{margin:g} ({MARGIN_FRACTION:.0%} of the score "
            f"range [{lo:g}, {hi:g}]; ±{AUC_MARGIN:g} of sample efficiency): a CI inside it is a "
            "tie, a CI beyond it a win or a loss."
            + (
                f" A cell with fewer than {MIN_SEEDS} seeds gets no verdict (its difference is "
                "shown, not tested)."
                if len(pairs) < len(comparison_pairs(cells))
                else ""
            ),
            "",
        ]
    facet_markdown = {}
    digits = score_digits(margin)
    rows_are = row_header(design)
    scores = compact_tables(
        table, "score_iqm", "score_ci_low", "score_ci_high", digits, rows_are=rows_are
    )
    for facet, md in scores.items():
        verdicts = verdict_lines(comp, facet, digits, rows_are)
        facet_markdown[facet] = "\n\n".join([md, *verdicts])
        lines += [f"## {facet or 'All runs'}", "", facet_markdown[facet], ""]
    if outcomes := outcome_tables(table, rows_are):
        lines += [
            "## Games: win / draw / loss / unfinished",
            "",
            "Greedy evaluation games at the end of each run, % won / drawn / lost / unfinished "
            "(mean over seeds). Unfinished: a game cut by the time limit, which a model blind to "
            "the mask reaches by stalling on invalid moves; its task return is 0, as a draw's.",
            "",
        ]
        for facet, md in outcomes.items():
            lines += [f"**{facet or 'All runs'}**", "", md, ""]
    auc_tables = compact_tables(table, "auc_iqm", "auc_ci_low", "auc_ci_high", 2, rows_are=rows_are)
    if table["auc_iqm"].notna().any():
        lines += [
            "## Sample efficiency",
            "",
            "Normalised area under the evaluation curve over the budget (1 = the best score "
            "from the first step), IQM [95% CI].",
            "",
        ]
        for facet, md in auc_tables.items():
            verdicts = verdict_lines(comp_auc, facet, 2, rows_are)
            lines += [f"**{facet or 'All runs'}**", "", "\n\n".join([md, *verdicts]), ""]
    plots = [
        (key, f"evaluation {score.replace('_', ' ')} (greedy, IQM)", "eval_curves.png", False),
        (
            key,
            f"evaluation {score.replace('_', ' ')} (greedy), per seed",
            "eval_curves_per_seed.png",
            True,
        ),
        (TRAIN_RETURN, "training return (rolling mean, IQM)", "learning_curves.png", False),
        (INVALID_RATE, "invalid-action rate (IQM)", "invalid_rate.png", False),
        (P_INVALID, "P(invalid | s) before masking (IQM)", "p_invalid.png", False),
    ]
    made = {
        name: plot_curves(cells, column, label, out / name, reps=500, per_seed=per_seed)
        for column, label, name, per_seed in plots
    }
    plot_profiles(cells, lo, hi, out / "profiles.png")
    lines += [
        "## Plots",
        "",
        "Performance profiles (fraction of runs above each normalised score, all algorithms "
        "of a facet together):",
        "",
        "![performance profiles](profiles.png)",
        "",
    ]
    for _, label, name, _ in plots:
        if made[name]:
            lines += [f"{label[0].upper()}{label[1:]}:", "", f"![{label}]({name})", ""]
    if made["p_invalid.png"]:
        lines += [
            "P(invalid | s) is the probability the network's own logits put on invalid actions "
            "*before* masking (policy-gradient models on torch); `mask_removed_*` in cells.csv: "
            "greedy episodes with the mask replaced by ones at the end of each run.",
            "",
        ]
    lines += [
        "## Every number per cell",
        "",
        "`cells.csv`: score and CI, stochastic evaluation, final training return, sample "
        "efficiency, env steps to each return threshold (rolling training mean), invalid-action "
        "rate, P(invalid | s), the masking-removed evaluation.",
        "",
    ]
    failed = failed_jobs(root) if Path(root).is_dir() else {}
    if failed:
        lines += [
            "## Failed jobs",
            "",
            f"{len(failed)} job(s) failed and are not in the tables above; re-run the sweep with "
            f"`hydra.sweep.dir={shown}` to run only the jobs that did not finish.",
            "",
            *(f"- `{name}`: {error}" for name, error in failed.items()),
            "",
        ]
    if Path(root).is_dir():
        intro = "\n\n".join(x for x in lines[2:8] if x and not x.startswith("#"))
        spec = wandb_spec(root, cells, design, facet_markdown, made, intro, shown, command)
        wandb_note = write_spec(root, out, spec, publish_wandb, shown)
    else:
        wandb_note = f"Runs read through the W&B API (group `{root}`)."
    lines += ["## Weights & Biases", "", wandb_note, ""]
    report = out / "report.md"
    report.write_text("\n".join(lines))
    return report


def main(argv: list[str] | None = None) -> None:
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
    parser.add_argument("--reps", type=int, default=10_000, help="bootstrap resamples")
    parser.add_argument(
        "--score",
        choices=list(SCORES),
        default="return",
        help="what runs are scored by: the greedy evaluation return, or its task return (the "
        "reward of valid actions only: penalty baselines with different penalties compared on "
        "the task)",
    )
    parser.add_argument(
        "--margin",
        type=float,
        help="margin of practical equivalence in return units "
        f"(default: {MARGIN_FRACTION * 100:.0f}%% of the env's return range)",
    )
    parser.add_argument(
        "--compare",
        metavar="KEY",
        help="compare the values of this config key or prefix (e.g. framework) as the "
        "treatments: the columns and verdicts; the model and invalid-action handling join the "
        "rows (default: compare models)",
    )
    parser.add_argument(
        "--wandb",
        action="store_true",
        help="also publish the comparison as a W&B Report (needs WANDB_MODE=online and a login)",
    )
    args = parser.parse_args(argv)
    if args.wandb_group:
        runs = load_wandb_runs(args.wandb_project, args.wandb_group)
        root = Path(args.wandb_group.replace("/", "_"))
        out = args.out or Path("reports") / root
        report = write_report(
            root,
            out,
            args.reps,
            args.wandb,
            runs=runs,
            margin=args.margin,
            score=args.score,
            compare=args.compare,
        )
    elif args.root is None:
        parser.error("give a directory of runs, or --wandb-group")
    else:
        out = args.out or args.root / "report"
        report = write_report(
            args.root,
            out,
            args.reps,
            args.wandb,
            margin=args.margin,
            score=args.score,
            compare=args.compare,
        )
    print(f"report: {report}")


if __name__ == "__main__":
    main()
