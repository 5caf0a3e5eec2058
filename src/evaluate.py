"""Look at a trained agent: play evaluation episodes from a run's checkpoint.

    python -m src.evaluate outputs/2026-11-23/10-00-00-000000_ppo_masked
    python -m src.evaluate <run dir or checkpoint> episodes=100 mask=off greedy=false
    python -m src.evaluate <run dir> --record      # also episode.gif, logged to W&B

``mask=on`` (default) plays the env as trained; ``mask=off`` gives the policy a mask of ones
(every action valid) in the penalty env, which shows what the agent learned without the mask.
``greedy=true`` (default) takes the most likely action (DQN: the highest valid Q), ``false``
samples from the policy. Episodes use fixed seeds (``src.evaluation``), so two calls agree.
Writes ``eval.json`` beside the checkpoint's run: return mean and IQM with a 95% bootstrap CI,
invalid-action rate, episode length, and on games the win / draw / loss rates.
``--record`` also writes ``episode.gif`` (the first episode: the env's drawing, with the step,
the action and the mask below it) and, when the run logged to W&B (``logger=wandb``), logs it
with the numbers as a W&B run of job_type ``evaluate`` (offline unless ``WANDB_MODE=online``).

``seat=first|second`` (games only) plays every episode from that seat; ``as_trained`` (default)
keeps the run's ``env.agent_seat`` (``random``: a coin per episode).

Given a sweep dir instead of one run, every run in it with a checkpoint is evaluated under the
same options and compared as the report compares (``src.report``: cells derived from the configs,
task-return IQM with 95% CIs per cell, masked against each other model with Bonferroni-corrected
CIs and a verdict; a game's win / draw / loss rates beside). It writes ``eval_<options>.md`` (the
tables), ``eval_<options>.png`` (the cells drawn) and ``eval_<options>.csv`` (one row per run) in
the sweep dir, and each run's ``eval.json`` is left as it was::

    python -m src.evaluate multirun/games/all seat=first episodes=200
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from src.errors import ConfigError

OPTIONS = {"episodes": "20", "mask": "on", "greedy": "true", "seat": "as_trained"}
FLAGS = ("--record",)
EVAL_FILE, RECORDING = "eval.json", "episode.gif"
SEATS = ("as_trained", "first", "second")


def is_sweep(path: Path) -> bool:
    """A dir of runs (a sweep or a study's record) rather than one run or a checkpoint."""
    from src.checkpoints import CHECKPOINTS

    return path.is_dir() and not (path / "config.yaml").exists() and path.parent.name != CHECKPOINTS


def locate(path: Path) -> tuple[Path, Path]:
    """(run dir, checkpoint) from either."""
    from src.checkpoints import CHECKPOINTS, latest

    path = path.resolve()
    if (path / "config.yaml").exists():
        checkpoint = latest(path)
        if checkpoint is None:
            raise ConfigError(f"{path} has no checkpoint ({path / CHECKPOINTS}/ is empty).")
        return path, checkpoint
    if path.parent.name == CHECKPOINTS and (path.parent.parent / "config.yaml").exists():
        return path.parent.parent, path
    raise ConfigError(
        f"{path} is neither a run dir (with config.yaml) nor one of its checkpoints "
        f"(<run dir>/{CHECKPOINTS}/step_*)."
    )


def parse(args: list[str]) -> tuple[Path, dict[str, str], bool]:
    flags = [a for a in args if a.startswith("-")]
    if unknown := [f for f in flags if f not in FLAGS]:
        raise ConfigError(f"Unknown flag {unknown[0]!r}: use {', '.join(FLAGS)}.")
    paths = [a for a in args if "=" not in a and a not in flags]
    options = dict(OPTIONS)
    for arg in (a for a in args if "=" in a):
        key, value = arg.split("=", 1)
        if key not in OPTIONS:
            raise ConfigError(f"Unknown option {key!r}: use {', '.join(OPTIONS)}.")
        options[key] = value.lower()
    if len(paths) != 1:
        raise ConfigError("Give one run dir or checkpoint: python -m src.evaluate <path> [k=v ...]")
    if options["mask"] not in ("on", "off") or options["greedy"] not in ("true", "false"):
        raise ConfigError("mask=on|off, greedy=true|false.")
    if options["seat"] not in SEATS:
        raise ConfigError(f"seat={options['seat']}: choose one of {', '.join(SEATS)}.")
    return Path(paths[0]), options, "--record" in flags


def policy_of(cfg, checkpoint: Path, greedy: bool):
    """The checkpoint's policy and its mask key: the torch module alone (no Ray), or the tf2
    algorithm (old API stack)."""
    from src.evaluation import module_policy, old_stack_policy
    from src.options import build

    framework = build(cfg.framework, "framework")
    if framework.NEW_API_STACK:
        from ray.rllib.core.rl_module.rl_module import RLModule

        module = RLModule.from_checkpoint(
            checkpoint / "learner_group" / "learner" / "rl_module" / "default_policy"
        )
        return module_policy(module, greedy), None
    # The old stack: build the run's algorithm as training did, then restore the checkpoint
    # (RLlib's Algorithm.from_checkpoint trips over TF's eager mode here).
    from src.algos import build_algo_config
    from src.checkpoints import restore_algorithm
    from src.ray_start import init_ray

    init_ray(cfg.resources)
    algo = build_algo_config(cfg).build_algo()
    restore_algorithm(algo, checkpoint)
    return old_stack_policy(algo, greedy), algo


def score(played: dict[str, np.ndarray]) -> dict[str, Any]:
    from src.evaluation import outcome_rates
    from src.stats import iqm_interval

    returns = played["returns"]
    estimate = iqm_interval(returns)
    out = {
        "episodes": len(returns),
        "return_mean": float(returns.mean()),
        "return_iqm": float(estimate.value),
        "return_iqm_ci95": [float(estimate.low), float(estimate.high)],
        "task_return_mean": float(played["task_returns"].mean()),
        "invalid_action_rate": float(played["invalid"].sum() / max(played["lengths"].sum(), 1)),
        "invalid_actions": int(played["invalid"].sum()),
        "episode_len_mean": float(played["lengths"].mean()),
    }
    out.update(outcome_rates(played["outcomes"]))
    return out


def evaluate_checkpoint(
    path: Path, options: dict[str, str], record: bool = False, write: bool = True
) -> dict[str, Any]:
    """``options``: OPTIONS' keys (a missing one takes its default). ``write``: eval.json."""
    from src.evaluation import Evaluator

    options = {**OPTIONS, **options}
    run_dir, checkpoint = locate(path)
    cfg = OmegaConf.load(run_dir / "config.yaml")
    env_cfg = OmegaConf.to_container(cfg.env, resolve=True)
    remove = options["mask"] == "off"
    if remove:  # invalid actions must not crash the env
        env_cfg["invalid_action"] = "penalty"
    if options["seat"] != "as_trained":
        if "agent_seat" not in env_cfg:
            raise ConfigError(
                f"seat={options['seat']} is a game's option (env.agent_seat); env "
                f"{env_cfg.get('name')!r} has no seats: leave seat out."
            )
        env_cfg["agent_seat"] = options["seat"]
    policy, algo = policy_of(cfg, checkpoint, options["greedy"] == "true")
    evaluator = Evaluator(env_cfg, int(options["episodes"]))
    try:
        played = evaluator.episodes(policy, cfg.model.mask_key, remove_mask=remove, record=record)
    finally:
        evaluator.close()
        if algo is not None:
            algo.stop()
    if played is None:
        raise ConfigError(f"{cfg.algo.name} has no stochastic policy: use greedy=true.")
    result = {
        "run_dir": run_dir.name,
        "checkpoint": str(checkpoint.relative_to(run_dir)),
        **options,
        **score(played),
    }
    if record:
        from src.envs.render import save_gif
        from src.tracking import log_evaluation

        fps = evaluator.envs[0].metadata.get("render_fps", 30)
        save_gif(played["frames"], run_dir / RECORDING, fps=fps)
        result["recording"] = RECORDING
        if cfg.logger.enabled:
            result["wandb"] = log_evaluation(cfg, run_dir, result, run_dir / RECORDING)
    if write:
        (run_dir / EVAL_FILE).write_text(json.dumps(result, indent=2) + "\n")
    return result


def options_tag(options: dict[str, str]) -> str:
    """The options that differ from the defaults, as a file-name part: ``episodes-200_seat-first``."""
    changed = [f"{k}-{v}" for k, v in options.items() if v != OPTIONS[k]]
    return "_".join(changed) or "defaults"


def evaluate_sweep(root: Path, options: dict[str, str], reps: int = 10_000) -> Path:
    """Every run under ``root`` that has a checkpoint, evaluated under ``options`` and compared
    as the report compares; returns the tables' file (``eval_<options>.md`` in ``root``)."""
    import dataclasses

    import pandas as pd

    from src import report
    from src.cells import derive
    from src.checkpoints import latest
    from src.stats import iqm_interval

    options = {**OPTIONS, **options}
    found = report.load_runs(root)
    runs = [r for r in found if latest(r.path) is not None]
    if not runs:
        raise ConfigError(f"{root} holds no run with a checkpoint (<run dir>/checkpoints/step_*).")
    if len(runs) < len(found):  # a record (docs/<study>/runs) keeps no checkpoints
        print(f"{len(found) - len(runs)} of {len(found)} runs have no checkpoint: left out")
    evaluated, rows = [], []
    for i, run in enumerate(runs, 1):
        result = evaluate_checkpoint(run.path, options, write=False)
        name = str(run.path.relative_to(root))
        print(
            f"[{i}/{len(runs)}] {name}: task return {result['task_return_mean']:+.3f}", flush=True
        )
        evaluated.append(dataclasses.replace(run, summary=result, score_key="task_return_mean"))
        per_run = {k: v for k, v in result.items() if k not in ("run_dir", "return_iqm_ci95")}
        rows.append({"run": name, "seed": run.seed, **per_run})
    design = derive([r.flat for r in evaluated])
    cells = report.group_cells(evaluated, design)
    lo, hi = report.score_range(cells)
    margin = report.MARGIN_FRACTION * (hi - lo)
    digits = report.score_digits(margin)
    comp = report.comparisons(cells, margin, reps)
    # A game's results, else how often the policy tried an invalid action.
    game = "win_rate" in rows[0]
    rates, fmt = (
        ([f"{r}_rate" for r in report.RESULTS], ".0%") if game else (["invalid_action_rate"], ".2%")
    )
    header = ["cell", "seeds", "task return IQM [95% CI]", *(k.replace("_", " ") for k in rates)]
    estimates = [iqm_interval(cell.scores, reps) for cell in cells]
    table = [
        [
            ", ".join(x for x in (cell.facet, cell.row, cell.treatment) if x),
            str(len(cell.runs)),
            est.fmt(digits),
            *(f"{np.mean([r.summary[k] for r in cell.runs]):{fmt}}" for k in rates),
        ]
        for cell, est in zip(cells, estimates, strict=True)
    ]
    opts = " ".join(f"{k}={v}" for k, v in options.items())
    out = root / f"eval_{options_tag(options)}.md"
    plot = plot_cells(cells, estimates, game, out.with_suffix(".png"), title=opts)
    lines = [
        f"# Evaluation of {len(evaluated)} checkpoints: {opts}",
        "",
        f"Made by `python -m src.evaluate {report.display_path(root)} {opts}` "
        f"({options['episodes']} episodes per run on fixed episode seeds; each run's last "
        "checkpoint).",
        "",
        f"![by cell]({plot.name})",
        "",
        report.md_table(header, table),
        "",
        f"Masked against each other model (Δ task-return IQM, 95% CIs Bonferroni-corrected over "
        f"{len(comp)} comparison{'s' * (len(comp) != 1)}; margin of practical equivalence "
        f"±{margin:g}):",
    ]
    for facet in dict.fromkeys(c.facet for c in cells):
        if verdicts := report.verdict_lines(comp, facet, digits):
            lines += ["", f"**{facet}**"] if facet else []
            lines += ["", *verdicts]
    lines.append("")
    out.write_text("\n".join(lines))
    pd.DataFrame(rows).to_csv(out.with_suffix(".csv"), index=False)
    return out


def plot_cells(cells: list, estimates: list, game: bool, path: Path, title: str) -> Path:
    """One panel per facet and row: a game's mean win / draw / loss / unfinished rates per cell
    as stacked bars, else each cell's score estimate (IQM with its 95% CI, in ``cells``' order)."""
    from src import report

    plt = report.pyplot()
    fig, panels = report.panel_grid(cells, plt, cols=2)
    # A game's four results sum to 1.
    colors = dict(zip(report.RESULTS, ("tab:green", "tab:gray", "tab:red", "wheat"), strict=True))
    for ax, key in panels:
        members = [i for i, c in enumerate(cells) if (c.facet, c.row) == key]
        group = [cells[i] for i in members]
        y = np.arange(len(group))[::-1]  # the first cell on top
        if game:
            left = np.zeros(len(group))
            for outcome in report.RESULTS:
                rate = np.array(
                    [np.mean([r.summary[f"{outcome}_rate"] for r in c.runs]) for c in group]
                )
                ax.barh(y, rate, left=left, color=colors[outcome], label=outcome)
                left += rate
            ax.set_xlim(0, 1)
            ax.set_xlabel("share of games (mean over seeds)")
        else:
            est = [estimates[i] for i in members]
            value = np.array([e.value for e in est])
            err = np.array([[e.value - e.low for e in est], [e.high - e.value for e in est]])
            ax.errorbar(value, y, xerr=err, fmt="o", capsize=3)
            ax.set_xlabel("task return IQM, 95% CI")
        ax.set_yticks(y, [f"{c.treatment} ({len(c.runs)})" for c in group])
        ax.set_title(", ".join(k for k in key if k) or "all")
    fig.suptitle(title, fontsize="medium", x=0.01, ha="left")
    fig.tight_layout()
    if game:
        fig.legend(*panels[0][0].get_legend_handles_labels(), loc="upper right", ncol=4)
        fig.subplots_adjust(top=0.88)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(args: list[str]) -> int:
    if {"-h", "--help"} & set(args):
        print(__doc__)
        return 0
    try:
        path, options, record = parse(args)
        sweep = is_sweep(path)
        if sweep and record:
            raise ConfigError("--record plays one run: give a run dir, not a sweep dir.")
        from src.frameworks import set_framework_env

        configs = sorted(path.rglob("config.yaml")) if sweep else [locate(path)[0] / "config.yaml"]
        frameworks = {OmegaConf.load(c).framework.name for c in configs}
        set_framework_env(skip_tf="tf2" not in frameworks)  # before RLlib is imported
        import ray.rllib  # noqa: F401 - configures Ray's loggers, quietened next

        for name in ("ray", "ray.rllib"):
            logging.getLogger(name).setLevel(logging.ERROR)  # RLlib's import-time warnings
        if sweep:
            out = evaluate_sweep(path, options)
            print(out.read_text(), end="")
            print(f"-> {out} and {out.with_suffix('.csv').name} beside it")
            return 0
        result = evaluate_checkpoint(path, options, record)
    except ConfigError as err:
        print(f"maskbench: {err}", file=sys.stderr)
        return 2
    lo, hi = result["return_iqm_ci95"]
    print(
        f"{result['episodes']} episodes (mask {result['mask']}, greedy {result['greedy']}"
        + ("" if result["seat"] == "as_trained" else f", seat {result['seat']}")
        + "): "
        f"return IQM {result['return_iqm']:.1f} [{lo:.1f}, {hi:.1f}], mean "
        f"{result['return_mean']:.1f}; invalid actions {result['invalid_actions']} "
        f"({result['invalid_action_rate']:.2%})"
        + (f"; win {result['win_rate']:.0%}" if "win_rate" in result else "")
        + f" -> {EVAL_FILE} in the run dir"
    )
    if "recording" in result:
        print(f"episode recorded: {result['recording']} in the run dir", end="")
        print(f"; W&B: {result['wandb']}" if "wandb" in result else " (logger=none: not logged)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
