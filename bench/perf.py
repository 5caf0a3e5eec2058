"""Speed on the default env (N=6, layout=fixed), in one run, against sb3-contrib's MaskablePPO.

For each maskbench cell (algo x model x framework) and for MaskablePPO (rl-baselines3-zoo's
CartPole hyperparameters), each training run in its own process:

* env steps and seconds of training until the rolling mean return over the last 20 episodes
  first reaches 450 (the same window for every contender; start-up excluded, and reported
  separately as the whole command's wall time);
* sampling throughput, timed around RLlib's ``EnvRunner.sample`` (bench/sampling.py), and
  learning throughput (what is left of the training run's seconds per env step);
* the cost of one masked / unmasked forward pass (torch);
* peak RSS of the training process;
* and the raw env step rate with random valid actions: the ceiling for any of them.

    pip install -e '.[bench]'            # sb3-contrib
    python bench/perf.py                 # every cell -> its section of bench/RESULTS.md
    python bench/perf.py --cells ppo/masked/torch ppo/unmasked/torch --time-s 60 --out /tmp/perf.md
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from runs import ROOT, run_maskbench, run_process, write_section
from sampling import format_ratio, paired_ratio

sys.path.insert(0, str(ROOT))

TARGET, WINDOW = 450.0, 20
CAVEAT = (
    "Sampling steps/s is timed around `EnvRunner.sample` itself (bench/sampling.py, penalty env"
    " for every model; the median of interleaved rounds, an algorithm's models side by side in one"
    " process): RLlib's own `env_runners/sample` timer does not cover env stepping for APPO,"
    " IMPALA and DQN. 'forward µs' is one `forward_exploration` on a fixed batch of 16"
    " observations (torch; median over rounds): the whole cost a model adds per vector step."
    " Masked / unmasked ratios are geometric means of per-round paired ratios with 95% t-intervals."
)
CELLS = [
    f"{a}/{m}/{f}"
    for f in ("torch", "tf2")
    for a in ("ppo", "appo", "impala", "dqn")
    for m in ("masked", "unmasked", "embedding")
]


def raw_env_rate(steps: int = 50_000) -> float:
    from src.envs.parametric_cartpole import ParametricCartPole

    env = ParametricCartPole({"embeddings": True})
    env.reset(seed=0)
    start = time.perf_counter()
    for i in range(steps):
        _, _, term, trunc, _ = env.step(env.left_idx if i % 2 else env.right_idx)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - start)


def sampling_rates(cells: list[str], rounds: int, round_steps: int) -> dict[str, dict]:
    """bench/sampling.py once per framework (one process each): cell -> its measures."""
    out = {}
    for framework in sorted({c.split("/")[2] for c in cells}):
        algos = sorted({c.split("/")[0] for c in cells if c.endswith(framework)})
        models = sorted({c.split("/")[1] for c in cells if c.endswith(framework)})
        cmd = [
            sys.executable,
            str(ROOT / "bench" / "sampling.py"),
            framework,
            "--rounds",
            str(rounds),
            "--round-steps",
            str(round_steps),
        ]
        proc = subprocess.run(
            [*cmd, "--algos", *algos, "--models", *models], cwd=ROOT, capture_output=True, text=True
        )
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                row = json.loads(line)
                out[row.pop("cell")] = row
    return out


def maskbench_cell(cell: str, time_s: float, extra: list[str]) -> dict:
    algo, model, framework = cell.split("/")
    mode = "penalty" if model == "unmasked" else "raise"
    measured, summary, rows = run_maskbench(
        [
            f"algo={algo}",
            f"model={model}",
            f"framework={framework}",
            f"env.invalid_action={mode}",
            f"stop.target_return={TARGET}",
            f"metrics.return_window={WINDOW}",
            f"stop.time_s={time_s}",
            *extra,
        ]
    )
    if summary is None:
        return {"error": measured.tail[-400:]}
    sampled = np.diff([0] + [r["env_steps"] for r in rows])
    iter_s = np.diff([0.0] + [r["wall_time_s"] for r in rows])
    return {
        "solved": summary["solved"],
        "env_steps": summary["env_steps_to_target"],
        "train_s": summary["time_to_target_s"],
        "process_s": measured.wall_s,
        "rss_mib": measured.peak_rss_mib,
        "steps_per_s": sampled.sum() / iter_s.sum(),
        "final_return": summary["final_return_mean"],
        "invalid_actions": summary["invalid_actions_total"],
    }


MASKABLE_PPO = r"""
import json, sys, time
from collections import deque
import numpy as np, gymnasium as gym
from sb3_contrib import MaskablePPO
from sb3_contrib.common.wrappers import ActionMasker
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_vec_env
sys.path.insert(0, sys.argv[1])
from src.envs.parametric_cartpole import ParametricCartPole

TARGET, WINDOW, TIME_S = float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])

def make():
    env = ParametricCartPole({"embeddings": False, "invalid_action": "raise"})
    env = gym.wrappers.TransformObservation(env, lambda o: o["observations"], env.observation_space["observations"])
    return ActionMasker(env, lambda e: e.unwrapped.action_mask().astype(bool))

class Stop(BaseCallback):
    def __init__(self):
        super().__init__(); self.returns = deque(maxlen=WINDOW); self.start = time.perf_counter(); self.hit = None
    def _on_step(self):
        for info in self.locals["infos"]:
            if "episode" in info:
                self.returns.append(info["episode"]["r"])
        if len(self.returns) == WINDOW and np.mean(self.returns) >= TARGET:
            self.hit = (self.num_timesteps, time.perf_counter() - self.start); return False
        return time.perf_counter() - self.start < TIME_S

lin = lambda v: (lambda progress: progress * v)
# rl-baselines3-zoo's CartPole-v1 PPO hyperparameters.
model = MaskablePPO("MlpPolicy", make_vec_env(make, n_envs=8, seed=0), n_steps=32, batch_size=256,
                    gae_lambda=0.8, gamma=0.98, n_epochs=20, ent_coef=0.0, learning_rate=lin(1e-3),
                    clip_range=lin(0.2), seed=0, device="cpu", verbose=0)
cb = Stop()
model.learn(total_timesteps=1_000_000, callback=cb)
print(json.dumps({"solved": cb.hit is not None, "env_steps": cb.hit and cb.hit[0], "train_s": cb.hit and cb.hit[1],
                  "final_return": float(np.mean(cb.returns)) if cb.returns else None}))
"""


def maskable_ppo(time_s: float) -> dict:
    cmd = [sys.executable, "-c", MASKABLE_PPO, str(ROOT), str(TARGET), str(WINDOW), str(time_s)]
    measured = run_process(cmd)
    if measured.status != 0:
        return {"error": measured.tail[-400:]}
    return {
        **json.loads(measured.tail.strip().splitlines()[-1]),
        "process_s": measured.wall_s,
        "rss_mib": measured.peak_rss_mib,
        "invalid_actions": 0,
    }


def fmt(v, spec="{:,.0f}"):
    return "–" if v is None else spec.format(v)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cells", nargs="*", default=CELLS, choices=CELLS)
    parser.add_argument(
        "--time-s", type=float, default=120.0, help="training-time cap per contender"
    )
    parser.add_argument("--sample-rounds", type=int, default=10)
    parser.add_argument("--sample-round-steps", type=int, default=2_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RESULTS.md")
    args = parser.parse_args()

    print("raw env step rate ...")
    raw = raw_env_rate()
    results = {}
    print("MaskablePPO (sb3-contrib)")
    results["MaskablePPO (sb3-contrib)"] = maskable_ppo(args.time_s)
    print("sampling throughput (bench/sampling.py) ...")
    rates = sampling_rates(args.cells, args.sample_rounds, args.sample_round_steps)
    for cell in args.cells:
        print(cell)
        results[cell] = {**maskbench_cell(cell, args.time_s, []), **rates.get(cell, {})}
        r = results[cell]
        if r.get("sample_steps_per_s") and r.get("steps_per_s"):
            # Seconds per env step = sampling + learning: learning's share is what is left.
            learn_s = 1 / r["steps_per_s"] - 1 / r["sample_steps_per_s"]
            r["learn_steps_per_s"] = 1 / learn_s if learn_s > 0 else None

    lines = [
        "| contender | reached 450 | env steps to 450 | train s to 450 | process s | sample steps/s | learn steps/s | overall steps/s | forward µs | peak RSS MiB | invalid actions |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        if "error" in r:
            lines.append(f"| {name} | error: {r['error'][-200:]!r} ||||||||||")
            continue
        lines.append(
            f"| {name} | {'yes' if r['solved'] else 'no'} | {fmt(r['env_steps'])} | {fmt(r['train_s'], '{:.1f}')} "
            f"| {fmt(r['process_s'], '{:.1f}')} | {fmt(r.get('sample_steps_per_s'))} | {fmt(r.get('learn_steps_per_s'))} "
            f"| {fmt(r.get('steps_per_s'))} | {fmt(r.get('forward_us'))} | {r['rss_mib']} | {r['invalid_actions']:,} |"
        )
    ratios = []
    mppo, ppo = results.get("MaskablePPO (sb3-contrib)", {}), results.get("ppo/masked/torch", {})
    if mppo.get("train_s") and ppo.get("train_s"):
        ratios.append(
            f"- masked PPO / MaskablePPO, train seconds to 450: {ppo['train_s'] / mppo['train_s']:.2f} "
            f"(target <= 1.00); process seconds: {ppo['process_s'] / mppo['process_s']:.2f}"
        )
    for framework in ("torch", "tf2"):
        for algo in ("ppo", "appo", "impala", "dqn"):
            m = results.get(f"{algo}/masked/{framework}", {})
            u = results.get(f"{algo}/unmasked/{framework}", {})
            if m.get("sample_rounds") and u.get("sample_rounds"):
                line = f"- {algo}/{framework}: masked / unmasked sampling steps/s " + format_ratio(
                    paired_ratio(m["sample_rounds"], u["sample_rounds"])
                )
                if m.get("forward_rounds") and u.get("forward_rounds"):
                    line += "; forward µs masked / unmasked " + format_ratio(
                        paired_ratio(m["forward_rounds"], u["forward_rounds"])
                    )
                ratios.append(line + " (target: sampling within 5%)")
    command = (
        "python bench/perf.py"
        + ("" if args.cells == CELLS else " --cells " + " ".join(args.cells))
        + ("" if args.time_s == 120 else f" --time-s {args.time_s:g}")
    )
    text = (
        "## Speed against MaskablePPO (`bench/perf.py`)\n\n"
        f"Made by `{command}` on {time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores, one contender at a time.\n"
        f"Solved = the rolling mean return over the last {WINDOW} episodes reaches {TARGET:g} (capped at "
        f"{args.time_s:g} s of training). Raw env step rate (random valid actions, one env): {raw:,.0f} steps/s.\n"
        "'learn steps/s' = env steps per second of everything in an iteration but sampling.\n"
        f"{CAVEAT}\n\n" + "\n".join(lines) + "\n\n" + "\n".join(ratios) + "\n"
    )
    write_section(args.out, "perf.py", text)
    print(text)


if __name__ == "__main__":
    main()
