"""Masking beyond PPO: DQN's Q-values, epsilon draws and TD target; APPO/IMPALA's learner side.

Modules are built exactly as the runs build them: from the composed config, through
``build_algo_config(cfg).get_rl_module_spec()``, so RLlib's per-algorithm model-config
additions (e.g. DQN's epsilon schedule) are included.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from ray.rllib.algorithms.appo.default_appo_rl_module import TARGET_NETWORK_ACTION_DIST_INPUTS
from ray.rllib.algorithms.dqn.default_dqn_rl_module import (
    QF_NEXT_PREDS,
    QF_PREDS,
    QF_TARGET_NEXT_PREDS,
)
from ray.rllib.core.columns import Columns

from src.algos import build_algo_config
from src.envs import make_env
from src.errors import ConfigError
from src.models.torch.actor_critic import APPOActionHeadModule, PPOActionHeadModule
from src.models.torch.dqn import DQNActionHeadModule
from src.models.torch.masking import FLOAT_MIN
from tests.conftest import compose_cfg

N = 6


def build(algo: str, *overrides: str, inference_only: bool = False):
    cfg = compose_cfg([f"algo={algo}", *overrides])
    env = make_env(OmegaConf.to_container(cfg.env, resolve=True))
    spec = build_algo_config(cfg).get_rl_module_spec(env=env)
    spec.inference_only = inference_only
    return spec.build(), env


def obs_batch(env, masks: torch.Tensor, seed: int = 0) -> dict[str, torch.Tensor]:
    env.reset(seed=seed)
    rows = [env.observation_space.sample() for _ in range(len(masks))]
    obs = {k: torch.as_tensor(np.stack([r[k] for r in rows])) for k in rows[0]}
    obs["action_mask"] = masks
    return obs


def masks_with_valid(*valid: int, rows: int = 1) -> torch.Tensor:
    m = torch.zeros(rows, N)
    m[:, list(valid)] = 1.0
    return m


def rig_q_values(module, q: list[float]) -> None:
    """Make every Q-network output the given Q-values, whatever the observation."""
    for head in (module.af, module._target_af) if hasattr(module, "_target_af") else (module.af,):
        last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            last.weight.zero_()
            last.bias.copy_(torch.tensor(q))


@pytest.mark.parametrize(
    "algo,cls",
    [
        ("ppo", PPOActionHeadModule),
        ("impala", PPOActionHeadModule),
        ("appo", APPOActionHeadModule),
        ("dqn", DQNActionHeadModule),
    ],
)
def test_each_algo_runs_with_our_module(algo, cls):
    module, _ = build(algo)
    assert type(module) is cls


@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("dueling", [True, False])
def test_dqn_td_target_uses_the_best_valid_next_action(double_q, dueling):
    module, env = build("dqn", f"algo.double_q={double_q}", f"algo.dueling={dueling}")
    module.make_target_networks()
    q = [1.0, 2.0, 3.0, 9.0, 0.5, 8.0]  # slots 3 and 5 have the highest Q ...
    rig_q_values(module, q)
    if dueling:  # and a constant value stream, so Q = A - mean(A) + V keeps the order
        for head in (module.vf, module._target_vf):
            last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
            with torch.no_grad():
                last.weight.zero_()
    batch = {
        Columns.OBS: obs_batch(env, masks_with_valid(0, 3, 5, rows=4)),
        Columns.NEXT_OBS: obs_batch(
            env, masks_with_valid(1, 2, rows=4), seed=1
        ),  # ... invalid next
        Columns.ACTIONS: torch.tensor([3, 3, 5, 0]),
    }
    out = module.forward_train(batch)
    target_q = out[QF_TARGET_NEXT_PREDS]
    # What DQNTorchLearner does: argmax of the online next Q (double-Q) or of the target Q.
    chooser = out[QF_NEXT_PREDS] if double_q else target_q
    best = chooser.argmax(-1)
    assert (best == 2).all()  # the best *valid* next action, not slot 3
    chosen = target_q.gather(1, best[:, None]).squeeze(1)
    assert torch.isfinite(chosen).all() and (chosen > FLOAT_MIN / 2).all()
    torch.testing.assert_close(chosen, target_q[:, 2])
    assert (target_q[:, [0, 3, 4, 5]] <= FLOAT_MIN / 2).all()
    # The online Q of the current state is masked with the current mask.
    assert out[QF_PREDS].argmax(-1).eq(3).all()


def test_dqn_greedy_action_is_the_best_valid_one():
    module, env = build("dqn", inference_only=True)
    rig_q_values(module, [1.0, 2.0, 3.0, 9.0, 0.5, 8.0])
    batch = {Columns.OBS: obs_batch(env, masks_with_valid(0, 1, 4, rows=50))}
    assert module.forward_inference(batch)[Columns.ACTIONS].eq(1).all()


@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_dqn_epsilon_one_exploration_never_picks_an_invalid_action(model):
    module, env = build(
        "dqn", f"model={model}", "algo.epsilon=[[0,1.0],[1,1.0]]", inference_only=True
    )
    masks = torch.zeros(5000, N)
    masks[torch.arange(5000), torch.arange(5000) % N] = 1.0
    masks[torch.arange(5000), (torch.arange(5000) + 2) % N] = 1.0
    batch = {Columns.OBS: obs_batch(env, masks)}
    actions = module.forward_exploration(batch, t=100)[Columns.ACTIONS]
    assert masks.gather(1, actions[:, None]).min() == 1.0
    # epsilon = 1 really explores: both valid slots of each row are drawn, not just the greedy one.
    first = actions == torch.arange(5000) % N
    assert 0.4 < first.float().mean() < 0.6


def test_dqn_unmasked_exploration_reaches_invalid_actions():
    module, env = build(
        "dqn",
        "model=unmasked",
        "env.invalid_action=penalty",
        "algo.epsilon=[[0,1.0],[1,1.0]]",
        inference_only=True,
    )
    batch = {Columns.OBS: obs_batch(env, masks_with_valid(0, 1, rows=2000))}
    actions = module.forward_exploration(batch, t=100)[Columns.ACTIONS]
    assert set(actions.tolist()) == set(range(N))


def test_dqn_embedding_q_values_are_dot_products():
    module, env = build(
        "dqn", "model=embedding", "model.apply_mask=false", "env.invalid_action=penalty"
    )
    obs = obs_batch(env, masks_with_valid(0, 1, rows=8))
    q = module.compute_q_values({Columns.OBS: obs})[QF_PREDS]
    intent = module.af(module.encoder({Columns.OBS: obs["observations"]})["encoder_out"])
    torch.testing.assert_close(q, torch.einsum("be,bne->bn", intent, obs["avail_actions"]))


@pytest.mark.parametrize(
    "overrides,fix",
    [
        (["model=embedding", "algo.dueling=true"], "algo.dueling=false"),
        (["algo.num_atoms=51"], "algo.num_atoms=1"),
    ],
)
def test_dqn_unsupported_heads_name_the_fix(overrides, fix):
    with pytest.raises(ConfigError, match=fix):
        build("dqn", *overrides)


@pytest.mark.parametrize("algo", ["appo", "impala"])
@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_learner_side_logits_are_masked(algo, model):
    module, env = build(algo, f"model={model}")
    masks = masks_with_valid(1, 4, rows=32)
    batch = {Columns.OBS: obs_batch(env, masks)}
    outs = {
        "train": module.forward_train(batch)[Columns.ACTION_DIST_INPUTS],
        "behaviour": module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS],
    }
    if algo == "appo":  # V-trace's target policy
        module.make_target_networks()
        outs["target"] = module.forward_target(batch)[TARGET_NETWORK_ACTION_DIST_INPUTS]
    for name, logits in outs.items():
        assert (logits[:, [0, 2, 3, 5]] <= FLOAT_MIN / 2).all(), name
        assert torch.isfinite(logits).all() and (logits[:, [1, 4]] > FLOAT_MIN / 2).all(), name
    assert isinstance(batch[Columns.OBS], dict)  # no forward pass mutated the batch
