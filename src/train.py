"""The training loop: build, iterate, log, stop, checkpoint. ``train(cfg, out_dir)`` is the API."""

from __future__ import annotations

import json
import math
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from src.callbacks import (
    EPISODE_DIAG_STEPS,
    EPISODE_INVALID,
    EPISODE_KL,
    EPISODE_LENGTHS,
    EPISODE_P_INVALID,
    EPISODE_RETURNS,
)
from src.envs.guard import ERROR_FILE
from src.metrics import EVAL_RETURN, KL_MASKED_UNMASKED, P_INVALID
from src.tracking import METRICS, Tracker, check_logger

ENV_ERROR = "env_error.json"


class EpisodeWindow:
    """Running totals over finished episodes and the rolling mean of the last ``window`` returns."""

    def __init__(self, window: int):
        self.returns: deque[float] = deque(maxlen=window)
        self.episodes = 0
        self.invalid_actions = 0
        self.episode_steps = 0

    def state(self) -> dict[str, Any]:
        return {
            "window": self.returns.maxlen,
            "returns": list(self.returns),
            "episodes": self.episodes,
            "invalid_actions": self.invalid_actions,
            "episode_steps": self.episode_steps,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> EpisodeWindow:
        window = cls(state["window"])
        window.returns.extend(state["returns"])
        window.episodes, window.invalid_actions = state["episodes"], state["invalid_actions"]
        window.episode_steps = state["episode_steps"]
        return window

    @property
    def full(self) -> bool:
        return len(self.returns) == self.returns.maxlen

    @property
    def return_mean(self) -> float | None:
        return sum(self.returns) / len(self.returns) if self.returns else None

    def add(self, returns: list[float], lengths: list[int], invalid: list[int]) -> dict[str, Any]:
        """Add one iteration's finished episodes; return that iteration's chart metrics."""
        steps, n_invalid = sum(lengths), sum(invalid)
        self.returns.extend(returns)
        self.episodes += len(returns)
        self.invalid_actions += n_invalid
        self.episode_steps += steps
        return {
            "charts/episode_return_mean": self.return_mean,
            "charts/episode_return_iter_mean": sum(returns) / len(returns) if returns else None,
            "charts/episode_len_mean": steps / len(lengths) if lengths else None,
            "charts/episodes": self.episodes,
            "charts/invalid_actions": n_invalid,
            "charts/invalid_action_rate": n_invalid / steps if steps else None,
            "charts/invalid_actions_total": self.invalid_actions,
        }


def _scalar(value: Any) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _series(value: Any) -> list:
    """An ``item_series`` metric: a list, or a bare nan when no episode ended this iteration."""
    if value is None or isinstance(value, float) and math.isnan(value):
        return []
    return list(value) if isinstance(value, (list, tuple, deque)) else [value]


def old_stack_episode_series(result: dict[str, Any]) -> dict[str, Any]:
    """Old API stack (framework=tf2) result -> the keys the new stack reports.

    Its ``hist_stats`` hold the smoothing window with this iteration's episodes last.
    """
    runners = result.get("env_runners", {})
    hist, new = runners.get("hist_stats", {}), int(runners.get("episodes_this_iter", 0))

    def last(values) -> list:
        return list(values)[-new:] if new else []

    learner = result.get("info", {}).get("learner", {})
    return {
        **result,
        "env_runners": {
            **runners,
            "num_env_steps_sampled_lifetime": result.get(
                "num_env_steps_sampled_lifetime", result.get("num_env_steps_sampled", 0)
            ),
            "num_env_steps_sampled": result.get("num_env_steps_sampled_this_iter", 0),
            "sample": None,
            EPISODE_RETURNS: last(hist.get("episode_reward", [])),
            EPISODE_LENGTHS: last(hist.get("episode_lengths", [])),
            EPISODE_INVALID: last(hist.get(EPISODE_INVALID, [])),
        },
        "learners": {pid: stats.get("learner_stats", {}) for pid, stats in learner.items()},
    }


def diagnostics(runners: dict[str, Any]) -> dict[str, float]:
    """This iteration's mean P(invalid | s) and KL(masked || unmasked) over the steps of the
    episodes that ended (policy-gradient modules on torch report them; others log nothing)."""
    steps = sum(_series(runners.get(EPISODE_DIAG_STEPS)))
    if not steps:
        return {}
    return {
        P_INVALID: sum(_series(runners.get(EPISODE_P_INVALID))) / steps,
        KL_MASKED_UNMASKED: sum(_series(runners.get(EPISODE_KL))) / steps,
    }


def iteration_row(
    result: dict[str, Any],
    episodes: EpisodeWindow,
    iteration: int,
    wall_time_s: float,
    iter_time_s: float,
) -> dict[str, Any]:
    """One row of metrics.jsonl (and of the W&B run) from an ``algo.train()`` result."""
    runners = result.get("env_runners", {})
    row: dict[str, Any] = {
        "iteration": iteration,
        "env_steps": int(runners.get("num_env_steps_sampled_lifetime", 0)),
        "wall_time_s": round(wall_time_s, 3),
    }
    row.update(
        episodes.add(
            *(_series(runners.get(k)) for k in (EPISODE_RETURNS, EPISODE_LENGTHS, EPISODE_INVALID))
        )
    )
    row.update(diagnostics(runners))
    sampled = runners.get("num_env_steps_sampled", 0)
    row["perf/env_steps_per_s"] = round(sampled / iter_time_s, 1) if iter_time_s > 0 else None
    sample_time = _scalar(runners.get("sample"))
    row["perf/sample_time_s"] = sample_time
    row["perf/sample_env_steps_per_s"] = round(sampled / sample_time, 1) if sample_time else None
    # Per-module learner stats (policy/vf loss, entropy, KL, lr, ...); "__all_modules__" holds only totals.
    for module_id, module_results in result.get("learners", {}).items():
        if module_id == "__all_modules__" or not isinstance(module_results, dict):
            continue
        for key, value in module_results.items():
            if (v := _scalar(value)) is not None:
                row[f"learner/{key}"] = v
    return row


def progress_line(row: dict[str, Any], cfg: DictConfig) -> str:
    ret = row["charts/episode_return_mean"]
    rate = row["charts/invalid_action_rate"]
    return (
        f"[{cfg.algo.name}/{cfg.model.action_head}/{cfg.env.get('layout', cfg.env.name)}/{cfg.framework.name}] "
        f"iter {row['iteration']:>4}  steps {row['env_steps']:>9,}/{cfg.stop.env_steps:,}  "
        f"return {'-' if ret is None else f'{ret:7.1f}'} ({row['charts/episodes']} ep)  "
        f"invalid {row['charts/invalid_actions']:>5} ({'-' if rate is None else f'{rate:.2%}'})  "
        f"{row['perf/env_steps_per_s'] or 0:>7,.0f} steps/s  {row['wall_time_s']:>6.0f}s"
        + (f"  eval {greedy:7.1f}" if (greedy := row.get(EVAL_RETURN)) is not None else "")
    )


def stop_reason(row: dict[str, Any], episodes: EpisodeWindow, stop: DictConfig) -> str | None:
    ret = episodes.return_mean
    if stop.target_return is not None and episodes.full and ret >= stop.target_return:
        return "target_return"
    if row["env_steps"] >= stop.env_steps:
        return "env_steps"
    if row["wall_time_s"] >= stop.time_s:
        return "time"
    return None


def machine() -> dict[str, Any]:
    """What a run's floating point depends on besides its config and code: the CPU and the kernels
    torch picks for it, and the numeric libraries' versions. Two runs of one seed repeat each
    other's numbers exactly on one machine (PPO, DQN: bench/RESULTS.md, "Same seed, same run?");
    on a CPU whose torch kernels differ (AVX2 vs AVX512) the sums round differently from the first
    update on, and a curve that is sensitive to it (the games) drifts apart. So the summary says
    where it was made."""
    import platform

    import numpy as np
    import ray
    import torch

    info = {"cpu": platform.processor() or platform.machine()}
    try:  # Linux: the model name, and the family / model numbers that tell CPU generations apart
        fields = dict(
            line.split(":", 1)
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if ":" in line
        )
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        info["cpu"] = (
            f"{fields['model name']} (family {fields['cpu family']}, model {fields['model']})"
        )
    except (OSError, KeyError):
        pass
    return info | {
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "ray": ray.__version__,
    }


def train(cfg: DictConfig, out_dir: Path) -> dict[str, Any]:
    import torch

    from src.algos import build_algo_config
    from src.checkpoints import restore_algorithm
    from src.metrics import EVAL_MODES
    from src.options import Axes
    from src.ray_start import init_ray

    started = (time.perf_counter(), datetime.now(timezone.utc).isoformat(timespec="seconds"))
    # Everything that can reject the configuration (each axis checks itself against the others,
    # src.options.Axes.check) runs before anything starts or is written.
    axes = Axes.from_cfg(cfg)
    algo_config = build_algo_config(cfg, axes)
    # A value-based algorithm's only policy is its greedy one: no stochastic evaluation.
    eval_modes = EVAL_MODES if axes.algo.POLICY_GRADIENT else ("greedy",)
    check_logger(cfg)
    resume_from = prepare_run_dir(cfg, out_dir)
    state = LoopState.load(resume_from) if resume_from else LoopState.new(cfg)

    torch.set_num_threads(cfg.resources.torch_threads)
    if axes.framework.NEW_API_STACK:
        # RLlib seeds torch with torch.use_deterministic_algorithms, whose first call imports
        # torch._inductor (~1 s on the critical path): imported now, while Ray still starts.
        import torch._inductor  # noqa: F401
    tracker = Tracker(cfg, out_dir, resume=resume_from is not None)
    algo, exit_code = None, 1
    try:
        init_ray(cfg.resources)
        # Where a guarded env (in any env runner process) writes an error it raised.
        (out_dir / ENV_ERROR).unlink(missing_ok=True)
        algo_config.env_config[ERROR_FILE] = str(out_dir / ENV_ERROR)
        algo = algo_config.build_algo()
        if resume_from is not None:
            restore_algorithm(algo, resume_from)
            print(
                f"maskbench: resumed from {resume_from.relative_to(out_dir)} "
                f"(iteration {state.iteration}, {state.env_steps:,} env steps)"
            )
        summary = _loop(cfg, algo, tracker, out_dir, eval_modes, state, started)
        exit_code = 0
        return summary
    finally:
        tracker.finish(exit_code)
        if algo is not None:
            algo.stop()


def prepare_run_dir(cfg: DictConfig, out_dir: Path) -> Path | None:
    """Make ``out_dir`` ready for this run; return the checkpoint to resume from, if any.

    A dir that holds a checkpoint of the same config and no finished summary is resumed: its
    ``metrics.jsonl`` keeps the rows up to the checkpoint (later ones are trained again). A dir
    of another config, or of a finished run, is refused (ConfigError) and left as it is.
    """
    from src.checkpoints import latest, loop_state, replace_text
    from src.errors import ConfigError
    from src.sweep import SUMMARY, finished_summary, same_config

    config_path, summary_path = out_dir / "config.yaml", out_dir / SUMMARY
    if config_path.exists() and not same_config(config_path, cfg):
        raise ConfigError(
            f"{out_dir} holds a run of another configuration ({config_path}): give this run its "
            "own hydra.run.dir, or resume that one with `python -m src.run resume=<its dir>`."
        )
    if (done := finished_summary(out_dir, cfg)) is not None:
        raise ConfigError(
            f"{out_dir} holds a finished run (stop_reason {done['stop_reason']!r}, "
            f"{summary_path}): give this run its own hydra.run.dir (or delete that dir to train "
            "it again)."
        )
    resume_from = latest(out_dir)
    metrics = out_dir / METRICS
    if resume_from is not None:
        keep = loop_state(resume_from)["iteration"]
        rows = metrics.read_text().splitlines() if metrics.exists() else []
        kept = [r for r in rows if r.strip() and json.loads(r)["iteration"] <= keep]
        replace_text(metrics, "".join(f"{r}\n" for r in kept))
        summary_path.unlink(missing_ok=True)  # an unfinished run's: it will be written again
    elif metrics.exists():
        print(f"maskbench: {metrics} has no checkpoint to resume from; training from the start")
        metrics.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(cfg, config_path, resolve=True)
    return resume_from


def _evaluate(cfg: DictConfig, algo) -> dict[str, float]:
    """The "masking removed" evaluation (src.diagnostics) for torch models that use the mask."""
    episodes = cfg.diagnostics.eval_episodes
    if not episodes or not algo.config.enable_rl_module_and_learner:
        return {}
    module = algo.get_module()
    if not module.head_spec.uses_mask:
        return {}  # an unmasked model has no mask to remove
    from src.diagnostics import evaluate

    return evaluate(module, OmegaConf.to_container(cfg.env, resolve=True), episodes)


class EvaluationSchedule:
    """When to play evaluation episodes: each time training crosses a multiple of ``every``
    env steps (once, however many it crosses), and at the end of the run."""

    def __init__(self, every: int, next_due: int | None = None):
        self.every, self.next = every, every if next_due is None else next_due

    def due(self, env_steps: int, last: bool) -> bool:
        if last:
            return True
        if not self.every or env_steps < self.next:
            return False
        self.next = (env_steps // self.every + 1) * self.every
        return True


class QueueStats:
    """Per-iteration ``learner_queue/*`` from the learner in-queue's running counts (IMPALA,
    APPO: src.learners): batches added, trained on and dropped, and how often each batch added
    this iteration was trained on (``reuse``)."""

    def __init__(self):
        self.last: dict[str, int] = {}

    def update(self, counts: dict[str, int]) -> dict[str, float]:
        if not counts:
            return {}
        delta = {k: v - self.last.get(k, 0) for k, v in counts.items()}
        self.last = counts
        row = {f"learner_queue/{k}": v for k, v in delta.items()}
        added = delta.get("batches_added", 0)
        row["learner_queue/reuse"] = delta.get("batches_trained", 0) / added if added else None
        return row


@dataclass
class LoopState:
    """What the loop carries between iterations; a checkpoint saves it (``loop_state.json``) and
    a resumed run starts from it."""

    episodes: EpisodeWindow
    next_eval: int  # the next multiple of evaluation.every_env_steps that triggers one
    iteration: int = 0
    env_steps: int = 0
    train_s: float = 0.0  # training seconds: evaluation and checkpoint time excluded
    eval_s: float = 0.0
    checkpoint_s: float = 0.0
    best: float | None = None
    reached: dict[str, dict[str, Any]] = field(default_factory=dict)  # threshold -> when
    last_eval: dict[str, float] = field(default_factory=dict)

    @classmethod
    def new(cls, cfg: DictConfig) -> LoopState:
        return cls(EpisodeWindow(cfg.metrics.return_window), cfg.evaluation.every_env_steps)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "episodes": self.episodes.state()}

    @classmethod
    def load(cls, checkpoint: Path) -> LoopState:
        from src.checkpoints import loop_state

        state = loop_state(checkpoint)
        return cls(**{**state, "episodes": EpisodeWindow.from_state(state["episodes"])})


def _loop(
    cfg: DictConfig,
    algo,
    tracker: Tracker,
    out_dir: Path,
    eval_modes: tuple[str, ...],
    state: LoopState,
    started: tuple[float, str],
) -> dict[str, Any]:
    from src.checkpoints import Checkpointer, latest
    from src.envs.guard import env_error_in, recorded_env_error
    from src.evaluation import Evaluator, evaluate
    from src.learners import optimizer_state, queue_counts

    # The run's start-up: the checks, W&B, waiting for Ray, building (and restoring); the
    # process's imports before train() are not in it (a sweep's job process imports once).
    startup_s = time.perf_counter() - started[0]
    episodes = state.episodes
    evaluator = (
        Evaluator(OmegaConf.to_container(cfg.env, resolve=True), cfg.evaluation.episodes)
        if cfg.evaluation.episodes
        else None
    )
    schedule = EvaluationSchedule(cfg.evaluation.every_env_steps, state.next_eval)
    queue_stats = QueueStats()
    thresholds = sorted(
        {
            *cfg.metrics.thresholds,
            *([cfg.stop.target_return] if cfg.stop.target_return is not None else []),
        }
    )
    reason, row, env_error = None, {"env_steps": state.env_steps}, None
    if evaluator is not None and cfg.evaluation.every_env_steps and state.iteration == 0:
        # The untrained policy, so that evaluation curves (and their areas) start at step 0.
        tracker.log(
            {
                "iteration": 0,
                "env_steps": 0,
                "wall_time_s": 0.0,
                **evaluate(algo, evaluator, eval_modes),
            }
        )
    # Training time goes on from the checkpoint's; evaluation and checkpoints are not training.
    start = time.perf_counter() - state.train_s - state.eval_s - state.checkpoint_s
    checkpointer = Checkpointer(
        out_dir,
        cfg.checkpoint.every_n_iters,
        cfg.checkpoint.every_s,
        cfg.checkpoint.keep,
        time.perf_counter(),
    )

    def save(now: float) -> Path:
        state.next_eval = schedule.next
        saved = checkpointer.save(algo, state.to_dict(), now)
        state.checkpoint_s += time.perf_counter() - now
        return saved

    try:
        while reason is None:
            state.iteration += 1
            it_start = time.perf_counter()
            result = algo.train()
            if not algo.config.enable_rl_module_and_learner:  # framework=tf2
                result = old_stack_episode_series(result)
            now = time.perf_counter()
            state.train_s = now - start - state.eval_s - state.checkpoint_s
            row = iteration_row(result, episodes, state.iteration, state.train_s, now - it_start)
            state.env_steps = row["env_steps"]
            row.update(queue_stats.update(queue_counts(algo)))
            row.update(optimizer_state(algo))
            ret = episodes.return_mean
            if ret is not None and episodes.full:
                state.best = ret if state.best is None else max(state.best, ret)
                for threshold in thresholds:
                    if f"{threshold:g}" not in state.reached and ret >= threshold:
                        state.reached[f"{threshold:g}"] = {
                            k: row[k] for k in ("env_steps", "wall_time_s")
                        }
            reason = stop_reason(row, episodes, cfg.stop)
            if evaluator is not None and schedule.due(row["env_steps"], last=reason is not None):
                eval_start = time.perf_counter()
                state.last_eval = evaluate(algo, evaluator, eval_modes)
                state.eval_s += time.perf_counter() - eval_start
                row.update(state.last_eval)
                row["perf/eval_time_s"] = round(state.eval_s, 3)
            every_eval = cfg.diagnostics.eval_every_n_iters
            if every_eval and state.iteration % every_eval == 0:
                row.update(_evaluate(cfg, algo))
            tracker.log(row)
            print(progress_line(row, cfg), flush=True)
            if (env_error := recorded_env_error(out_dir / ENV_ERROR)) is not None:
                reason = "env_error"  # a remote env runner's env raised (its process died)
                break
            if reason is None and checkpointer.due(state.iteration, time.perf_counter()):
                save(time.perf_counter())
    except KeyboardInterrupt:
        reason = "interrupted"  # keep what was learned: checkpoint and summary below
    except Exception as err:
        env_error = env_error_in(err) or recorded_env_error(out_dir / ENV_ERROR)
        if env_error is None:
            raise
        reason = "env_error"  # the env's own error: said last (src.run), after what is kept below
    if evaluator is not None:
        evaluator.close()
    ended = reason in ("interrupted", "env_error")  # mid-iteration: no final evaluation
    final_eval = _evaluate(cfg, algo) if not ended else {}
    target = cfg.stop.target_return
    target_hit = state.reached.get(f"{target:g}") if target is not None else None
    # The final checkpoint; after an interruption it is where a resumed run starts, so the
    # interrupted iteration (never logged) is not counted.
    if ended and state.iteration > 0 and row.get("iteration") != state.iteration:
        state.iteration -= 1
    checkpoint = None
    if cfg.checkpoint.final:
        try:
            checkpoint = save(time.perf_counter())
        except Exception as err:  # noqa: BLE001 - after an env error the last good one stays
            if reason != "env_error":
                raise
            print(
                f"maskbench: no final checkpoint after the env error ({err}); kept: {latest(out_dir)}"
            )
            checkpoint = latest(out_dir)
    summary = {
        "stop_reason": reason,
        "iterations": state.iteration,
        "env_steps": row["env_steps"],
        "budget_env_steps": cfg.stop.env_steps,
        "wall_time_s": round(state.train_s, 3),  # training: no evaluation, no checkpoints
        "eval_time_s": round(state.eval_s, 3),
        "checkpoint_time_s": round(state.checkpoint_s, 3),
        # Where this process's time went besides training (bench/sweep_time.py reads them).
        "started_at": started[1],
        "startup_s": round(startup_s, 3),
        "job_s": round(time.perf_counter() - started[0], 3),
        "machine": machine(),
        "episodes": episodes.episodes,
        "return_window": cfg.metrics.return_window,
        "final_return_mean": episodes.return_mean,
        "best_return_mean": state.best,
        "target_return": cfg.stop.target_return,
        "solved": target_hit is not None,
        "env_steps_to_target": target_hit and target_hit["env_steps"],
        "time_to_target_s": target_hit and target_hit["wall_time_s"],
        "first_reached": state.reached,
        "invalid_actions_total": episodes.invalid_actions,
        "invalid_action_rate_total": (
            episodes.invalid_actions / episodes.episode_steps if episodes.episode_steps else None
        ),
        "checkpoint": checkpoint and str(checkpoint.relative_to(out_dir)),
        # The last evaluation (at the end of the run unless it was cut short).
        **({"eval_env_steps": row["env_steps"]} if state.last_eval and not ended else {}),
        **(state.last_eval if not ended else {}),
        **final_eval,
        **({"error": str(env_error)} if reason == "env_error" else {}),
    }
    tracker.summary(summary)
    if reason == "env_error":
        raise env_error
    print(
        f"done ({reason}): "
        + ", ".join(
            f"{k}={summary.get(k)}"
            for k in (
                "env_steps",
                "final_return_mean",
                EVAL_RETURN,
                "solved",
                "invalid_actions_total",
            )
        )
        + f"; outputs in {out_dir}"
    )
    return summary
