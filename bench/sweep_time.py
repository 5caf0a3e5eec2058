"""Where a sweep's time goes: per job and per algorithm, and how busy the launcher kept the cores.

    python bench/sweep_time.py multirun/masking_vs_embedding/fixed [more sweep dirs] [--slots 2]
        [--out bench/RESULTS.md --section NAME]

Reads the job dirs a sweep ran (a ``summary.json`` newer than Hydra's ``.hydra/``: a run restored
from a committed record, or finished in an earlier sitting, is skipped by the sweep, which writes
``.hydra/`` after its summary, and is left out) and splits each job's wall time, from its start to
its ``summary.json``, into sampling (``perf/sample_time_s`` summed over iterations), learning (the
rest of training), evaluation, checkpoints and the rest (building the algorithm, W&B, waiting on
Ray, the final evaluation's set-up, the process's own start where each job has one). A job's start
is its ``started_at`` (summary, since 2026-11-29) or else when Hydra made its ``.hydra/``.

Sweep-wide: the span (first start to last end), jobs per hour, and core utilisation = the jobs'
summed wall time / (span x slots), where slots is how many jobs run at once (the parallel
launcher: ``resources.num_cpus`` / 1 CPU per job = 2 on 2 cores). Jobs still running or killed
have no summary and are not counted; a sweep resumed across sittings counts the gap between them
as idle, so give it the dirs of one sitting or read the span with that in mind.
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from runs import write_section

PARTS = ("sampling", "learning", "evaluation", "checkpoints", "other")


@dataclass
class Job:
    name: str
    algo: str
    start: float  # epoch seconds
    end: float
    parts: dict[str, float]

    @property
    def wall(self) -> float:
        return self.end - self.start


def load_job(job_dir: Path) -> Job | None:
    summary_path = job_dir / "summary.json"
    if not (job_dir / ".hydra").is_dir() or not summary_path.exists():
        return None
    end = summary_path.stat().st_mtime
    if end < (job_dir / ".hydra").stat().st_mtime:
        return None  # finished before this sweep reached it (restored, or an earlier sitting's)
    summary = json.loads(summary_path.read_text())
    if "started_at" in summary:
        start = datetime.fromisoformat(summary["started_at"]).timestamp()
    else:
        start = (job_dir / ".hydra").stat().st_mtime
    sampling = 0.0
    with open(job_dir / "metrics.jsonl") as rows:
        for line in rows:
            sampling += json.loads(line).get("perf/sample_time_s") or 0.0
    train = summary["wall_time_s"]
    parts = {
        "sampling": min(sampling, train),
        "learning": max(train - sampling, 0.0),
        "evaluation": summary.get("eval_time_s", 0.0),
        "checkpoints": summary.get("checkpoint_time_s", 0.0),
    }
    parts["other"] = max(end - start - sum(parts.values()), 0.0)
    algo = job_dir.name.split("_")[1] if job_dir.name[0].isdigit() else job_dir.name
    return Job(job_dir.name, algo, start, end, parts)


def load_jobs(sweep_dirs: list[Path]) -> list[Job]:
    jobs = [load_job(d) for root in sweep_dirs for d in sorted(root.iterdir()) if d.is_dir()]
    return [j for j in jobs if j is not None]


def report(jobs: list[Job], slots: int) -> str:
    if not jobs:
        return "No finished job that this sweep ran (job dirs with .hydra/ and summary.json)."
    span = max(j.end for j in jobs) - min(j.start for j in jobs)
    busy = sum(j.wall for j in jobs)
    lines = [
        f"{len(jobs)} jobs in {span / 60:.1f} min: **{len(jobs) / span * 3600:.1f} jobs/hour**; "
        f"core utilisation {busy / (span * slots):.0%} ({slots} jobs at a time; the rest is "
        "idle slots: between jobs, or at the end when fewer jobs than slots are left).",
        "",
        "| algo | jobs | job wall s: median [max] | "
        + " | ".join(f"{p} %" for p in PARTS)
        + " | other s: median |",
        "|---|---|---|" + "---|" * len(PARTS) + "---|",
    ]
    for algo in sorted({j.algo for j in jobs}):
        mine = [j for j in jobs if j.algo == algo]
        walls = [j.wall for j in mine]
        total = sum(walls)
        shares = [sum(j.parts[p] for j in mine) / total for p in PARTS]
        lines.append(
            f"| {algo} | {len(mine)} | {statistics.median(walls):.0f} [{max(walls):.0f}] | "
            + " | ".join(f"{s:.0%}" for s in shares)
            + f" | {statistics.median(j.parts['other'] for j in mine):.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("sweep_dirs", type=Path, nargs="+")
    parser.add_argument("--slots", type=int, default=2, help="jobs the launcher runs at once")
    parser.add_argument("--out", type=Path, help="a Markdown file to write the section into")
    parser.add_argument("--section", default="sweep_time.py")
    args = parser.parse_args()
    text = report(load_jobs(args.sweep_dirs), args.slots)
    print(text)
    if args.out:
        shown = " ".join(str(d) for d in args.sweep_dirs)
        header = f"Made by `python bench/sweep_time.py {shown} --slots {args.slots}`.\n\n"
        write_section(args.out, args.section, header + text)


if __name__ == "__main__":
    main()
