"""A logged metric of a record's runs at given env steps, per cell (mean over seeds), or per run.

    python bench/at_steps.py docs/penalty/runs --metric eval/greedy/task_return_mean --at 0 10000
    python bench/at_steps.py docs/games_entropy/runs --metric learner/entropy --at 20000 100000
    python bench/at_steps.py docs/games/runs --metric eval/greedy/draw_rate --at 300000 --runs

The report's curves as numbers: for each run, the metric's first logged value at or after each
step (evaluations are logged every K env steps, so "at 10000" is the evaluation near 10k); cells
are the report's (``src.cells``: every config value that differs between runs but the seed).
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from src.cells import derive  # noqa: E402
from src.report import Run, load_runs  # noqa: E402


def value_at(run: Run, metric: str, step: float) -> float | None:
    """The metric's first logged value at or after ``step`` env steps (None: never logged)."""
    if metric not in run.metrics:
        return None
    df = run.metrics[["env_steps", metric]].dropna()
    after = df[df["env_steps"] >= step]
    return float(after[metric].iloc[0]) if len(after) else None


def table(runs: list[Run], metric: str, steps: list[float], per_run: bool = False) -> list[str]:
    design = derive([r.flat for r in runs])
    rows: dict[str, list[list[float | None]]] = defaultdict(list)
    for run in sorted(runs, key=lambda r: (design.label(r.flat), r.seed)):
        name = design.label(run.flat).replace(" | ", ", ") or "all"
        rows[f"{name} | seed {run.seed}" if per_run else name].append(
            [value_at(run, metric, s) for s in steps]
        )
    lines = [f"| {'run' if per_run else 'cell (mean over seeds)'} | " + " | ".join(
        f"{s:,.0f}" for s in steps) + " |", "|---" * (len(steps) + 1) + "|"]  # fmt: skip
    for name, values in rows.items():
        cols = []
        for i in range(len(steps)):
            found = [v[i] for v in values if v[i] is not None]
            cols.append(f"{np.mean(found):.3g}" if found else "–")
        lines.append(f"| {name} | " + " | ".join(cols) + " |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("root", type=Path, help="a record (docs/<study>/runs) or a sweep dir")
    parser.add_argument("--metric", required=True, help="a metrics.jsonl key")
    parser.add_argument("--at", type=float, nargs="+", required=True, help="env steps")
    parser.add_argument("--runs", action="store_true", help="one row per run, not per cell")
    args = parser.parse_args(argv)
    runs = load_runs(args.root)
    if not runs:
        parser.error(f"no finished runs below {args.root}")
    print(f"{args.metric} at env steps, {args.root}:\n")
    print("\n".join(table(runs, args.metric, args.at, args.runs)))


if __name__ == "__main__":
    main()
