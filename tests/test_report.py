"""The report's aggregation on synthetic runs whose answers are known in advance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from src.report import curve_on_grid, iqm, load_runs, summary_table, write_report
from tests.conftest import compose_cfg


def fake_run(root, model, layout, seed, final, steps_to_150=None, invalid_rate=0.0, n_rows=20):
    run_dir = root / f"{model}_{layout}_s{seed}"
    run_dir.mkdir(parents=True)
    cfg = compose_cfg(
        [f"model={model}", f"env.layout={layout}", f"seed={seed}", "env.invalid_action=penalty"]
    )
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    steps = np.linspace(1000, 20_000, n_rows)
    with (run_dir / "metrics.jsonl").open("w") as f:
        for i, s in enumerate(steps):
            f.write(
                json.dumps(
                    {
                        "env_steps": int(s),
                        "charts/episode_return_mean": final * (i + 1) / n_rows,
                        "charts/invalid_action_rate": invalid_rate,
                    }
                )
                + "\n"
            )
    reached = (
        {"150": {"env_steps": steps_to_150, "wall_time_s": steps_to_150 / 1000}}
        if steps_to_150
        else {}
    )
    (run_dir / "summary.json").write_text(
        json.dumps(
            {
                "final_return_mean": final,
                "first_reached": reached,
                "return_window": 100,
                "invalid_action_rate_total": invalid_rate,
            }
        )
    )


@pytest.fixture()
def sweep(tmp_path):
    # fixed layout: masked always 500, unmasked 100-300; per_episode: embedding 480, masked 260.
    for seed, (m, u) in enumerate([(500, 100), (500, 200), (500, 300), (500, 250)]):
        fake_run(tmp_path, "masked", "fixed", seed, m, steps_to_150=4000 + 1000 * seed)
        fake_run(
            tmp_path,
            "unmasked",
            "fixed",
            seed,
            u,
            steps_to_150=10_000 if u >= 150 else None,
            invalid_rate=0.1,
        )
    for seed in range(3):
        fake_run(tmp_path, "embedding", "per_episode", seed, 480.0, steps_to_150=6000)
        fake_run(tmp_path, "masked", "per_episode", seed, 260.0 + seed, steps_to_150=8000)
    return tmp_path


def test_cells_iqm_thresholds_and_invalid_rate(sweep):
    runs = load_runs(sweep)
    assert len(runs) == 14
    table = summary_table(runs, ["150"], reps=200).set_index(["layout", "model"])
    assert table.loc[("fixed", "masked"), "final_return_iqm"] == pytest.approx(500)
    # IQM of (100, 200, 250, 300) = mean of the middle two = 225.
    assert table.loc[("fixed", "unmasked"), "final_return_iqm"] == pytest.approx(225)
    assert table.loc[("fixed", "unmasked"), "reached_150"] == "3/4"
    assert table.loc[("fixed", "masked"), "env_steps_to_150"] == pytest.approx(5500)  # median
    assert table.loc[("fixed", "unmasked"), "invalid_action_rate"] == pytest.approx(0.1)
    lo, hi = table.loc[("fixed", "unmasked"), ["ci_low", "ci_high"]]
    assert 100 <= lo <= 225 <= hi <= 300


def test_report_files_and_probability_of_improvement(sweep, tmp_path):
    report = write_report(sweep, tmp_path / "out", reps=200)
    text = report.read_text()
    for name in ("final_return.png", "learning_curves.png", "invalid_rate.png"):
        assert (tmp_path / "out" / name).stat().st_size > 10_000 and name in text
    cells = pd.read_csv(tmp_path / "out" / "cells.csv")
    assert len(cells) == 4
    # masked beats unmasked on every seed pair on the fixed layout: P = 1; it loses to
    # embedding on per_episode on every pair: P = 0.
    assert "| parametric_cartpole | fixed | 6 | ppo | torch | unmasked | 1 |" in text
    assert "| parametric_cartpole | per_episode | 6 | ppo | torch | embedding | 0 |" in text


def test_curves_are_interpolated_on_env_steps_and_iqm_trims_outliers(sweep):
    runs = [
        r for r in load_runs(sweep) if r.key["model"] == "masked" and r.key["layout"] == "fixed"
    ]
    grid = np.array([0.0, 1000.0, 10_500.0, 20_000.0, 30_000.0])
    values = curve_on_grid(runs, "charts/episode_return_mean", grid)
    np.testing.assert_allclose(values[:, 1], 25.0)  # the first row: 500 * 1/20
    np.testing.assert_allclose(values[:, 2], 262.5)  # halfway between rows 10 (250) and 11 (275)
    np.testing.assert_allclose(values[:, 3], 500.0)
    assert np.isnan(values[:, [0, 4]]).all()  # before the first row and past the end of every run
    assert iqm(np.array([[0.0], [10.0], [10.0], [1000.0]]))[0] == pytest.approx(10.0)


def test_offline_sweep_report_explains_how_to_sync_and_publish(tmp_path):
    from omegaconf import OmegaConf

    from src.wandb_report import publish_or_explain

    root = tmp_path / "10-00"  # the sweep dir
    job = root / "0_ppo_masked_fixed_s0"
    (job / ".hydra").mkdir(parents=True)
    (job / "wandb" / "offline-run-20260101_000000-abc").mkdir(parents=True)
    # As Hydra saves it: the sweep dir unresolved (the now resolver exists only inside Hydra).
    sweep = {"dir": "multirun/${now:%Y-%m-%d}/${now:%H-%M-%S-%f}"}
    OmegaConf.save(
        {"hydra": {"job": {"config_name": "layout_edge"}, "sweep": sweep}},
        job / ".hydra" / "hydra.yaml",
    )
    OmegaConf.save(
        {"logger": {"enabled": True, "group": None, "project": "maskbench", "entity": None}},
        job / ".hydra" / "config.yaml",
    )
    text = publish_or_explain(root, "summary", publish=True)  # offline: nothing published
    assert "group `layout_edge/10-00`" in text and "1 offline runs" in text
    assert f"wandb sync {root}/*/wandb/offline-run-*" in text and "--wandb" in text


def test_runs_read_from_the_w_and_b_api_make_the_same_cells(sweep, tmp_path):
    """A stand-in for wandb.Api serving the synthetic sweep's runs as W&B would."""
    from omegaconf import OmegaConf

    from src.report import load_wandb_runs

    local = load_runs(sweep)

    class WBRun:
        def __init__(self, run):
            self.id, self.state = run.path.name, "finished"
            self.config = OmegaConf.to_container(OmegaConf.load(run.path / "config.yaml"))
            self.summary = {**run.summary, "_runtime": 1.0}
            self._metrics = run.metrics

        def history(self, samples, pandas):
            return self._metrics

    class Api:
        def runs(self, project, filters):
            assert project == "me/maskbench" and filters == {"group": "g"}
            return [WBRun(r) for r in local]

    remote = load_wandb_runs("me/maskbench", "g", api=Api())
    assert [r.cell for r in remote] == [r.cell for r in local]
    table = summary_table(remote, ["150"], reps=100).set_index(["layout", "model"])
    assert table.loc[("fixed", "unmasked"), "final_return_iqm"] == pytest.approx(225)
    report = write_report(Path("g"), tmp_path / "out", reps=100, runs=remote)
    assert "Runs read through the W&B API" in report.read_text()
