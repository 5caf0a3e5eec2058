"""Time-to-solve for a set of cells x seeds: env steps, wall time, peak memory, invalid actions.

Each run is the real CLI (``python -m src.run ... logger=none``) in its own process, so the
numbers are what a user gets; ``summary.json`` of each run is collected into a Markdown table.

    python bench/solve.py                       # the cells below, seeds 0 1 2 -> bench/RESULTS.md
    python bench/solve.py --seeds 0 --out /tmp/r.md --cell masked_fixed
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CELLS: dict[str, list[str]] = {
    "masked_fixed": ["model=masked", "env.layout=fixed"],
    "unmasked_fixed_penalty": ["model=unmasked", "env.layout=fixed", "env.invalid_action=penalty"],
    "embedding_fixed": ["model=embedding", "env.layout=fixed"],
    "masked_per_episode": ["model=masked", "env.layout=per_episode"],
    "embedding_per_episode": ["model=embedding", "env.layout=per_episode"],
}


def run_cell(overrides: list[str], seed: int, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [
            sys.executable,
            "-m",
            "src.run",
            f"hydra.run.dir={tmp}",
            "logger=none",
            "checkpoint.final=false",
            f"seed={seed}",
            *overrides,
            *extra,
        ]
        start = time.perf_counter()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        last = ""
        for line in proc.stdout:  # progress: keep the latest line on one console line
            if line.startswith("["):
                last = line.strip()
                print(f"\r  {last[:150]}", end="", flush=True)
        _, status, usage = os.wait4(proc.pid, 0)
        print()
        summary_path = Path(tmp) / "summary.json"
        if status != 0 or not summary_path.exists():
            return {"error": f"exit status {status}; last line: {last}"}
        summary = json.loads(summary_path.read_text())
    summary["process_wall_s"] = round(time.perf_counter() - start, 1)
    summary["peak_rss_mib"] = round(usage.ru_maxrss / 1024)  # Linux: KiB
    return summary


def fmt(value, spec="{:,.0f}") -> str:
    return "–" if value is None else spec.format(value)


def median(runs: list[dict], key: str) -> float | None:
    return statistics.median(r[key] for r in runs) if runs else None


def table(results: dict[str, list[dict]]) -> str:
    lines = [
        "| cell | seed | solved | env steps to 475 | train s to 475 | final return | invalid actions | process s | peak RSS MiB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for cell, runs in results.items():
        for r in runs:
            if "error" in r:
                lines.append(f"| {cell} | {r['seed']} | error: {r['error']} |||||||")
                continue
            lines.append(
                f"| {cell} | {r['seed']} | {'yes' if r['solved'] else 'no'} | {fmt(r['env_steps_to_target'])} "
                f"| {fmt(r['time_to_target_s'], '{:.1f}')} | {fmt(r['final_return_mean'], '{:.1f}')} "
                f"| {r['invalid_actions_total']:,} | {r['process_wall_s']} | {r['peak_rss_mib']} |"
            )
    lines += [
        "",
        "| cell | solved | median env steps to 475 | median train s to 475 | mean final return |",
        "|---|---|---|---|---|",
    ]
    for cell, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        solved = [r for r in ok if r["solved"]]
        lines.append(
            f"| {cell} | {len(solved)}/{len(runs)} | {fmt(median(solved, 'env_steps_to_target'))} "
            f"| {fmt(median(solved, 'time_to_target_s'), '{:.1f}')} "
            f"| {fmt(statistics.mean(r['final_return_mean'] for r in ok) if ok else None, '{:.1f}')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cell", nargs="*", default=list(CELLS), choices=list(CELLS))
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("overrides", nargs="*", help="extra Hydra overrides for every run")
    args = parser.parse_args()

    results: dict[str, list[dict]] = {}
    for cell in args.cell:
        for seed in args.seeds:
            print(f"{cell} seed={seed}")
            results.setdefault(cell, []).append(
                {"seed": seed, **run_cell(CELLS[cell], seed, args.overrides)}
            )
    command = "python bench/solve.py " + " ".join(
        [
            *(["--cell", *args.cell] if args.cell != list(CELLS) else []),
            *(["--seeds", *map(str, args.seeds)] if args.seeds != [0, 1, 2] else []),
            *args.overrides,
        ]
    )
    cpu = os.cpu_count()
    text = (
        "# Time to solve the default env\n\n"
        f"Made by `{command.strip()}` on {time.strftime('%Y-%m-%d')}, {cpu} CPU cores, torch, PPO defaults.\n"
        "Solved = the rolling mean return over the last 100 episodes reaches 475; runs stop there, at 300k\n"
        "env steps, or after 15 minutes. 'train s' excludes start-up (Ray, building the algorithm);\n"
        "'process s' is the whole command. Peak RSS is the driver process (env runner and learner run\n"
        "in it with the default `resources.num_env_runners=0`).\n\n" + table(results) + "\n"
    )
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
