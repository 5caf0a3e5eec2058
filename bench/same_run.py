"""Does a committed run repeat here? A record's run against a re-run of its config, iteration by
iteration.

``bench/reproduce.py`` trains one seed twice on one machine. This compares a run from a committed
record (``docs/<study>/runs/...``), made on whatever machine made it, with the same job trained
again (the study's own sweep, restricted to that job, e.g. ``python -m src.run --multirun
--config-dir sweeps --config-name games hydra.sweep.dir=/tmp/again env=tictactoe algo=ppo
model=masked seed=0``). Per pair:

* ``first Δ``: the first iteration at which any metric both runs log differs (wall-clock ones
  and ``perf/*`` aside), and the largest relative difference at that iteration: 1e-9 says the same
  batches met differently rounded sums, 1e-2 a different batch;
* ``steps apart``: the first iteration whose env-step or episode count differs, where the
  trajectories themselves part;
* the env steps and the greedy evaluation at the end, record / re-run, and where each was made
  (``machine`` in summary.json; records made before it was logged say "?").

    python bench/same_run.py docs/games/runs/all/0_ppo_masked_tictactoe_s0=/tmp/again/0_ppo_masked_tictactoe_s0
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

from reproduce import comparable
from runs import ROOT, write_section

from src.report import machine_label

EVAL = "eval/greedy/return_mean"


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def rel_diff(a, b) -> float:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(a - b) / max(abs(a), abs(b), 1e-12)
    return math.inf


def compare(record: Path, rerun: Path) -> dict:
    a, b = rows(record), rows(rerun)
    first, worst, apart = None, None, None
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        # Metrics that only one side's code logs (added since the record was made) are no
        # difference of the run itself.
        shared = comparable(x).keys() & comparable(y).keys()
        x, y = {k: x[k] for k in shared}, {k: y[k] for k in shared}
        if first is None and x != y:
            first = i
            worst = max(
                rel_diff(x.get(k), y.get(k)) for k in x.keys() | y.keys() if x.get(k) != y.get(k)
            )
        if apart is None and any(x.get(k) != y.get(k) for k in ("env_steps", "charts/episodes")):
            apart = i
    if first is None and len(a) != len(b):
        first = min(len(a), len(b))
    sa, sb = (json.loads((r / "summary.json").read_text()) for r in (record, rerun))
    return {
        "run": record.name,
        "made": (sa.get("started_at") or "?")[:10],
        "iterations": f"{len(a)} / {len(b)}",
        "identical": first is None,
        "first": first,
        "worst": worst,
        "apart": apart,
        "env_steps": f"{sa['env_steps']:,} / {sb['env_steps']:,}",
        "eval": f"{sa.get(EVAL)} / {sb.get(EVAL)}",
        "machines": " / ".join(machine_label(s) or "?" for s in (sa, sb)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("pairs", nargs="+", help="RECORD_RUN=RERUN_RUN (run dirs)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    parser.add_argument("--section", default="same_run.py")
    args = parser.parse_args()
    lines = [
        "| record run | made | identical | first Δ: iteration (largest relative Δ) "
        "| steps apart from iteration | env steps (record / re-run) | greedy eval | machines |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for pair in args.pairs:
        record, rerun = (Path(p) for p in pair.split("=", 1))
        c = compare(record, rerun)
        if c["identical"]:
            first = "–"
        elif c["worst"] is None:  # the rows they share agree: one run stopped earlier
            first = f"{c['first']} (cut short: {c['iterations']} iterations)"
        else:
            first = f"{c['first']} ({c['worst']:.0e})"
        apart = "–" if c["apart"] is None else str(c["apart"])
        lines.append(
            f"| `{record.parent.name}/{c['run']}` | {c['made']} | {'yes' if c['identical'] else 'no'} "
            f"| {first} | {apart} | {c['env_steps']} | {c['eval']} | {c['machines']} |"
        )
        print(lines[-1])
    records = " ".join(f"{Path(p.split('=', 1)[0])}=<re-run>" for p in args.pairs)
    write_section(
        args.out,
        args.section,
        "## Same seed, another machine\n\n"
        f"Made by `python bench/same_run.py {records}` on {time.strftime('%Y-%m-%d')}: each "
        "committed run beside the same job trained again here (its study's sweep restricted to "
        "that job). 'first Δ': the first iteration at which a logged metric differs (wall-clock "
        "ones aside) and the largest relative difference there; 'steps apart': the first "
        "iteration whose env-step or episode count differs.\n\n" + "\n".join(lines),
    )


if __name__ == "__main__":
    main()
