"""Does RLlib 2.60's DQN learn CartPole with n-step returns and vectorised envs?

A minimal reproduction, without maskbench's env, models or replay: RLlib's own DQN, its default
RLModule and its PrioritizedEpisodeReplayBuffer on plain ``CartPole-v1``, with RLlib's tuned
CartPole settings (lr 5e-4, batch 32, dueling, double-Q, [256] hidden layers), varying only
``n_step`` and the number of envs per env runner. Prints the rolling return every few
iterations and a final table.

    python bench/dqn_nstep.py                         # n_step 1 and 3, 1 and 16 envs, 40k steps
    python bench/dqn_nstep.py --n-step 3 --envs 16 --env-steps 60000 --seeds 0 1
"""

from __future__ import annotations

import argparse
import itertools
import time


def run(n_step: int, num_envs: int, env_steps: int, seed: int) -> dict:
    from ray.rllib.algorithms.dqn import DQNConfig
    from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig

    config = (
        DQNConfig()
        .environment("CartPole-v1")
        .env_runners(num_env_runners=0, num_envs_per_env_runner=num_envs)
        .training(
            lr=5e-4,
            train_batch_size_per_learner=32,
            replay_buffer_config={
                "type": "PrioritizedEpisodeReplayBuffer",
                "capacity": 50_000,
                "alpha": 0.6,
                "beta": 0.4,
            },
            n_step=n_step,
            double_q=True,
            dueling=True,
            epsilon=[(0, 1.0), (10_000, 0.02)],
        )
        .rl_module(
            model_config=DefaultModelConfig(
                fcnet_hiddens=[256],
                fcnet_activation="tanh",
                head_fcnet_hiddens=[256],
            )
        )
        .reporting(metrics_num_episodes_for_smoothing=100)
        .debugging(seed=seed)
    )
    algo = config.build_algo()
    start, steps, best, curve = time.perf_counter(), 0, float("-inf"), []
    try:
        while steps < env_steps:
            result = algo.train()
            runners = result["env_runners"]
            steps = int(runners["num_env_steps_sampled_lifetime"])
            ret = float(runners.get("episode_return_mean", float("nan")))
            best = max(best, ret) if ret == ret else best
            curve.append((steps, ret))
            if len(curve) % 10 == 0:
                print(
                    f"  n_step={n_step} envs={num_envs} seed={seed}: {steps:>7} steps, return {ret:6.1f}"
                )
    finally:
        algo.stop()
    return {
        "n_step": n_step,
        "envs": num_envs,
        "seed": seed,
        "env_steps": steps,
        "final_return": curve[-1][1],
        "best_return": best,
        "seconds": round(time.perf_counter() - start),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n-step", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--envs", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--env-steps", type=int, default=40_000)
    args = parser.parse_args()

    import ray

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    rows = [
        run(n, e, args.env_steps, s)
        for n, e, s in itertools.product(args.n_step, args.envs, args.seeds)
    ]
    print("\n| n_step | envs | seed | env steps | final return | best return | seconds |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n_step']} | {r['envs']} | {r['seed']} | {r['env_steps']:,} | "
            f"{r['final_return']:.1f} | {r['best_return']:.1f} | {r['seconds']} |"
        )


if __name__ == "__main__":
    main()
