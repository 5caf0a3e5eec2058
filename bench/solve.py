"""Time to solve for cells x seeds: env steps and seconds to each return threshold, memory, invalid actions.

Each run is the real CLI (``python -m src.run ... logger=none``) in its own process, so the
numbers are what a user gets; ``summary.json`` of each run is collected into a Markdown table.

    python bench/solve.py                       # every algorithm's masked default, seeds 0-4 -> bench/RESULTS.md
    python bench/solve.py --seeds 0 --out /tmp/r.md --cell masked_fixed
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from runs import ROOT, run_maskbench, write_section

CELLS: dict[str, list[str]] = {
    # The layout edge (PPO): the mask is enough on a fixed layout, not when slots move.
    "ppo/masked/fixed": ["model=masked", "env.layout=fixed"],
    "ppo/unmasked/fixed (penalty)": [
        "model=unmasked",
        "env.layout=fixed",
        "env.invalid_action=penalty",
    ],
    "ppo/embedding/fixed": ["model=embedding", "env.layout=fixed"],
    "ppo/masked/per_episode": ["model=masked", "env.layout=per_episode"],
    "ppo/embedding/per_episode": ["model=embedding", "env.layout=per_episode"],
    # Every algorithm, masked, on the default env.
    "appo/masked/fixed": ["algo=appo", "model=masked"],
    "impala/masked/fixed": ["algo=impala", "model=masked"],
    "dqn/masked/fixed": ["algo=dqn", "model=masked"],
    "sac/masked/fixed": ["algo=sac", "model=masked"],
    # TensorFlow (RLlib's old API stack).
    "ppo/masked/fixed (tf2)": ["framework=tf2", "algo=ppo", "model=masked"],
    "dqn/masked/fixed (tf2)": ["framework=tf2", "algo=dqn", "model=masked"],
}
TORCH_CELLS = [c for c in CELLS if "(tf2)" not in c]
# The solve criterion of issue "defaults that learn": every algorithm's masked default, 5 seeds.
DEFAULTS = [
    "ppo/masked/fixed",
    "appo/masked/fixed",
    "impala/masked/fixed",
    "dqn/masked/fixed",
    "sac/masked/fixed",
]
THRESHOLDS = ("150", "450", "475")
SOLVED = "450"  # the solve criterion of each algorithm's defaults (conf/algo/*.yaml)
DEFAULT_OUT = ROOT / "bench" / "RESULTS.md"


def shown_path(path: Path) -> str:
    """The path as the command to re-run it would name it: relative to the repo when inside."""
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def run_cell(overrides: list[str], seed: int, extra: list[str]) -> dict:
    measured, summary, _ = run_maskbench([f"seed={seed}", *overrides, *extra])
    if summary is None:
        return {"error": f"exit status {measured.status}; {measured.tail.strip()[-300:]!r}"}
    return {
        **summary,
        "process_wall_s": round(measured.wall_s, 1),
        "peak_rss_mib": measured.peak_rss_mib,
    }


def fmt(value, spec="{:,.0f}") -> str:
    return "–" if value is None else spec.format(value)


def reached(run: dict, threshold: str, key: str) -> float | None:
    hit = run.get("first_reached", {}).get(threshold)
    return hit and hit[key]


def table(results: dict[str, list[dict]]) -> str:
    head = "".join(f" steps to {t} | s to {t} |" for t in THRESHOLDS)
    lines = [
        f"| cell | seed |{head} best return | final return | eval (greedy) | invalid actions "
        "| process s | peak RSS MiB |",
        "|---|---|" + "---|---|" * len(THRESHOLDS) + "---|---|---|---|---|---|",
    ]
    for cell, runs in results.items():
        for r in runs:
            if "error" in r:
                lines.append(f"| {cell} | {r['seed']} | error: {r['error']} |")
                continue
            cols = "".join(
                f" {fmt(reached(r, t, 'env_steps'))} | {fmt(reached(r, t, 'wall_time_s'), '{:.0f}')} |"
                for t in THRESHOLDS
            )
            lines.append(
                f"| {cell} | {r['seed']} |{cols} {fmt(r['best_return_mean'], '{:.1f}')} "
                f"| {fmt(r['final_return_mean'], '{:.1f}')} "
                f"| {fmt(r.get('eval/greedy/return_mean'), '{:.1f}')} | {r['invalid_actions_total']:,} "
                f"| {r['process_wall_s']} | {r['peak_rss_mib']} |"
            )
    return "\n".join(lines)


def solved_table(results: dict[str, list[dict]]) -> str:
    """Per cell: in how many seeds the rolling mean reached SOLVED within the run's budget."""
    lines = [
        f"| cell | solved (rolling mean ≥ {SOLVED}) | env steps to {SOLVED}: median [max] | budget |",
        "|---|---|---|---|",
    ]
    for cell, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        steps = [s for r in ok if (s := reached(r, SOLVED, "env_steps")) is not None]
        budget = {r.get("budget_env_steps") for r in ok} - {None}
        lines.append(
            f"| {cell} | {len(steps)}/{len(runs)} | "
            + (f"{np.median(steps):,.0f} [{max(steps):,.0f}]" if steps else "–")
            + f" | {', '.join(f'{b:,}' for b in sorted(budget)) or '–'} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cell", nargs="*", default=DEFAULTS, choices=list(CELLS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--time-s", type=float, default=300, help="stop.time_s of every run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--section", default="solve.py", help="the marked section of --out to (re)write"
    )
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args()

    command = "python bench/solve.py " + " ".join(
        [
            *(["--cell", *(f"'{c}'" for c in args.cell)] if args.cell != DEFAULTS else []),
            *(["--seeds", *map(str, args.seeds)] if args.seeds != [0, 1, 2, 3, 4] else []),
            *([f"--time-s {args.time_s:g}"] if args.time_s != 300 else []),
            *([f"--out {shown_path(args.out)}"] if args.out != DEFAULT_OUT else []),
            *([f"--section {args.section}"] if args.section != "solve.py" else []),
            *args.overrides,
        ]
    )
    results: dict[str, list[dict]] = {}
    for cell in args.cell:
        for seed in args.seeds:
            print(f"{cell} seed={seed}")
            overrides = [f"stop.time_s={args.time_s}", *args.overrides]
            results.setdefault(cell, []).append(
                {"seed": seed, **run_cell(CELLS[cell], seed, overrides)}
            )
            # Rewritten after every run: an interrupted bench keeps what it measured.
            write(args.out, results, command.strip(), args.time_s, args.section)
    print(args.out.read_text())


def write(
    out: Path, results: dict[str, list[dict]], command: str, time_s: float, section: str
) -> None:
    write_section(
        out,
        section,
        "## Time to solve the default env\n\n"
        f"Made by `{command}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, each\n"
        "algorithm's default config. Returns are rolling means over the last 100 training episodes;\n"
        "a run stops when that reaches 475, at its algorithm's budget (`algo.budget_env_steps`), or\n"
        f"after {time_s:g} s of training. 'steps/s to X': env steps and seconds of training (start-up\n"
        "excluded) until the rolling mean first reached X ('–': never); 'eval (greedy)': the\n"
        "greedy evaluation at the end. 'process s' is the whole command, start-up included. Peak\n"
        "RSS is the driver process (env runner and learner run in it).\n\n"
        + solved_table(results)
        + "\n\n"
        + table(results),
    )


if __name__ == "__main__":
    main()
