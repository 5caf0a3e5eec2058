"""Named sweeps: every job of every sweep composes and passes the start-up checks; a failed job
does not stop a sweep; a re-run skips finished jobs; W&B groups by sweep; the parallel launcher."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf, open_dict

from src import sweep
from src.algos import build_algo_config
from src.cells import flatten
from src.errors import ConfigError
from src.tracking import wandb_grouping
from tests.conftest import CONF, ROOT, group_options, run_report, run_sweep

SWEEPS = sorted(p.stem for p in (ROOT / "sweeps").glob("*.yaml"))


def compose_sweep(name: str, overrides: list[str] = (), hydra: bool = False):
    GlobalHydra.instance().clear()
    # As `--config-dir sweeps`: the sweep is the primary config, conf/ holds what it builds on.
    with initialize_config_dir(config_dir=str(ROOT / "sweeps"), version_base="1.3"):
        return compose(
            config_name=name,
            overrides=[f"hydra.searchpath=[file://{CONF}]", *overrides],
            return_hydra_config=hydra,
        )


def grid(name: str) -> list[list[str]]:
    """The jobs of a grid sweep, as Hydra's basic sweeper expands them."""
    params = compose_sweep(name, hydra=True).hydra.sweeper.params or {}
    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    axes = [
        [f"{o.get_key_element()}={v}" for v in o.sweep_string_iterator()]
        if o.is_sweep_override()
        else [f"{o.get_key_element()}={o.get_value_element_as_str()}"]  # one value: `seed: 0`
        for o in parsed
    ]
    return [list(job) for job in itertools.product(*axes)]


def test_every_sweep_has_a_smoke_variant():
    for name in SWEEPS:
        if not name.endswith("_smoke"):
            assert f"{name}_smoke" in SWEEPS, f"sweeps/{name}.yaml has no smoke variant"


@pytest.mark.parametrize("name", [s for s in SWEEPS if not s.startswith("tune_")])
def test_every_job_of_a_grid_sweep_composes_and_passes_the_start_up_checks(name):
    jobs = grid(name)
    assert len(jobs) > 1 or (name.endswith("_smoke") and jobs)  # a smoke part may be one job
    seedless = {tuple(o for o in job if not o.startswith("seed=")) for job in jobs}
    for job in seedless:  # the seed never makes a job invalid
        cfg = compose_sweep(name, job)
        build_algo_config(cfg)  # every axis's start-up checks, then the RLlib config


def test_the_headline_sweep_is_the_full_comparison():
    # The open question (fixed layout) at 10 seeds, the construction check at 5.
    fixed, moving = grid("masking_vs_embedding"), grid("masking_vs_embedding_per_episode")
    algos = group_options("algo")  # every algorithm option joins the headline
    assert len(fixed) == len(algos) * 3 * 10 and len(moving) == len(algos) * 3 * 5
    assert {o for job in fixed for o in job if o.startswith("seed=")} == {
        f"seed={i}" for i in range(10)
    }
    assert compose_sweep("masking_vs_embedding").env.layout == "fixed"
    assert compose_sweep("masking_vs_embedding_per_episode").env.layout == "per_episode"
    # Each algorithm runs for its own budget, in which its masked default solves the env.
    for algo in algos:
        cfg = compose_sweep("masking_vs_embedding", [f"algo={algo}"])
        assert cfg.stop.env_steps == cfg.algo.budget_env_steps
    assert len(grid("masking_vs_embedding_smoke")) == len(algos) * 3
    sizes = {override for job in grid("action_space_scale") for override in job}
    assert {"env.max_avail_actions=6", "env.max_avail_actions=600"} <= sizes


def test_make_headline_passes_its_args_through_intact():
    # A grid value with parentheses, in the shell quoting that `make study` itself takes: the
    # headline once re-quoted ARGS and handed the shell a syntax error instead of a sweep.
    args = "hydra/launcher=parallel algo=dqn seed='range(0,5)'"
    out = subprocess.run(
        ["make", "-n", "headline", f"ARGS={args}", "HEADLINE=/tmp/h", "HEADLINE_DOCS=/tmp/d"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    runs = [line for line in out.splitlines() if "-m src.run --multirun" in line]
    assert len(runs) == 1 and "--config-name $name" in runs[0]
    assert f"hydra.sweep.dir=$dir {args} ||" in out
    assert "src.sweep restore /tmp/d/runs /tmp/h" in out


@pytest.mark.parametrize("name", [s for s in SWEEPS if s.startswith("tune_")])
def test_tuning_sweeps_use_optuna_and_compose(name):
    cfg = compose_sweep(name, hydra=True)
    assert cfg.hydra.sweeper._target_.endswith("OptunaSweeper")
    assert cfg.hydra.sweeper.direction == "maximize"
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, (
            f"{name} searches a key that does not exist: {key}"
        )


def test_finished_needs_the_same_config_and_an_uninterrupted_run(tmp_path):
    cfg = compose_sweep("layout_edge_smoke")
    OmegaConf.save(cfg, tmp_path / "config.yaml", resolve=True)
    (tmp_path / "summary.json").write_text(json.dumps({"stop_reason": "env_steps"}))
    assert sweep.finished_summary(tmp_path, cfg) == {"stop_reason": "env_steps"}
    other = compose_sweep("layout_edge_smoke", ["seed=7"])
    assert sweep.finished_summary(tmp_path, other) is None
    for unfinished in ("interrupted", "env_error"):  # a re-run resumes these
        (tmp_path / "summary.json").write_text(json.dumps({"stop_reason": unfinished}))
        assert sweep.finished_summary(tmp_path, cfg) is None


def test_a_finished_job_under_another_number_is_found_and_a_different_one_is_not(tmp_path):
    """A sweep restricted on the command line numbers its jobs afresh: the same config under
    another job number is the same job."""
    cfg = compose_sweep("layout_edge_smoke")
    done = tmp_path / "90_ppo_masked_fixed_s0"
    done.mkdir()
    OmegaConf.save(cfg, done / "config.yaml", resolve=True)
    (done / "summary.json").write_text(json.dumps({"stop_reason": "env_steps"}))
    assert sweep.finished_twin(tmp_path / "0_ppo_masked_fixed_s0", cfg) == (
        done,
        {"stop_reason": "env_steps"},
    )
    assert sweep.finished_twin(done, cfg) is None  # not its own twin
    assert sweep.finished_twin(tmp_path / "0_ppo_masked_fixed_s0", compose_sweep(
        "layout_edge_smoke", ["seed=7"])) is None  # fmt: skip
    # The skipped job's own dir (Hydra's .hydra only) goes; a dir with anything else stays.
    empty = tmp_path / "0_ppo_masked_fixed_s0"
    (empty / ".hydra").mkdir(parents=True)
    (empty / "run.log").touch()
    sweep.drop_empty_job(empty)
    assert not empty.exists()
    sweep.drop_empty_job(done)
    assert (done / "summary.json").exists()


def test_a_run_saved_before_an_option_existed_is_the_same_run_at_its_default(tmp_path):
    cfg = compose_sweep("layout_edge_smoke")
    saved = OmegaConf.to_container(cfg, resolve=True)
    del saved["fault_tolerance"]  # as saved by code that did not have it yet
    OmegaConf.save(saved, tmp_path / "config.yaml")
    assert sweep.same_config(tmp_path / "config.yaml", cfg, overrides=["model=masked"])
    # ... but not when this job sets the new option, or when a saved value differs.
    changed = ["fault_tolerance.max_env_runner_restarts=9"]
    assert not sweep.same_config(tmp_path / "config.yaml", cfg, overrides=changed)
    saved["logger"]["mode"] = "online"  # logged elsewhere, checkpointed less: the same run
    saved["checkpoint"]["every_s"] = 600
    OmegaConf.save(saved, tmp_path / "config.yaml")
    assert sweep.same_config(tmp_path / "config.yaml", cfg, overrides=[])
    saved["seed"] = 7
    OmegaConf.save(saved, tmp_path / "config.yaml")
    assert not sweep.same_config(tmp_path / "config.yaml", cfg, overrides=[])


def test_the_record_keeps_finished_runs_only_and_never_overwrites(tmp_path, capsys):
    def job(root: Path, name: str, stop_reason: str | None, files=sweep.RECORD) -> Path:
        (root / name).mkdir(parents=True)
        for f in files:
            (root / name / f).write_text("{}")
        if sweep.SUMMARY in files:
            (root / name / sweep.SUMMARY).write_text(json.dumps({"stop_reason": stop_reason}))
        return root / name

    sweep_dir, record = tmp_path / "sweep", tmp_path / "record"
    job(sweep_dir / "fixed", "0_done", "env_steps")
    job(sweep_dir / "fixed", "1_killed", "interrupted")
    job(sweep_dir / "fixed", "2_running", None, files=("config.yaml", "metrics.jsonl"))
    (job(sweep_dir / "fixed", "3_failed", "env_steps") / sweep.FAILED).write_text("{}")
    kept = job(record / "fixed", "0_done", "env_steps")
    (kept / "metrics.jsonl").write_text("committed")
    job(sweep_dir / "per_episode", "0_done", "target_return")

    assert sweep.main(["archive", str(sweep_dir), str(record)]) == 0
    assert "archived 1 finished runs" in capsys.readouterr().out
    assert sorted(str(p.relative_to(record)) for p in sweep.finished_runs(record)) == [
        "fixed/0_done",
        "per_episode/0_done",
    ]
    assert (kept / "metrics.jsonl").read_text() == "committed"  # already there: not overwritten
    assert not list(record.rglob(".*.tmp"))
    assert sweep.main(["restore", str(tmp_path / "none"), str(sweep_dir)]) == 0  # no record yet
    assert sweep.main(["archive", str(tmp_path / "none"), str(record)]) == 2
    assert "is not a directory" in capsys.readouterr().err


def _recorded_run(run_dir: Path, cfg, summary: dict) -> Path:
    """A finished run of ``cfg`` as a committed record holds it (config, metrics, summary)."""
    run_dir.mkdir(parents=True)
    OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
    (run_dir / "metrics.jsonl").write_text('{"env_steps": 1000}\n')
    (run_dir / "summary.json").write_text(json.dumps(summary))
    return run_dir


def test_reuse_finds_a_finished_run_of_the_same_config_in_a_record(tmp_path):
    cfg = compose_sweep("frameworks_smoke", ["framework=torch", "algo=ppo", "model=masked"])
    summary = {"stop_reason": "env_steps", "eval/greedy/return_mean": 123.0}
    run = _recorded_run(tmp_path / "record" / "fixed" / "0_ppo_masked_fixed_s0", cfg, summary)
    _recorded_run(tmp_path / "record" / "fixed" / "1_killed", cfg, {"stop_reason": "interrupted"})
    assert sweep.finished_in_records(cfg, ["record/fixed"], tmp_path) == (run, summary)
    assert sweep.finished_in_records(cfg, [str(tmp_path / "record")], Path("/")) == (run, summary)
    for other in (["seed=1"], ["framework=tf2"], ["model=embedding"], ["algo.lr=0.1"]):
        changed = compose_sweep(
            "frameworks_smoke", ["framework=torch", "algo=ppo", "model=masked", *other]
        )
        assert sweep.finished_in_records(changed, ["record/fixed"], tmp_path) is None, other
    with pytest.raises(ConfigError, match=r"reuse: no record at .*nowhere.*reuse=\[\]"):
        sweep.finished_in_records(cfg, ["record/fixed", "nowhere"], tmp_path)


def test_a_reused_run_made_before_an_option_existed_is_recorded_with_it_at_its_default(tmp_path):
    """Else the report would label it "missing" beside runs that set the option."""
    cfg = compose_sweep("games_mask_prediction_reference_smoke", ["model=masked"])
    run = _recorded_run(
        tmp_path / "record" / "0_ppo_masked_tictactoe_s0", cfg, {"stop_reason": "env_steps"}
    )
    saved = OmegaConf.load(run / "config.yaml")
    del saved.model["mask_prediction_coeff"]  # as saved by code that did not have it yet
    saved.logger.mode = "online"  # bookkeeping: the same run, and it stays as saved
    OmegaConf.save(saved, run / "config.yaml")
    assert sweep.same_config(run / "config.yaml", cfg, overrides=[])
    sweep.take_record(run, tmp_path / "job", cfg)
    taken = OmegaConf.load(tmp_path / "job" / "config.yaml")
    assert taken.model.mask_prediction_coeff == 0.0 and taken.logger.mode == "online"
    flat_saved, flat_taken = (flatten(OmegaConf.to_container(c)) for c in (saved, taken))
    assert flat_taken.keys() - flat_saved.keys() == {"model.mask_prediction_coeff"}
    assert all(flat_taken[k] == v for k, v in flat_saved.items())  # nothing saved was changed
    assert (tmp_path / "job" / "summary.json").read_bytes() == (run / "summary.json").read_bytes()


def test_a_sweep_takes_a_reused_run_from_the_record_instead_of_training_it(tmp_path):
    cfg = compose_sweep("frameworks_smoke", ["framework=torch", "algo=ppo", "model=masked"])
    summary = {"stop_reason": "env_steps", "eval/greedy/return_mean": 123.0}
    run = _recorded_run(tmp_path / "record" / "9_ppo_masked_fixed_s0", cfg, summary)
    args = ("framework=torch", "algo=ppo", "model=masked")
    proc = run_sweep("frameworks_smoke", tmp_path / "sweep", *args, f"reuse=[{run.parent}]")
    assert proc.returncode == 0, proc.stderr[-3000:]
    job = tmp_path / "sweep" / "0_ppo_masked_torch_s0"
    assert f"{job.name} already finished in {run}, reused" in proc.stdout
    assert "1 finished, 0 failed" in proc.stdout
    for name in ("metrics.jsonl", "summary.json"):
        assert (job / name).read_bytes() == (run / name).read_bytes()
    assert OmegaConf.load(job / "config.yaml") == OmegaConf.load(run / "config.yaml")
    assert not (job / "checkpoints").exists()  # not trained
    # A path that holds no record stops the sweep before any job trains, and says so.
    proc = run_sweep("frameworks_smoke", tmp_path / "typo", *args, "reuse=[docs/nowhere/runs]")
    assert proc.returncode == 2
    assert "reuse: no record at" in proc.stderr and "docs/nowhere/runs" in proc.stderr
    assert not list((tmp_path / "typo").rglob("summary.json"))


def test_the_frameworks_sweep_reuses_the_headlines_torch_runs_and_trains_tf2s():
    """Its torch jobs are the headline's committed runs. A default changed since they were made
    (a budget, the evaluation, the env) makes them other runs: this fails rather than let the
    sweep quietly train all 80 again, or compare tf2 with runs of other settings."""
    headline = ROOT / "docs" / "masking_vs_embedding" / "runs" / "fixed"
    algos = {o.split("=", 1)[1] for job in grid("frameworks") for o in job if o.startswith("algo=")}
    for algo, model in itertools.product(sorted(algos), ("masked", "embedding")):
        jobs = {
            framework: compose_sweep(
                "frameworks", [f"framework={framework}", f"algo={algo}", f"model={model}", "seed=0"]
            )
            for framework in ("torch", "tf2")
        }
        found = sweep.finished_in_records(jobs["torch"], list(jobs["torch"].reuse), ROOT)
        assert found is not None, f"{algo}/{model}: no headline run of its torch job's config"
        assert found[0].parent == headline and f"_{algo}_{model}_fixed_s0" in found[0].name
        assert sweep.finished_in_records(jobs["tf2"], list(jobs["tf2"].reuse), ROOT) is None


def test_w_and_b_groups_a_sweep_and_tags_its_cells():
    cfg = compose_sweep("layout_edge_smoke", ["hydra.mode=MULTIRUN"], hydra=True)
    assert wandb_grouping(cfg) == ("defaults", "train")  # a run with no overrides
    try:
        with open_dict(cfg):
            cfg.hydra.job.config_name = "layout_edge_smoke"
            cfg.hydra.sweep.dir = "multirun/2026-01-01/10-00-00"
            # A job's overrides, as Hydra hands them over: its sweep parameters and the CLI's.
            cfg.hydra.overrides.task = [
                "model=embedding",
                "env.layout=fixed",
                "seed=2",
                "logger=none",
            ]
        HydraConfig.instance().set_config(cfg)
        group, job_type = wandb_grouping(cfg)
    finally:
        HydraConfig.instance().cfg = None
    assert group == "layout_edge_smoke/10-00-00"
    assert job_type == "env.layout=fixed,model=embedding"  # the cell: everything but the seed


def test_a_failed_job_does_not_stop_the_sweep_and_a_rerun_skips_finished_jobs(tmp_path):
    # model=unmasked in raise mode fails its start-up check; model=masked runs.
    args = ("model=masked,unmasked", "env.layout=fixed")
    first = run_sweep("layout_edge_smoke", tmp_path, *args)
    assert first.returncode == 1, first.stderr[-3000:]
    masked, unmasked = tmp_path / "0_ppo_masked_fixed_s0", tmp_path / "1_ppo_unmasked_fixed_s0"
    assert (masked / "summary.json").exists()
    assert (
        "env.invalid_action=penalty" in json.loads((unmasked / "failed.json").read_text())["error"]
    )
    assert "1 finished, 1 failed" in first.stdout and "FAILED 1_ppo_unmasked" in first.stdout
    written = (masked / "metrics.jsonl").stat().st_mtime_ns

    second = run_sweep("layout_edge_smoke", tmp_path, *args)
    assert second.returncode == 1
    assert "0_ppo_masked_fixed_s0 already finished, skipped" in second.stdout
    assert (masked / "metrics.jsonl").stat().st_mtime_ns == written
    # The same jobs in another order (as a sweep restricted on the command line numbers them):
    # masked is job 1 now, and is not trained again; no second masked run reaches the report.
    reordered = run_sweep(
        "layout_edge_smoke", tmp_path, "model=unmasked,masked", "env.layout=fixed"
    )
    assert "1_ppo_masked_fixed_s0 already finished as 0_ppo_masked_fixed_s0" in reordered.stdout
    assert not (tmp_path / "1_ppo_masked_fixed_s0").exists()
    assert (masked / "metrics.jsonl").stat().st_mtime_ns == written

    # The committed record: archived from this sweep, restored into a fresh sweep dir (another
    # clone), where a re-run skips the finished job and runs only the one missing from it.
    record, fresh = tmp_path / "record", tmp_path.parent / f"{tmp_path.name}_fresh"
    assert sweep.main(["archive", str(tmp_path), str(record)]) == 0
    assert [p.name for p in sweep.finished_runs(record)] == [masked.name]
    assert sweep.main(["restore", str(record), str(fresh)]) == 0
    third = run_sweep("layout_edge_smoke", fresh, *args)
    assert "0_ppo_masked_fixed_s0 already finished, skipped" in third.stdout
    assert "1 finished, 1 failed" in third.stdout  # the failed job ran again, and failed again
    assert (fresh / masked.name / "metrics.jsonl").read_bytes() == (
        masked / "metrics.jsonl"
    ).read_bytes()

    run_report(tmp_path, reps=100)
    text = (tmp_path / "report" / "report.md").read_text()
    assert "## Failed jobs" in text and "`1_ppo_unmasked_fixed_s0`" in text


def test_parallel_launcher_runs_every_job_as_a_ray_task(tmp_path):
    proc = run_sweep("layout_edge_smoke", tmp_path, "hydra/launcher=parallel", "env.layout=fixed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Ray Launcher is launching 2 jobs" in proc.stderr + proc.stdout
    assert len(list(tmp_path.glob("*/summary.json"))) == 2


@pytest.mark.slow
def test_cluster_launcher_against_a_head_node_on_this_machine(tmp_path):
    """`ray start --head` with its own temp dir, a smoke sweep through hydra/launcher=cluster, and
    only that head's processes stopped afterwards (other Ray instances keep running)."""
    ray_bin = Path(sys.executable).with_name("ray")
    temp = Path("/tmp") / f"mb{os.getpid()}"  # Ray's socket paths must stay short
    start = subprocess.run(
        [str(ray_bin), "start", "--head", "--port=6391", "--num-cpus=2",
         "--include-dashboard=false", f"--temp-dir={temp}", "--disable-usage-stats"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert start.returncode == 0, start.stderr[-3000:]
    try:
        env = {**os.environ, "RAY_ADDRESS": "auto"}
        env["RAY_TMPDIR"] = str(temp)
        proc = run_sweep("layout_edge_smoke", tmp_path / "sweep", "hydra/launcher=cluster", env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(list((tmp_path / "sweep").glob("*/summary.json"))) == 4
    finally:
        # gcs_server and raylet ignore SIGTERM for a while; these processes are ours alone.
        subprocess.run(["pkill", "-9", "-f", str(temp)], check=False)
