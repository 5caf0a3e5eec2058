"""Sweep bookkeeping shared by every launcher: skip finished jobs, record failed ones.

A job is *finished* when its directory holds a ``summary.json`` from a run that was not cut short
(``UNFINISHED``: interrupted, or stopped by its env's error) and a ``config.yaml`` equal to the
job's config; re-running a sweep into the same ``hydra.sweep.dir`` then skips it, and resumes
the others from their checkpoints. A sweep restricted on the command line (``algo=dqn,sac``)
numbers its jobs afresh: a job whose config already finished under another number is skipped too. A job that raises writes ``failed.json`` (error and traceback)
and returns nan (a failed trial for Optuna); the other jobs still run, and :class:`SweepSummary`
lists the failures when the sweep ends and exits with status 1.

A sweep too long for one sitting keeps its finished jobs in git, not only in its sweep dir:
``python -m src.sweep archive <sweep dir> <runs dir>`` copies each finished job's curated files
(``RECORD``) to the same relative path under ``<runs dir>`` (committed, e.g.
``docs/masking_vs_embedding/runs``), and ``python -m src.sweep restore <runs dir> <sweep dir>``
puts them back into a fresh sweep dir, where a re-run of the sweep skips them as finished: on any
clone, only the jobs missing from the record are run.

A sweep that shares runs with another study's record names it in ``reuse`` (dirs of finished
runs, relative to where the sweep is started): a job whose config finished there takes that
run's record instead of training it again (the ``frameworks`` sweep reuses the headline's torch
runs and trains only tf2's).
"""

from __future__ import annotations

import json
import shutil
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

FAILED = "failed.json"
SUMMARY = "summary.json"
# Stop reasons of a run that did not finish: a re-run resumes it from its last checkpoint.
UNFINISHED = (None, "interrupted", "env_error")
# Config keys that do not change what a run computes: a run logged offline is finished for a
# re-run that logs online. (Not the seed, evaluation or diagnostics: they change its results.)
# ``reuse`` only says where else a finished run may be.
BOOKKEEPING = ("logger", "checkpoint", "resume", "reuse", "fault_tolerance", "resources.num_cpus")
# What a committed sweep keeps of each run: enough to rebuild its report and to skip it on re-run.
RECORD = ("config.yaml", "metrics.jsonl", SUMMARY)


def in_multirun() -> bool:
    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def group_name(config_name: str, sweep_dir: str | Path) -> str:
    """``<sweep config>/<sweep dir's name>``: a sweep's name, and its runs' W&B group."""
    return f"{config_name}/{Path(sweep_dir).name}"


def sweep_name() -> str | None:
    """The sweep's name for the job of a sweep, else None."""
    if not in_multirun():
        return None
    hydra_cfg = HydraConfig.get()
    return group_name(hydra_cfg.job.config_name, hydra_cfg.sweep.dir)


def finished_summary(out_dir: Path, cfg: DictConfig) -> dict[str, Any] | None:
    """The summary of a finished run of this same config in ``out_dir``, else None."""
    summary_path, config_path = out_dir / SUMMARY, out_dir / "config.yaml"
    if not (summary_path.exists() and config_path.exists()):
        return None
    summary = json.loads(summary_path.read_text())
    if summary.get("stop_reason") in UNFINISHED:
        return None
    return summary if same_config(config_path, cfg) else None


def finished_twin(out_dir: Path, cfg: DictConfig) -> tuple[Path, dict[str, Any]] | None:
    """Another job dir of this sweep holding a finished run of this same config, and its summary.

    A sweep restricted on the command line numbers its jobs afresh (``algo=dqn,sac`` makes DQN's
    first job ``0_dqn_...``; the whole sweep makes it ``90_dqn_...``), so the same job can come
    back under another number: it is not run twice. Job names agree after the number."""
    _, _, tail = out_dir.name.partition("_")
    if not tail or not out_dir.parent.is_dir():
        return None
    for other in sorted(out_dir.parent.glob(f"*_{tail}")):
        if other != out_dir and (summary := finished_summary(other, cfg)) is not None:
            return other, summary
    return None


def finished_in_records(
    cfg: DictConfig, records: list[str] | tuple[str, ...], base: Path
) -> tuple[Path, dict[str, Any]] | None:
    """A finished run of this same config in one of the committed records ``records`` (dirs of
    run dirs, relative to ``base`` unless absolute), and its summary; None if none holds one.

    A record that does not exist is an error (a typo would silently re-train every job)."""
    from src.errors import ConfigError

    roots = [base / record for record in records]
    for root in roots:  # every one, whichever holds the run: a typo fails every job alike
        if not root.is_dir():
            raise ConfigError(
                f"reuse: no record at {root}. reuse lists dirs of finished runs (a committed "
                "study's docs/<study>/runs/<part>), relative to where the sweep is started; "
                "fix the path or drop it (reuse=[] trains every job)"
            )
    for root in roots:
        for run_dir in finished_runs(root):
            if (
                _may_be(run_dir / "config.yaml", cfg)
                and (summary := finished_summary(run_dir, cfg)) is not None
            ):
                return run_dir, summary
    return None


def _may_be(config_path: Path, cfg: DictConfig) -> bool:
    """A cheap first look (seed, algorithm, framework) before :func:`same_config`'s full one:
    a record holds hundreds of runs, and OmegaConf takes ~30 ms to load each."""
    import yaml

    saved = yaml.load(config_path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return (
        saved.get("seed") == cfg.seed
        and saved.get("algo", {}).get("name") == cfg.algo.name
        and saved.get("framework", {}).get("name") == cfg.framework.name
    )


def take_record(run_dir: Path, dest: Path, cfg: DictConfig | None = None) -> None:
    """Copy ``RECORD`` of the finished run in ``run_dir`` into ``dest``, each file under a
    temporary name and renamed, ``summary.json`` last (it marks the run finished): a killed copy
    never leaves a run that looks finished.

    ``cfg``: the job that reuses the run (:func:`same_config` with it holds). Options the code
    gained since the run was made are then written into its ``config.yaml`` at the job's values,
    their defaults, so that the report labels it as the run it is (``model.mask_prediction_coeff
    =0.0``, not "missing") beside runs that set them; every value the run saved stays as saved."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in RECORD:  # summary.json last
        tmp = dest / f".{name}.tmp"
        if name == "config.yaml" and cfg is not None:
            saved = OmegaConf.load(run_dir / name)
            current = OmegaConf.create(OmegaConf.to_container(cfg, resolve=True))
            OmegaConf.save(OmegaConf.merge(current, saved), tmp)
        else:
            shutil.copyfile(run_dir / name, tmp)
        tmp.replace(dest / name)


def drop_empty_job(out_dir: Path) -> None:
    """Remove a job dir that holds nothing but Hydra's ``.hydra`` and empty files (its log): a job
    skipped as a twin."""
    if out_dir.is_dir() and all(
        p.name == ".hydra" or (p.is_file() and p.stat().st_size == 0) for p in out_dir.iterdir()
    ):
        shutil.rmtree(out_dir)


def same_config(config_path: Path, cfg: DictConfig, overrides: list[str] | None = None) -> bool:
    """Whether the run whose resolved config is saved at ``config_path`` is a run of ``cfg``.

    Every saved value must be ``cfg``'s (a changed default means a different run), bookkeeping
    aside (``BOOKKEEPING``: where it logged, how often it checkpointed). An option the
    code gained since the run was made (absent from its saved config) is accepted at its default,
    that is when this job's ``overrides`` (default: Hydra's, groups aside) do not set it: so a
    sweep that spans code versions does not re-run every finished job when an option is added.
    """
    from src.cells import flatten, matches

    saved = flatten(OmegaConf.to_container(OmegaConf.load(config_path)))
    current = flatten(OmegaConf.to_container(cfg, resolve=True))
    if any(current.get(k) != v for k, v in saved.items() if not matches(k, BOOKKEEPING)):
        return False
    set_here = [o.split("=", 1)[0].lstrip("+~") for o in _key_overrides(overrides)]
    # An option the saved run predates, set on this command line, may have changed it; but not
    # ``reuse`` (runs made before it existed are what it reuses).
    gained = [k for k in current.keys() - saved.keys() if not matches(k, ("reuse",))]
    return not any(k == o or k.startswith(f"{o}.") for k in gained for o in set_here)


def _key_overrides(overrides: list[str] | None) -> list[str]:
    """This job's overrides of config keys (not of config groups: ``algo=dqn`` picks a group)."""
    if overrides is not None:
        return overrides
    if not HydraConfig.initialized():
        return []
    hydra_cfg = HydraConfig.get()
    groups = set(hydra_cfg.runtime.choices)
    return [o for o in hydra_cfg.overrides.task if o.split("=", 1)[0].lstrip("+~") not in groups]


def record_failure(out_dir: Path, err: BaseException) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / FAILED).write_text(
        json.dumps(
            {
                "error": f"{type(err).__name__}: {err}",
                "traceback": "".join(traceback.format_exception(err)),
            },
            indent=2,
        )
        + "\n"
    )


def clear_failure(out_dir: Path) -> None:
    (out_dir / FAILED).unlink(missing_ok=True)


def _is_job(path: Path) -> bool:
    """A job dir: Hydra's, or one put back by ``restore`` (its record only)."""
    return (path / ".hydra").is_dir() or (path / SUMMARY).exists()


def job_states(sweep_dir: Path) -> dict[str, list[Path]]:
    """Job dirs of a sweep by state: finished, failed, unfinished (started, no summary)."""
    states: dict[str, list[Path]] = {"finished": [], "failed": [], "unfinished": []}
    for job in sorted(p for p in sweep_dir.iterdir() if _is_job(p)):
        if (job / FAILED).exists():
            states["failed"].append(job)
        elif (job / SUMMARY).exists():
            states["finished"].append(job)
        else:
            states["unfinished"].append(job)
    return states


class SweepSummary(Callback):
    """Hydra callback: at the end of a sweep, say what finished and which jobs failed, and how to
    resume (re-run into the same sweep dir: finished jobs are skipped)."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():
            return
        states = job_states(sweep_dir)
        print(
            f"sweep {sweep_dir}: {len(states['finished'])} finished, "
            f"{len(states['failed'])} failed, {len(states['unfinished'])} unfinished"
        )
        for job in states["failed"]:
            error = json.loads((job / FAILED).read_text())["error"]
            print(f"  FAILED {job.name}: {error}")
        if states["failed"] or states["unfinished"]:
            print(
                "  re-run the same command with hydra.sweep.dir="
                f"{sweep_dir} to run only the jobs that did not finish"
            )
        print(f"  report: python -m src.report {sweep_dir}")
        if states["failed"]:
            raise SystemExit(1)  # the other jobs ran; the sweep as a whole did not succeed


def finished_runs(root: Path) -> list[Path]:
    """Every run dir under ``root`` (a sweep dir, or a dir of sweeps) whose run finished."""
    runs = []
    for summary_path in sorted(root.rglob(SUMMARY)):
        run_dir = summary_path.parent
        if (run_dir / FAILED).exists() or not all((run_dir / f).exists() for f in RECORD):
            continue
        if json.loads(summary_path.read_text()).get("stop_reason") not in UNFINISHED:
            runs.append(run_dir)
    return runs


def copy_record(src_root: Path, dst_root: Path) -> list[Path]:
    """Copy ``RECORD`` of each finished run under ``src_root`` to the same relative path under
    ``dst_root``, unless a finished run is already there (nothing is overwritten). Returns the
    run dirs copied. Each file is written under a temporary name and renamed, so a killed copy
    never leaves a run that looks finished."""
    from src.wandb_report import SWEEP_FILE, sweep_groups

    copied, parts = [], set()
    for run_dir in finished_runs(src_root):
        dest = dst_root / run_dir.relative_to(src_root)
        if (dest / SUMMARY).exists():
            continue
        take_record(run_dir, dest)
        copied.append(dest)
        parts.add(run_dir.parent)
    for part in parts:  # which W&B group the part's runs logged to: the W&B report filters on it
        entity, project, groups = sweep_groups(part)
        if len(groups) == 1:
            info = {"group": groups[0], "project": project, "entity": entity}
            (dst_root / part.relative_to(src_root) / SWEEP_FILE).write_text(json.dumps(info) + "\n")
    return copied


def main(argv: list[str]) -> int:
    usage = (
        "usage: python -m src.sweep archive <sweep dir> <runs dir>   (finished jobs -> record)\n"
        "       python -m src.sweep restore <runs dir> <sweep dir>   (record -> sweep dir to re-run)"
    )
    if {"-h", "--help"} & set(argv):
        print(usage)
        return 0
    if len(argv) != 3 or argv[0] not in ("archive", "restore"):
        print(usage, file=sys.stderr)
        return 2
    command, src, dst = argv[0], Path(argv[1]), Path(argv[2])
    if command == "restore" and not src.exists():
        print(f"maskbench: restore: no record at {src} yet, nothing to restore")
        return 0
    if not src.is_dir():
        print(f"maskbench: {command}: {src} is not a directory\n{usage}", file=sys.stderr)
        return 2
    copied = copy_record(src, dst)
    total = len(finished_runs(dst))
    print(f"maskbench: {command}d {len(copied)} finished runs from {src} to {dst} ({total} there)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
