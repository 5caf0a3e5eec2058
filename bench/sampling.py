"""Sampling throughput of RLlib's env runner per (algo, model) for one framework, and what masking costs.

RLlib's ``env_runners/sample`` timer does not cover env stepping for APPO, IMPALA and DQN (it
reports rates above the raw env's), so this script times ``EnvRunner.sample`` itself: the env
steps, the connectors and the module's forward pass, everything masking could slow down. Every
model runs the same penalty env, so masked and unmasked differ only in the model.

Single measurements of the same cell differ by up to 30% on a shared 2-core machine, so an
algorithm's models are built side by side and measured in interleaved rounds (masked, unmasked,
embedding, masked, ...; the order rotates every round): machine noise hits every model alike,
and masked / unmasked is a paired ratio per round, summarised as a geometric mean with a 95%
t-interval over the rounds. The same is done for one torch ``forward_exploration`` on a fixed
batch of 16 observations, which isolates what the masked model adds per vector step.

    python bench/sampling.py torch [--rounds 10] [--round-steps 2000]   # one JSON line per cell

``masking`` mode: what masking costs as the action space grows, without an env runner. Per number
of actions N (ParametricCartPole with N slots; 4672: chess), on a batch of 16 observations, torch
at one thread, in interleaved rounds: the masking op alone (``mask_logits``, against the forum's
``logits + clamp(log(mask))`` and ``masked_fill``) and one ``forward_exploration`` of the
masked and of the unmasked PPO module built for that env, with their paired ratio::

    python bench/sampling.py masking [--actions 6 600 4672] [--rounds 20]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def format_ratio(r: dict[str, float], digits: int = 3) -> str:
    """``ratio [lo, hi]`` of a ``paired_ratio`` result."""
    return f"{r['ratio']:.{digits}f} [{r['lo']:.{digits}f}, {r['hi']:.{digits}f}]"


def paired_ratio(a: list[float], b: list[float]) -> dict[str, float]:
    """Geometric mean of a[i] / b[i] with a 95% t-interval (on the log ratios) over the rounds."""
    from scipy import stats

    logs = np.log(np.asarray(a) / np.asarray(b))
    mean = logs.mean()
    half = stats.t.ppf(0.975, len(logs) - 1) * logs.std(ddof=1) / np.sqrt(len(logs))
    return {
        "ratio": float(np.exp(mean)),
        "lo": float(np.exp(mean - half)),
        "hi": float(np.exp(mean + half)),
    }


def steps_in(sample) -> int:
    if isinstance(sample, list):  # new API stack: a list of episodes
        return sum(len(e) for e in sample)
    return sample.env_steps()  # old API stack: a SampleBatch / MultiAgentBatch


def forward_timer(module, batch_size: int = 16):
    """A function timing ``reps`` torch ``forward_exploration`` calls on one fixed batch of 16
    observations (one vector step), in microseconds per call."""
    import torch
    from ray.rllib.core.columns import Columns

    space = module.observation_space
    rng = np.random.default_rng(0)
    space.seed(0)
    obs = [space.sample() for _ in range(batch_size)]
    batch = {Columns.OBS: {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in obs[0]}}
    # A valid mask: random 0/1 rows with at least one valid action.
    mask = rng.integers(0, 2, size=batch[Columns.OBS]["action_mask"].shape)
    mask[:, 0] = 1
    batch[Columns.OBS]["action_mask"] = torch.as_tensor(mask, dtype=torch.float32)
    kwargs = {"t": 0} if "t" in module._forward_exploration.__code__.co_varnames else {}

    def time_us(reps: int) -> float:
        with torch.no_grad():
            start = time.perf_counter()
            for _ in range(reps):
                module.forward_exploration(batch, **kwargs)
        return (time.perf_counter() - start) / reps * 1e6

    time_us(50)  # warm-up
    return time_us


class Sampler:
    """One algorithm's env runner in this process: ``rate(steps)`` samples at least ``steps``
    env steps and returns env steps/s; it also counts the episodes that ended (resets cost more
    than steps; the old stack's samples do not say, so tf2 counts none)."""

    def __init__(self, cfg):
        from src.algos import build_algo_config

        config = build_algo_config(cfg)
        # Sample in this process for every algorithm (tf2 APPO/IMPALA train with a remote runner).
        config.env_runners(num_env_runners=0, create_env_on_local_worker=True)
        self.algo = config.build_algo()
        self.episodes_ended = self.episode_steps = 0
        self.rate(1)  # warm-up: first forward passes, env resets
        self.episodes_ended = self.episode_steps = 0  # count from the measured rounds only

    def rate(self, steps: int) -> float:
        done, start = 0, time.perf_counter()
        while done < steps:
            sample = self.algo.env_runner.sample()
            n = steps_in(sample)
            done += n
            if isinstance(sample, list):
                self.episodes_ended += sum(e.is_done for e in sample)
                self.episode_steps += n
        return done / (time.perf_counter() - start)

    def episodes_per_1k_steps(self) -> float | None:
        return 1000 * self.episodes_ended / self.episode_steps if self.episode_steps else None


def measure_algo(cfgs: dict[str, object], rounds: int, round_steps: int, torch_fw: bool) -> dict:
    """Interleaved rounds over one algorithm's models: model -> per-round measures."""
    samplers = {model: Sampler(cfg) for model, cfg in cfgs.items()}
    timers = (
        {m: forward_timer(s.algo.get_module()) for m, s in samplers.items()} if torch_fw else {}
    )
    out = {m: {"sample_rounds": [], "forward_rounds": []} for m in samplers}
    models = list(samplers)
    try:
        for r in range(rounds):
            order = models[r % len(models) :] + models[: r % len(models)]
            for model in order:
                out[model]["sample_rounds"].append(samplers[model].rate(round_steps))
                if model in timers:
                    out[model]["forward_rounds"].append(timers[model](500))
        for model, sampler in samplers.items():
            out[model]["episodes_per_1k_steps"] = sampler.episodes_per_1k_steps()
    finally:
        for sampler in samplers.values():
            sampler.algo.stop()
    return out


def op_timers(n: int, batch_size: int = 16):
    """Masking ops on (batch_size, n) logits: name -> a function timing ``reps`` calls (µs)."""
    import torch

    from src.models.torch.masking import FLOAT_MIN, mask_logits

    rng = np.random.default_rng(0)
    logits = torch.as_tensor(rng.normal(size=(batch_size, n)), dtype=torch.float32)
    mask_np = rng.integers(0, 2, size=(batch_size, n))
    mask_np[:, 0] = 1
    mask = torch.as_tensor(mask_np, dtype=torch.float32)
    ops = {  # the op maskbench uses, the forum's formulation, the other usual one
        "mask_logits": lambda: mask_logits(logits, mask),
        "log_clamp_add": lambda: logits + torch.clamp(torch.log(mask), min=FLOAT_MIN),
        "masked_fill": lambda: logits.masked_fill(mask == 0, FLOAT_MIN),
    }

    def timer(op):
        def time_us(reps: int) -> float:
            start = time.perf_counter()
            for _ in range(reps):
                op()
            return (time.perf_counter() - start) / reps * 1e6

        time_us(100)  # warm-up
        return time_us

    return {name: timer(op) for name, op in ops.items()}


def masking_costs(actions: list[int], rounds: int) -> None:
    """The ``masking`` mode: one JSON line per number of actions."""
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    from src.algos import build_algo_config
    from src.envs import make_env

    for n in actions:
        env_args = ["env=chess"] if n == 4672 else [f"env.max_avail_actions={n}"]
        timers = op_timers(n)
        with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
            for model in ("masked", "unmasked"):
                cfg = compose(
                    "config",
                    overrides=[f"model={model}", "env.invalid_action=penalty", *env_args],
                )
                env = make_env(OmegaConf.to_container(cfg.env, resolve=True))
                module = build_algo_config(cfg).get_rl_module_spec(env=env).build()
                timers[f"forward_{model}"] = forward_timer(module)
        measured: dict[str, list[float]] = {name: [] for name in timers}
        names = list(timers)
        for r in range(rounds):  # interleaved, the order rotating: noise hits all alike
            for name in names[r % len(names) :] + names[: r % len(names)]:
                reps = 300 if name.startswith("forward") else 2000
                measured[name].append(timers[name](reps))
        median = {name: float(np.median(v)) for name, v in measured.items()}
        print(
            json.dumps(
                {
                    "actions": n,
                    "env": env_args[0],
                    "us_per_call": median,
                    "forward_masked_over_unmasked": paired_ratio(
                        measured["forward_masked"], measured["forward_unmasked"]
                    ),
                    "mask_op_share_of_forward": median["mask_logits"] / median["forward_masked"],
                }
            ),
            flush=True,
        )


def main() -> None:
    if sys.argv[1:2] == ["masking"]:
        parser = argparse.ArgumentParser(description=__doc__)
        parser.add_argument("mode", choices=["masking"])
        parser.add_argument("--actions", nargs="*", type=int, default=[6, 600, 4672])
        parser.add_argument("--rounds", type=int, default=20)
        args = parser.parse_args()
        from src.frameworks import set_framework_env
        from src.options import register_configs

        set_framework_env(skip_tf=True)
        register_configs()
        import torch

        torch.set_num_threads(1)
        masking_costs(args.actions, args.rounds)
        return
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("framework", choices=["torch", "tf2"])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--round-steps", type=int, default=2_000, help="env steps per round")
    parser.add_argument(
        "--overrides",
        nargs="*",
        default=[],
        help="extra Hydra overrides, e.g. env.max_avail_actions=2 (every slot valid: masked and "
        "unmasked policies then behave alike, so only the masking computation differs)",
    )
    parser.add_argument("--algos", nargs="*", default=["ppo", "appo", "impala", "dqn"])
    parser.add_argument("--models", nargs="*", default=["masked", "unmasked", "embedding"])
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from src.frameworks import set_framework_env
    from src.options import register_configs

    set_framework_env(skip_tf=args.framework != "tf2")
    register_configs()
    import torch

    from src.ray_start import init_with_retry

    torch.set_num_threads(1)
    # The runs' ray.init, tried again after a start-up timeout on a busy machine.
    init_with_retry(SimpleNamespace(num_cpus=2))
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for algo in args.algos:
            cfgs = {
                model: compose(
                    "config",
                    overrides=[
                        f"algo={algo}",
                        f"model={model}",
                        f"framework={args.framework}",
                        "env.invalid_action=penalty",
                        "logger=none",
                        *args.overrides,
                    ],
                )
                for model in args.models
            }
            measured = measure_algo(
                cfgs, args.rounds, args.round_steps, torch_fw=args.framework == "torch"
            )
            for model, m in measured.items():
                row = {
                    "cell": f"{algo}/{model}/{args.framework}",
                    "sample_steps_per_s": float(np.median(m["sample_rounds"])),
                    **m,
                }
                if m["forward_rounds"]:
                    row["forward_us"] = float(np.median(m["forward_rounds"]))
                print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
