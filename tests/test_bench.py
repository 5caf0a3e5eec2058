"""The benches' shared writer: a script's section of a results file, and nothing else, is replaced."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from runs import write_section  # noqa: E402


def test_write_section_replaces_only_its_own_block(tmp_path):
    out = tmp_path / "RESULTS.md"
    write_section(out, "perf.py", "## perf\nfirst run")
    assert out.read_text() == "<!-- perf.py: begin -->\n## perf\nfirst run\n<!-- perf.py: end -->\n"
    hand = "# Results\n\nAnalysis by hand.\n\n"
    out.write_text(hand + out.read_text() + "\nMore analysis.\n")
    write_section(out, "solve.py", "## solve\ntable")
    write_section(out, "perf.py", "## perf\nsecond run")
    text = out.read_text()
    assert text.startswith(hand) and "\nMore analysis.\n" in text
    assert "first run" not in text and text.count("second run") == 1
    assert text.index("second run") < text.index("More analysis") < text.index("## solve")


def test_the_masking_cost_mode_times_every_op_and_both_modules():
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run(
        [sys.executable, "bench/sampling.py", "masking", "--actions", "6", "60", "--rounds", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["actions"] for r in rows] == [6, 60]
    for row in rows:
        assert set(row["us_per_call"]) == {
            "mask_logits",
            "log_clamp_add",
            "masked_fill",
            "forward_masked",
            "forward_unmasked",
        }
        assert all(v > 0 for v in row["us_per_call"].values())


def test_sweep_time_splits_each_job_and_counts_only_the_jobs_the_sweep_ran(tmp_path):
    import json
    import os

    from sweep_time import load_jobs, report

    def job(name, start, end, train, sampled, evaluation, checkpoint, restored=False):
        d = tmp_path / name
        (d / ".hydra").mkdir(parents=True)
        rows = [{"perf/sample_time_s": s} for s in sampled]
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        summary = {"wall_time_s": train, "eval_time_s": evaluation}
        summary["checkpoint_time_s"] = checkpoint
        (d / "summary.json").write_text(json.dumps(summary))
        # A restored run's summary predates the .hydra/ the sweep writes when it skips it.
        hydra_t = end + 5 if restored else start
        os.utime(d / ".hydra", (hydra_t, hydra_t))
        os.utime(d / "summary.json", (end, end))

    job(
        "0_ppo_masked_fixed_s0", 1000, 1100, train=80, sampled=[20, 20], evaluation=10, checkpoint=1
    )
    job("1_ppo_masked_fixed_s1", 1000, 1050, train=40, sampled=[10], evaluation=5, checkpoint=1)
    job("2_dqn_masked_fixed_s0", 1100, 1200, train=90, sampled=[30], evaluation=5, checkpoint=2)
    job("3_dqn_masked_fixed_s1", 0, 10, 5, [1], 1, 1, restored=True)
    jobs = {j.name: j for j in load_jobs([tmp_path])}
    assert sorted(jobs) == [
        "0_ppo_masked_fixed_s0",
        "1_ppo_masked_fixed_s1",
        "2_dqn_masked_fixed_s0",
    ]
    ppo = jobs["0_ppo_masked_fixed_s0"]
    assert ppo.algo == "ppo" and ppo.wall == 100
    assert ppo.parts == {
        "sampling": 40,
        "learning": 40,
        "evaluation": 10,
        "checkpoints": 1,
        "other": 9,
    }
    text = report(list(jobs.values()), slots=2)
    # 3 jobs in 200 s; busy 100 + 50 + 100 of 2 x 200 slot-seconds.
    assert "3 jobs in 3.3 min: **54.0 jobs/hour**; core utilisation 62%" in text
    assert "| dqn | 1 | 100 [100] | 30% | 60% | 5% | 2% | 3% | 3.0 |" in text


def test_at_steps_reads_the_first_logged_value_at_or_after_each_step():
    import pandas as pd
    from at_steps import value_at

    from src.report import Run

    metrics = pd.DataFrame(
        {"env_steps": [0, 5_000, 10_030, 20_050], "eval/x": [1.0, None, 3.0, 4.0]}
    )
    run = Run(path=Path("r"), flat={}, seed=0, summary={}, metrics=metrics)
    assert value_at(run, "eval/x", 0) == 1.0
    assert value_at(run, "eval/x", 4_000) == 3.0  # the row at 5k has no value: skipped
    assert value_at(run, "eval/x", 10_030) == 3.0 and value_at(run, "eval/x", 10_031) == 4.0
    assert value_at(run, "eval/x", 30_000) is None and value_at(run, "missing", 0) is None


def test_same_run_finds_where_a_rerun_first_differs_and_where_its_trajectory_parts(tmp_path):
    import json

    from same_run import compare

    def run(name, rows, **summary):
        d = tmp_path / name
        d.mkdir()
        (d / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        (d / "summary.json").write_text(json.dumps({"env_steps": rows[-1]["env_steps"], **summary}))
        return d

    base = [
        {
            "iteration": i,
            "env_steps": 100 * i,
            "charts/episodes": 10 * i,
            "loss": 0.5,
            "wall_time_s": i,
        }
        for i in range(5)
    ]
    # The same run on a slower machine, whose later code logs one more metric: identical.
    same = [{**r, "wall_time_s": 2 * r["wall_time_s"], "perf/x": 1, "new/metric": 3} for r in base]
    assert compare(run("a", base), run("b", same))["identical"]
    # Rounding differs from iteration 1 (1e-9), the trajectories part at iteration 3.
    drift = [dict(r) for r in base]
    for r in drift[1:]:
        r["loss"] = 0.5 * (1 + 1e-9)
    for r in drift[3:]:
        r["env_steps"] += 1
    c = compare(
        tmp_path / "a", run("c", drift, machine={"cpu": "X", "torch_cpu_capability": "AVX2"})
    )
    assert not c["identical"] and c["first"] == 1 and c["apart"] == 3
    assert 5e-10 < c["worst"] < 2e-9 and c["machines"] == "? / X, torch AVX2"
    # A re-run cut short is not identical, even where its rows agree.
    assert compare(tmp_path / "a", run("d", base[:3]))["first"] == 3
