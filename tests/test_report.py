"""The report on synthetic runs whose answers are known in advance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from src import stats
from src.cells import derive
from src.metrics import EVAL_RETURN, SCORES
from src.report import (
    cell_table,
    comparisons,
    curve_on_grid,
    group_cells,
    load_runs,
    score_range,
    write_report,
)
from tests.conftest import compose_cfg, metrics_rows

BUDGET = 20_000


def fake_run(
    root,
    model,
    layout,
    seed,
    score,
    train_final=None,
    evaluated=True,
    n_rows=20,
    extra=(),
    reach=1.0,
    machine=None,
):
    """A run as src.train writes it: its greedy evaluation ends at ``score``, its rolling training
    return at ``train_final`` (default: 100 below the score, the lag of a behaviour policy). Its
    evaluation curve ramps linearly to the score at ``reach`` x the budget, then stays there."""
    train_final = score - 100 if train_final is None else train_final
    run_dir = root / f"{model}_{layout}_s{seed}{'_'.join(extra)}"
    run_dir.mkdir(parents=True)
    cfg = compose_cfg(
        [
            f"model={model}",
            f"env.layout={layout}",
            f"seed={seed}",
            "env.invalid_action=penalty",
            f"stop.env_steps={BUDGET}",
            *extra,
        ]
    )
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    steps = np.linspace(BUDGET / n_rows, BUDGET, n_rows)
    with (run_dir / "metrics.jsonl").open("w") as f:
        for i, s in enumerate(steps):
            row = {
                "env_steps": int(s),
                "charts/episode_return_mean": train_final * (i + 1) / n_rows,
                "charts/invalid_action_rate": 0.1 if model == "unmasked" else 0.0,
            }
            if evaluated and (i + 1) % 5 == 0:  # every 5000 env steps, and at the end
                row[EVAL_RETURN] = score * min(1.0, (i + 1) / (n_rows * reach))
            f.write(json.dumps(row) + "\n")
    summary = {
        "final_return_mean": train_final,
        "first_reached": {"150": {"env_steps": 5000 + 100 * seed, "wall_time_s": 5.0}}
        if train_final >= 150
        else {},
        "return_window": 100,
        "invalid_action_rate_total": 0.1 if model == "unmasked" else 0.0,
    }
    if evaluated:
        summary[EVAL_RETURN] = score
    if machine:
        summary["machine"] = {"cpu": machine, "torch_cpu_capability": "AVX2"}
    (run_dir / "summary.json").write_text(json.dumps(summary))


UNMASKED = np.linspace(100, 300, 10)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """fixed (10 seeds): masked 500, unmasked 100..300, embedding 499.9 -> masked > unmasked,
    masked ties embedding; per_episode (5 seeds): masked ~250, embedding ~490 -> masked loses."""
    root = tmp_path_factory.mktemp("sweep")
    for seed in range(10):
        fake_run(root, "masked", "fixed", seed, 500.0)
        fake_run(root, "unmasked", "fixed", seed, float(UNMASKED[seed]))
        fake_run(root, "embedding", "fixed", seed, 499.9)
    for seed in range(5):
        fake_run(root, "masked", "per_episode", seed, 245.0 + 2 * seed)
        fake_run(root, "embedding", "per_episode", seed, 485.0 + 2 * seed)
    return root


def cells_of(root):
    runs = load_runs(root)
    return runs, group_cells(runs, derive([r.flat for r in runs]))


def test_cells_scores_come_from_the_evaluation(sweep):
    runs, cells = cells_of(sweep)
    assert len(runs) == 40 and len(cells) == 5
    lo, hi = score_range(cells)
    assert (lo, hi) == (0.0, 500.0)  # the env's stated return range
    table = cell_table(cells, lo, hi, reps=500).set_index(["facet", "treatment"])
    assert table.loc[("layout=fixed", "masked"), "score_iqm"] == pytest.approx(500)
    assert table.loc[("layout=fixed", "unmasked"), "score_iqm"] == pytest.approx(
        stats.iqm(UNMASKED)
    )
    # The training return (100 below) is reported beside it, not as the score.
    assert table.loc[("layout=fixed", "masked"), "train_return_final_mean"] == pytest.approx(400)
    assert (table["score_source"] == "evaluation").all()
    assert table.loc[("layout=fixed", "unmasked"), "invalid_action_rate"] == pytest.approx(0.1)
    # Thresholds come from the env's config (parametric_cartpole: 150, 400, 450).
    assert {"reached_150", "reached_400", "reached_450"} <= set(table.columns)
    assert table.loc[("layout=fixed", "unmasked"), "reached_150"] == "3/10"  # scores >= 250
    # Sample efficiency: the evaluation curve ramps linearly to the score over the budget,
    # held at its first value (the score / 4 at 5000 steps) before it: area = 0.5 + 1/32.
    assert table.loc[("layout=fixed", "masked"), "auc_iqm"] == pytest.approx(0.5 + 1 / 32, abs=0.01)


def test_verdicts_on_known_answers(sweep):
    _, cells = cells_of(sweep)
    comp = comparisons(cells, margin=25, reps=4000).set_index(["facet", "b"])
    assert len(comp) == 3  # masked against each other model of its facet and algorithm
    assert comp.loc[("layout=fixed", "unmasked"), "verdict"] == "masked > unmasked"
    assert comp.loc[("layout=fixed", "embedding"), "verdict"] == "tie (within ±25)"
    assert comp.loc[("layout=per_episode", "embedding"), "verdict"] == "masked < embedding"
    diff = comp.loc[("layout=per_episode", "embedding")]
    assert diff["diff"] == pytest.approx(-240)
    assert diff["ci_low"] < -240 < diff["ci_high"]


def test_report_reads_in_a_minute(sweep, tmp_path):
    out = tmp_path / "out"
    text = write_report(sweep, out, reps=1000).read_text()
    assert str(tmp_path) not in text and str(sweep) not in text  # no absolute paths
    assert "6 comparisons in this report: 3 of the score, 3 of sample efficiency" in text
    assert "Bonferroni" in text and "±25" in text and "±0.05 of sample efficiency" in text
    assert "## layout=fixed" in text and "## layout=per_episode" in text
    assert "| algo | masked | unmasked | embedding |" in text
    assert "| ppo | **500 [500, 500]** |" in text  # the best of the row in bold
    assert "| ppo | masked − unmasked |" in text and "masked > unmasked" in text
    assert "masked < embedding" in text and "tie (within ±25)" in text
    assert "## Sample efficiency" in text
    for name in (
        "profiles.png",
        "eval_curves.png",
        "eval_curves_per_seed.png",
        "learning_curves.png",
    ):
        assert (out / name).stat().st_size > 10_000 and name in text
    assert len(pd.read_csv(out / "cells.csv")) == 5


def test_the_report_says_which_machines_made_its_runs(sweep, tmp_path):
    # A record from before runs recorded their machine: no line (its reports rebuild unchanged).
    assert "**Machines**" not in write_report(sweep, tmp_path / "old", reps=200).read_text()
    for seed in range(3):
        fake_run(
            tmp_path / "mixed", "masked", "fixed", seed, 500.0, machine="CPU A" if seed else None
        )
        fake_run(
            tmp_path / "mixed", "unmasked", "fixed", seed, 400.0, machine=f"CPU {'AB'[seed % 2]}"
        )
    text = write_report(tmp_path / "mixed", tmp_path / "out", reps=200).read_text()
    assert (
        "**Machines**: 4 on CPU A, torch AVX2; 1 on CPU B, torch AVX2; 1 made before runs "
        "recorded theirs."
    ) in text


def test_a_sweep_over_any_option_shows_one_cell_per_setting(tmp_path):
    """Two learning rates are two cells (the old hand-picked cell keys pooled them as seeds)."""
    for seed in range(3):
        fake_run(tmp_path, "masked", "fixed", seed, 500.0, extra=("algo.lr=0.001",))
        fake_run(tmp_path, "masked", "fixed", seed, 200.0, extra=("algo.lr=0.0001",))
    text = write_report(tmp_path, tmp_path / "out", reps=200).read_text()
    cells = pd.read_csv(tmp_path / "out" / "cells.csv")
    assert sorted(cells["row"]) == ["lr=0.0001", "lr=0.001"]
    assert sorted(cells["score_iqm"]) == [200.0, 500.0]
    assert "Cells differ in `algo.lr`" in text


def test_compare_framework_makes_the_frameworks_the_columns_and_the_models_rows(tmp_path):
    """The frameworks question: torch vs tf2 within each model. tf2 masked lags by 200 (a loss),
    embedding by 1 (a tie); masked against embedding is not what this report tests."""
    for seed in range(5):
        for model, score in (("masked", 500.0), ("embedding", 490.0)):
            fake_run(tmp_path / "torch", model, "fixed", seed, score)
            lag = 200 if model == "masked" else 1
            fake_run(tmp_path / "tf2", model, "fixed", seed, score - lag, extra=("framework=tf2",))
    out = tmp_path / "out"
    text = write_report(tmp_path, out, reps=1000, compare="framework").read_text()
    assert "`python -m src.report" in text and "--compare framework`" in text
    assert "| model | tf2 | torch |" in text  # the rows: the models
    assert "| masked | tf2 − torch | -200 [-200, -200] | tf2 < torch |" in text
    assert "| embedding | tf2 − torch | -1 [-1, -1] | tie (within ±25) |" in text
    assert "masked − embedding" not in text
    cells = pd.read_csv(out / "cells.csv")
    assert sorted(cells["treatment"]) == ["tf2", "tf2", "torch", "torch"]
    # A key that does not vary cannot be compared: the error names the keys that do.
    with pytest.raises(SystemExit, match=r"--compare env\.layout: .*framework\.name"):
        write_report(tmp_path, out, reps=100, compare="env.layout")


def test_runs_without_evaluation_are_scored_by_training_and_the_report_says_so(tmp_path):
    for seed in range(3):
        fake_run(tmp_path, "masked", "fixed", seed, 480.0, train_final=300.0, evaluated=False)
    text = write_report(tmp_path, tmp_path / "out", reps=200).read_text()
    assert "predate separate evaluation" in text
    assert "**300 [300, 300]**" in text


def test_curves_are_interpolated_on_env_steps(sweep):
    runs = [r for r in load_runs(sweep) if r.path.name.startswith("masked_fixed")]
    grid = np.array([0.0, 1000.0, 10_500.0, 20_000.0, 30_000.0])
    values = curve_on_grid(runs, "charts/episode_return_mean", grid)
    np.testing.assert_allclose(values[:, 1], 20.0)  # the first row: 400 * 1/20
    np.testing.assert_allclose(values[:, 2], 210.0)  # halfway between rows 10 (200) and 11 (220)
    np.testing.assert_allclose(values[:, 3], 400.0)
    assert np.isnan(values[:, [0, 4]]).all()  # before the first row and past the end of every run


def test_offline_sweep_report_explains_how_to_sync_and_publish(tmp_path):
    from src.wandb_report import SPEC, sweep_groups, write_spec

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
    entity, project, groups = sweep_groups(root)
    assert groups == ["layout_edge/10-00"] and project == "maskbench"
    spec = {"groups": groups, "project": project, "entity": entity, "sections": []}
    out = tmp_path / "report"
    out.mkdir()
    text = write_spec(root, out, spec, to_wandb=True, shown="docs/x")  # offline: not published
    assert json.loads((out / SPEC).read_text()) == spec
    assert "group(s) `layout_edge/10-00`" in text and "1 offline runs" in text
    assert (
        "wandb sync docs/x/*/wandb/offline-run-*" in text and "python -m src.wandb_report" in text
    )
    assert str(tmp_path) not in text


def test_runs_read_from_the_w_and_b_api_make_the_same_cells(sweep, tmp_path):
    """A stand-in for wandb.Api serving the synthetic sweep's runs as W&B would."""
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
    assert [r.flat for r in remote] == [r.flat for r in local]
    assert [r.score for r in remote] == [r.score for r in local]
    report = write_report(Path("g"), tmp_path / "out", reps=100, runs=remote)
    assert "Runs read through the W&B API" in report.read_text()


def test_games_get_a_win_draw_loss_table(tmp_path):
    game_range = ("env.min_return=-1", "env.max_return=1")  # a game's: win +1, loss -1
    for seed in range(3):
        for model, win in (("masked", 0.8), ("unmasked", 0.2)):
            score = 2 * win - 1 + 0.01 * seed
            fake_run(tmp_path, model, "fixed", seed, score, train_final=0.0, extra=game_range)
            run_dir = tmp_path / f"{model}_fixed_s{seed}{'_'.join(game_range)}"
            summary = json.loads((run_dir / "summary.json").read_text())
            summary.update(
                {
                    "eval/greedy/win_rate": win,
                    "eval/greedy/draw_rate": 0.1,
                    "eval/greedy/loss_rate": 0.9 - win,
                    "eval/greedy/unfinished_rate": 0.0,
                }
            )
            (run_dir / "summary.json").write_text(json.dumps(summary))
    text = write_report(tmp_path, tmp_path / "out", reps=200).read_text()
    assert "## Games: win / draw / loss / unfinished" in text
    assert "| 80 / 10 / 10 / 0 | 20 / 10 / 70 / 0 |" in text
    # Scores in -1..1 show to a tenth of the margin (±0.1), not rounded to whole numbers.
    assert "Margin of practical equivalence ±0.1 " in text
    assert "| ppo | **0.61 [0.60, 0.62]** | -0.59 [-0.60, -0.58] |" in text
    assert "| ppo | masked − unmasked | +1.20 [" in text
    table = pd.read_csv(tmp_path / "out" / "cells.csv")
    assert list(table["eval_win_rate"]) == pytest.approx([0.8, 0.2])


def test_sample_efficiency_has_verdicts_of_its_own(tmp_path):
    """Both end at 500 (a tie on the score); masked gets there at a quarter of the budget, the
    penalty baseline only at its end: sample efficiency tells them apart, the score cannot."""
    for seed in range(10):
        fake_run(tmp_path, "masked", "fixed", seed, 500.0, reach=0.25)
        fake_run(tmp_path, "unmasked", "fixed", seed, 500.0 - seed)
    text = write_report(tmp_path, tmp_path / "out", reps=1000).read_text()
    score_part, auc_part = text.split("## Sample efficiency")
    assert "| ppo | masked − unmasked | +4 [" in score_part and "tie (within ±25)" in score_part
    # masked: 500 from the first evaluation on (area 1); unmasked: a ramp (area ~0.53).
    assert "| ppo | **1.00 [1.00, 1.00]** |" in auc_part
    assert "| ppo | masked − unmasked | +0.47 [" in auc_part and "masked > unmasked" in auc_part


def test_a_cell_of_too_few_seeds_gets_its_difference_but_no_verdict(tmp_path):
    """One embedding seed: a bootstrap over it has no width, so its \"CI\" would read as a tie;
    the pair is shown untested and left out of the correction's count."""
    for seed in range(4):
        fake_run(tmp_path, "masked", "fixed", seed, 480.0 + seed)
        fake_run(tmp_path, "unmasked", "fixed", seed, 300.0 + 10 * seed)
    fake_run(tmp_path, "embedding", "fixed", 0, 481.0)
    _, cells = cells_of(tmp_path)
    comp = comparisons(cells, margin=25, reps=500).set_index("b")
    assert comp.loc["unmasked", "verdict"] == "masked > unmasked"
    one = comp.loc["embedding"]
    assert one["verdict"] == "not tested: 4 vs 1 seeds (a verdict needs 3 per cell)"
    assert one["diff"] == pytest.approx(stats.iqm(np.arange(480.0, 484.0)) - 481)
    assert np.isnan(one["ci_low"]) and np.isnan(one["ci_high"])
    text = write_report(tmp_path, tmp_path / "out", reps=500).read_text()
    assert "(2 comparisons in this report: 1 of the score, 1 of sample efficiency;" in text
    assert "A cell with fewer than 3 seeds gets no verdict" in text
    assert "| ppo | masked − embedding | +0 | not tested: 4 vs 1 seeds" in text  # Δ 0.5
    assert "| 481 (1 seed, no CI) |" in text  # its table cell: no zero-width "CI" either
    assert "481 [481, 481]" not in text


def test_numbers_in_labels_sort_by_value(tmp_path):
    """N=6, 10, 60 (not "10" < "6" < "60" as text); penalties -1, -0.1, 0; masked first."""
    for n in (60, 6, 10):
        fake_run(tmp_path, "masked", "fixed", 0, 500.0, extra=(f"env.max_avail_actions={n}",))
        for p in (0, -1, -0.1):
            extra = (f"env.max_avail_actions={n}", f"env.invalid_penalty={p}")
            fake_run(tmp_path, "unmasked", "fixed", 0, 300.0, extra=extra)
    _, cells = cells_of(tmp_path)
    facets = list(dict.fromkeys(c.facet for c in cells))
    assert facets == ["max_avail_actions=6", "max_avail_actions=10", "max_avail_actions=60"]
    first = [c.treatment for c in cells if c.facet == facets[0]]
    assert first == [
        "masked, invalid_penalty=-0.1",
        "unmasked, invalid_penalty=-1.0",
        "unmasked, invalid_penalty=-0.1",
        "unmasked, invalid_penalty=0.0",
    ]


def add_task_return(run_dir: Path, task: float) -> None:
    """Give a fake run an evaluated task return (summary and curve), as src.train logs it."""
    key = SCORES["task_return"]
    summary = json.loads((run_dir / "summary.json").read_text())
    (run_dir / "summary.json").write_text(json.dumps({**summary, key: task}))
    rows = metrics_rows(run_dir)
    rows = [
        {**r, key: task * r[EVAL_RETURN] / summary[EVAL_RETURN]} if EVAL_RETURN in r else r
        for r in rows
    ]
    (run_dir / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_score_task_return_ranks_by_the_task_without_penalties(tmp_path):
    """A harsh penalty drags the return (300) but not the task (500): --score task_return
    ties the two models that --score return tells apart; runs without it are refused."""
    for seed in range(5):
        fake_run(tmp_path, "masked", "fixed", seed, 500.0)
        fake_run(tmp_path, "unmasked", "fixed", seed, 300.0)
    for run_dir in tmp_path.iterdir():
        add_task_return(run_dir, 500.0)
    by_return = write_report(tmp_path, tmp_path / "r", reps=200).read_text()
    by_task = write_report(tmp_path, tmp_path / "t", reps=200, score="task_return").read_text()
    assert "| ppo | masked − unmasked | +200 [+200, +200] | masked > unmasked" in by_return
    assert "| ppo | masked − unmasked | +0 [+0, +0] | tie" in by_task
    assert "--score task_return" in by_task and "greedy task return" in by_task
    fake_run(tmp_path, "masked", "fixed", 9, 500.0)  # an older run: no task return logged
    with pytest.raises(SystemExit, match="--score task_return: 1 of the 11 runs have no"):
        write_report(tmp_path, tmp_path / "t2", reps=200, score="task_return")
