"""A finished Optuna search (a tune_* sweep dir) as a committed Markdown table: every trial.

    python bench/tuning_table.py multirun/<date>/<time> --out docs/tuning/tune_impala.md

One row per trial, best objective first: the parameters Optuna chose, the objective (the run's
``metrics.objective``), the greedy evaluation at the end, and env steps to each threshold. Then
Optuna's own ``optimization_results.yaml``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from omegaconf import OmegaConf


def trials(sweep_dir: Path) -> list[dict]:
    rows = []
    for job in sorted(p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()):
        overrides = [
            o
            for o in OmegaConf.load(job / ".hydra" / "overrides.yaml")
            if not o.startswith(("logger=", "hydra."))
        ]
        summary_path = job / "summary.json"
        if not summary_path.exists():
            rows.append({"trial": job.name.split("_")[0], "params": overrides, "failed": True})
            continue
        summary = json.loads(summary_path.read_text())
        key = OmegaConf.load(job / "config.yaml").metrics.get("objective", "final_return_mean")
        rows.append(
            {
                "trial": job.name.split("_")[0],
                "params": overrides,
                "objective": summary.get(key),
                "eval": summary.get("eval/greedy/return_mean"),
                "reached": {k: v["env_steps"] for k, v in summary.get("first_reached", {}).items()},
                "env_steps": summary["env_steps"],
                "seconds": summary["wall_time_s"],
            }
        )
    return sorted(rows, key=lambda r: -(r.get("objective") or float("-inf")))


def markdown(sweep_dir: Path, name: str) -> str:
    rows = trials(sweep_dir)
    thresholds = sorted({t for r in rows for t in r.get("reached", {})}, key=float)
    head = ["trial", "objective", "eval (greedy)", *(f"steps to {t}" for t in thresholds)]
    lines = [
        f"# {name}: {len(rows)} trials",
        "",
        f"Made by `make sweep NAME={name}` (sweep dir `{sweep_dir.name}`) and "
        f"`python bench/tuning_table.py <sweep dir>`. Best objective first.",
        "",
        "| " + " | ".join([*head, "seconds", "parameters"]) + " |",
        "|" + "---|" * (len(head) + 2),
    ]
    for r in rows:
        if r.get("failed"):
            lines.append(
                f"| {r['trial']} | failed |"
                + " |" * (len(head) - 1)
                + f" | {' '.join(r['params'])} |"
            )
            continue
        cells = [
            r["trial"],
            f"{r['objective']:.1f}" if r["objective"] is not None else "–",
            f"{r['eval']:.1f}" if r["eval"] is not None else "–",
            *(f"{r['reached'][t]:,}" if t in r["reached"] else "–" for t in thresholds),
            f"{r['seconds']:.0f}",
            " ".join(f"`{p}`" for p in r["params"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    best = sweep_dir / "optimization_results.yaml"
    if best.exists():
        lines += ["", "Optuna's result:", "", "```yaml", best.read_text().strip(), "```"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--name", help="the sweep's name (default: the out file's stem)")
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(markdown(args.sweep_dir, args.name or args.out.stem))
    print(args.out.read_text())


if __name__ == "__main__":
    main()
