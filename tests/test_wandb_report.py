"""The W&B Report, checked offline before it is published: a real smoke sweep logs to W&B offline,
``src.report`` writes the report's spec, and every panel's metric, filter key and summary key is
found in the sweep's own run files, with every run shown exactly once."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from src import sweep as sweep_mod
from src.wandb_files import offline_runs, read_run, records
from src.wandb_report import SPEC, SWEEP_FILE, sweep_groups, verify
from tests.conftest import ROOT, run_report, run_sweep


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """layout_edge_smoke with W&B offline: 2 layouts (facets) x 2 algorithms (rows) x 2 models."""
    root = tmp_path_factory.mktemp("wandb_sweep")
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env["WANDB_MODE"] = "offline"
    proc = run_sweep("layout_edge_smoke", root, "logger=wandb", "algo=ppo,dqn", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = subprocess.run(
        [sys.executable, "-m", "src.report", str(root), "--reps", "100", "--wandb"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    return root


def test_the_run_files_hold_what_the_runs_logged(sweep):
    (job,) = sweep.glob("0_*")
    (path,) = job.glob("wandb/offline-run-*/run-*.wandb")
    run = read_run(path)
    assert run.id == (job / "wandb_run_id").read_text().strip()
    assert run.config["algo.name"] == "ppo" and run.config["stop.env_steps"] == 1000
    summary = json.loads((job / "summary.json").read_text())
    assert run.summary["eval/greedy/return_mean"] == summary["eval/greedy/return_mean"]
    metrics = {
        k for line in (job / "metrics.jsonl").read_text().splitlines() for k in json.loads(line)
    }
    assert run.history_keys == metrics
    assert sum(1 for _ in records(path)) > 10


def test_the_spec_matches_the_report_and_passes_the_check(sweep):
    spec = json.loads((sweep / "report" / SPEC).read_text())
    runs = offline_runs(sweep)
    assert len(runs) == 8 and verify(spec, runs) == []
    # One section per facet (layout), one grid per algorithm, one line per model.
    assert [s["title"] for s in spec["sections"]] == ["layout=fixed", "layout=per_episode"]
    for section in spec["sections"]:
        assert [g["row"] for g in section["grids"]] == ["dqn", "ppo"]
        assert "| algo |" in section["markdown"] and "Δ IQM" in section["markdown"]
        for grid in section["grids"]:
            assert grid["groupby"] == ["model.action_head"]
    assert {"profiles.png", "eval_curves.png"} <= set(spec["images"])
    assert all((sweep / "report" / name).exists() for name in spec["images"])
    text = (sweep / "report" / "report.md").read_text()
    assert "checked against them: OK" in text and "python -m src.wandb_report" in text


def test_the_check_finds_what_would_be_an_empty_chart_or_a_missing_cell(sweep):
    spec, runs = json.loads((sweep / "report" / SPEC).read_text()), offline_runs(sweep)
    typo = copy.deepcopy(spec)
    typo["sections"][0]["grids"][0]["panels"].append({"metric": "charts/no_such", "title": "x"})
    assert any("never logged 'charts/no_such'" in p for p in verify(typo, runs))
    bad_key = copy.deepcopy(spec)
    bad_key["sections"][0]["grids"][0]["filters"]["algo.nmae"] = "dqn"
    problems = verify(bad_key, runs)
    assert any("no run's config has the key 'algo.nmae'" in p for p in problems)
    assert any("match no run" in p for p in problems)
    lost = copy.deepcopy(spec)
    del lost["sections"][1]["grids"][0]  # per_episode dqn: its runs are shown by no run set
    assert sum("shown by 0 run sets" in p for p in verify(lost, runs)) == 2


def test_an_archived_record_keeps_the_w_and_b_group(sweep, tmp_path):
    record = tmp_path / "runs"
    assert len(sweep_mod.copy_record(sweep, record)) == 8
    group = sweep_groups(sweep)[2]
    assert json.loads((record / SWEEP_FILE).read_text())["group"] == group[0]
    assert sweep_groups(record)[2] == group  # the record alone names the runs' W&B group
    # Its report names the group and says where the W&B files to upload are (not in the record).
    run_report(record, reps=50)
    text = (record / "report" / "report.md").read_text()
    assert f"`{group[0]}`" in text and "W&B files are not here" in text
    assert "wandb sync <sweep dir>/*/wandb/offline-run-*" in text


def test_the_spec_builds_as_a_w_and_b_report_without_the_network(sweep):
    from src.wandb_report import build_report

    spec = json.loads((sweep / "report" / SPEC).read_text())
    report = build_report(spec, ["report/profiles"])
    grids = [b for b in report.blocks if type(b).__name__ == "PanelGrid"]
    assert len(grids) == 4 + 1  # 2 layouts x 2 algorithms, then the plots
    first = spec["sections"][0]["grids"][0]
    runset = grids[0].runsets[0]
    assert "Config('env.layout') == 'fixed'" in runset.filters
    assert "Metric('Group') == " in runset.filters and runset.groupby == [
        "config.model.action_head"
    ]
    assert [p.y for p in grids[0].panels] == [[p["metric"]] for p in first["panels"]]


def test_runs_carry_their_options_as_top_level_config_keys(sweep):
    for run in offline_runs(sweep):
        assert run.config["choice/algo"] == run.config["algo.name"]
        assert run.config["choice/model"] == run.config["model.action_head"]
        assert run.config["cell"] == run.job_type  # the cell: the job's overrides minus the seed


def test_an_evaluation_run_joins_the_group_of_the_run_it_evaluates(sweep):
    from src.tracking import WANDB_ID, trained_group

    (job,) = sweep.glob("0_*")
    run_id = (job / WANDB_ID).read_text().strip()
    assert trained_group(job, run_id) == sweep_groups(sweep)[2][0]
    assert trained_group(job, None) is None
