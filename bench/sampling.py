"""Sampling throughput of RLlib's env runner per (algo, model) for one framework, measured directly.

RLlib's ``env_runners/sample`` timer does not cover env stepping for APPO, IMPALA and DQN (it
reports rates above the raw env's), so this script times ``EnvRunner.sample`` itself: the env
steps, the connectors and the module's forward pass, everything masking could slow down. Every
model runs the same penalty env, so masked and unmasked differ only in the model.

    python bench/sampling.py torch [--steps 20000]   # prints one JSON line per cell
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def steps_in(sample) -> int:
    if isinstance(sample, list):  # new API stack: a list of episodes
        return sum(len(e) for e in sample)
    return sample.env_steps()  # old API stack: a SampleBatch / MultiAgentBatch


def forward_us(module, batch_size: int = 16, reps: int = 2000) -> float:
    """Microseconds per ``forward_exploration`` on a batch of 16 observations (one vector step)."""
    import numpy as np
    import torch
    from ray.rllib.core.columns import Columns

    space = module.observation_space
    obs = [space.sample() for _ in range(batch_size)]
    batch = {Columns.OBS: {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in obs[0]}}
    batch[Columns.OBS]["action_mask"] = torch.ones_like(batch[Columns.OBS]["action_mask"])
    kwargs = {"t": 0} if "t" in module._forward_exploration.__code__.co_varnames else {}
    with torch.no_grad():
        for _ in range(50):
            module.forward_exploration(batch, **kwargs)
        start = time.perf_counter()
        for _ in range(reps):
            module.forward_exploration(batch, **kwargs)
    return (time.perf_counter() - start) / reps * 1e6


def sampling_rate(cfg, steps: int) -> dict:
    from src.algos import build_algo_config

    config = build_algo_config(cfg)
    # Sample in this process for every algorithm (tf2 APPO/IMPALA train with a remote runner).
    config.env_runners(num_env_runners=0, create_env_on_local_worker=True)
    algo = config.build_algo()
    try:
        runner = algo.env_runner
        steps_in(runner.sample())  # warm-up: first forward passes, env resets
        done, start = 0, time.perf_counter()
        while done < steps:
            done += steps_in(runner.sample())
        out = {"sample_steps_per_s": done / (time.perf_counter() - start)}
        if cfg.framework.name == "torch":
            out["forward_us"] = forward_us(algo.get_module())
        return out
    finally:
        algo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("framework", choices=["torch", "tf2"])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--algos", nargs="*", default=["ppo", "appo", "impala", "dqn"])
    parser.add_argument("--models", nargs="*", default=["masked", "unmasked", "embedding"])
    args = parser.parse_args()

    from hydra import compose, initialize_config_dir

    from src.config import register_configs
    from src.frameworks import set_framework_env

    set_framework_env(skip_tf=args.framework != "tf2")
    register_configs()
    import ray
    import torch

    torch.set_num_threads(1)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        for algo in args.algos:
            for model in args.models:
                cfg = compose(
                    "config",
                    overrides=[
                        f"algo={algo}",
                        f"model={model}",
                        f"framework={args.framework}",
                        "env.invalid_action=penalty",
                        "logger=none",
                    ],
                )
                cell = f"{algo}/{model}/{args.framework}"
                print(json.dumps({"cell": cell, **sampling_rate(cfg, args.steps)}), flush=True)


if __name__ == "__main__":
    main()
