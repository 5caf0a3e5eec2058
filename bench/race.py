"""Masked PPO (`make run`'s defaults) against sb3-contrib's MaskablePPO, repeated and interleaved.

The time either takes to reach a rolling mean return of 450 varies by up to 2x between two runs
of the same seed on this (virtualised, shared) 2-core machine, so one pair of runs cannot say
which is faster. This runs the pair ``--repeats`` times, alternating which goes first; both use a
fixed seed, so their env steps are the same every time and only the seconds vary. The verdict is
the geometric mean of the per-pair time ratios with a 95% t-interval.

    pip install -e '.[bench]'
    python bench/race.py [--repeats 7]     # -> its section of bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
from perf import TARGET, WINDOW, maskable_ppo, maskbench_cell
from runs import ROOT, write_section
from sampling import format_ratio, paired_ratio

CELL = "ppo/masked/torch"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--time-s", type=float, default=60.0, help="training-time cap per run")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()

    contenders = {
        "masked PPO": lambda: maskbench_cell(CELL, args.time_s, []),
        "MaskablePPO": lambda: maskable_ppo(args.time_s),
    }
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    for i in range(args.repeats):
        order = list(contenders) if i % 2 == 0 else list(contenders)[::-1]
        for name in order:
            print(f"repeat {i + 1}/{args.repeats}: {name}")
            runs[name].append(contenders[name]())
    failed = [n for n, rs in runs.items() for r in rs if not r.get("train_s")]
    rows = [
        "| contender | env steps to 450 | train s to 450, each repeat | median | process s (median) |",
        "|---|---|---|---|---|",
    ]
    for name, rs in runs.items():
        secs = [r.get("train_s") for r in rs]
        shown = ", ".join("–" if s is None else f"{s:.1f}" for s in secs)
        steps = sorted({r.get("env_steps") for r in rs}, key=lambda s: s or 0)
        rows.append(
            f"| {name} | {', '.join('–' if s is None else f'{s:,}' for s in steps)} | {shown} "
            f"| {np.median([s for s in secs if s] or [np.nan]):.1f} "
            f"| {np.median([r['process_s'] for r in rs if 'process_s' in r]):.1f} |"
        )
    if failed:
        verdict = f"Not every run reached {TARGET:g} within {args.time_s:g} s: {failed}."
    else:

        def ratio(key: str) -> dict[str, float]:
            return paired_ratio(*([x[key] for x in runs[name]] for name in contenders))

        r = ratio("train_s")
        verdict = (
            f"Masked PPO / MaskablePPO, train seconds to {TARGET:g}: **{r['ratio']:.2f}** "
            f"[{r['lo']:.2f}, {r['hi']:.2f}] (target <= 1.00); whole process, start-up included: "
            f"{format_ratio(ratio('process_s'), 2)}."
        )
    command = "python bench/race.py" + (f" --repeats {args.repeats}" if args.repeats != 7 else "")
    text = (
        "## Masked PPO against MaskablePPO, repeated (`bench/race.py`)\n\n"
        f"Made by `{command}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores: "
        f"{args.repeats} interleaved pairs, one process at a time, each until the rolling mean "
        f"over the last {WINDOW} episodes reaches {TARGET:g} (`make run`'s defaults with "
        "`env.invalid_action=raise`; MaskablePPO with rl-baselines3-zoo's CartPole "
        "hyperparameters, 8 envs). Train seconds exclude start-up; the ratio is the geometric "
        "mean of per-pair ratios with a 95% t-interval.\n\n" + "\n".join(rows) + f"\n\n{verdict}\n"
    )
    write_section(args.out, "race.py", text)
    print(text)


if __name__ == "__main__":
    main()
