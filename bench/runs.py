"""Run a command the way a user would, in its own process, and measure it (shared by the benches)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Measured:
    status: int
    wall_s: float
    peak_rss_mib: int
    tail: str  # the last 20 lines of output


def run_process(cmd: list[str]) -> Measured:
    """Run cmd, show its latest progress line in place, and measure wall time and peak RSS."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    tail: list[str] = []
    for line in proc.stdout:
        tail = (tail + [line])[-20:]
        if line.startswith("["):
            print(f"\r  {line.strip()[:150]}", end="", flush=True)
    _, status, usage = os.wait4(proc.pid, 0)
    print()
    return Measured(
        status, time.perf_counter() - start, usage.ru_maxrss // 1024, "".join(tail)
    )  # KiB


def run_maskbench(overrides: list[str]) -> tuple[Measured, dict | None, list[dict]]:
    """``python -m src.run`` with local files only: (measures, summary.json, metrics.jsonl rows)."""
    with tempfile.TemporaryDirectory() as tmp:
        measured = run_process(
            [
                sys.executable,
                "-m",
                "src.run",
                f"hydra.run.dir={tmp}",
                "logger=none",
                "checkpoint.final=false",
                *overrides,
            ]
        )
        summary_path = Path(tmp) / "summary.json"
        if measured.status != 0 or not summary_path.exists():
            return measured, None, []
        rows = [json.loads(x) for x in (Path(tmp) / "metrics.jsonl").read_text().splitlines()]
        return measured, json.loads(summary_path.read_text()), rows


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` between ``<!-- name: begin -->`` and ``<!-- name: end -->`` in the Markdown file
    at ``path``: in place of that block if it is there, else appended. Everything outside the
    block (another script's section, hand-written analysis) is kept as it was."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{text.strip()}\n{end}"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        new = head + block + rest.split(end, 1)[1]
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block + "\n"
    path.write_text(new)
