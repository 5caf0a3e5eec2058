"""Discrete SAC, masked as a maximum-entropy method must be (src/models/torch/sac.py).

Crafted batches, as DQN's TD-target test: the heads are rigged to output known logits and
Q-values, and each test checks one expectation of the loss against a hand computation, with an
invalid action that would change the answer if the sum ran over it. The module and the learner
are built exactly as a run builds them (``build_algo_config(cfg)``).
"""

from __future__ import annotations

import math

import pytest
import torch
from omegaconf import OmegaConf
from ray.rllib.algorithms.sac.sac_learner import (
    ACTION_LOG_PROBS,
    ACTION_PROBS,
    ACTION_PROBS_NEXT,
    QF_PREDS,
    QF_TARGET_NEXT,
    QF_TWIN_PREDS,
)
from ray.rllib.core import DEFAULT_MODULE_ID
from ray.rllib.core.columns import Columns

from src.algos import build_algo_config
from src.envs import make_env
from src.errors import ConfigError
from src.models.torch.masking import FLOAT_MIN
from src.models.torch.sac import (
    VALID,
    VALID_NEXT,
    SACActionHeadModule,
    entropy,
    soft_value,
    target_entropy,
)
from tests.conftest import check_run, compose_cfg
from tests.test_models_algos import masks_with_valid, obs_batch

# slot 3 is the policy's favourite and the critics' best: both invalid in the crafted states.
PI_LOGITS = [0.0, 1.0, 0.5, 9.0, -1.0, 2.0]
Q_VALUES = [1.0, 2.0, 3.0, 50.0, 0.5, 8.0]


def build_learner(*overrides: str):
    cfg = compose_cfg(["algo=sac", *overrides])
    env = make_env(OmegaConf.to_container(cfg.env, resolve=True))
    learner = build_algo_config(cfg).build_learner(env=env)
    return learner, learner.module[DEFAULT_MODULE_ID], env


def rig(head: torch.nn.Module, values: list[float]) -> None:
    """Make a head output ``values`` whatever its input."""
    last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        last.weight.zero_()
        last.bias.copy_(torch.tensor(values))


def rig_all(module) -> None:
    rig(module.pi, PI_LOGITS)
    for head in (module.qf, module.qf_twin, module.target_qf, module.target_qf_twin):
        rig(head, Q_VALUES)


def crafted_batch(env, rows: int = 4) -> dict:
    return {
        Columns.OBS: obs_batch(env, masks_with_valid(0, 1, 5, rows=rows)),
        Columns.NEXT_OBS: obs_batch(env, masks_with_valid(1, 2, rows=rows), seed=1),
        Columns.ACTIONS: torch.tensor([0, 1, 5, 1][:rows]),
        Columns.REWARDS: torch.ones(rows),
        Columns.TERMINATEDS: torch.zeros(rows, dtype=torch.bool),
        "weights": torch.ones(rows),
        "n_step": torch.ones(rows),
    }


def softmax_over(logits: list[float], valid: list[int]) -> dict[int, float]:
    z = sum(math.exp(logits[a]) for a in valid)
    return {a: math.exp(logits[a]) / z for a in valid}


def test_sac_runs_with_our_module():
    _, module, _ = build_learner()
    assert type(module) is SACActionHeadModule


@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_policy_is_a_distribution_over_valid_actions_only(model):
    _, module, env = build_learner(f"model={model}")
    if model == "masked":
        rig_all(module)
    batch = crafted_batch(env)
    out = module.forward_train(batch)
    for probs, logp, valid in (
        (out[ACTION_PROBS], out[ACTION_LOG_PROBS], [0, 1, 5]),
        (out[ACTION_PROBS_NEXT], out["action_log_probs_next"], [1, 2]),
    ):
        invalid = [a for a in range(6) if a not in valid]
        assert (probs[:, invalid] == 0).all()
        torch.testing.assert_close(probs.sum(-1), torch.ones(len(probs)))
        # Finite everywhere: RLlib's softmax(...).log() gives -inf here, and 0 * -inf = NaN.
        assert torch.isfinite(logp).all()
        torch.testing.assert_close(probs[:, valid].log(), logp[:, valid])
    # Acting samples from the same masked distribution.
    acting = module.forward_exploration({Columns.OBS: batch[Columns.OBS]})
    logits = acting[Columns.ACTION_DIST_INPUTS]
    assert (logits[:, [2, 3, 4]] <= FLOAT_MIN / 2).all() and torch.isfinite(logits).all()


def test_next_state_soft_value_sums_over_valid_actions_only():
    _, module, env = build_learner()
    rig_all(module)
    out = module.forward_train(crafted_batch(env))
    alpha = 0.3
    v = soft_value(
        out[ACTION_PROBS_NEXT],
        out["action_log_probs_next"],
        out[QF_TARGET_NEXT],
        out[VALID_NEXT],
        alpha,
    )
    pi = softmax_over(PI_LOGITS, [1, 2])  # slot 3 (Q = 50, logit 9) is invalid at s'
    expected = sum(p * (Q_VALUES[a] - alpha * math.log(p)) for a, p in pi.items())
    torch.testing.assert_close(v, torch.full_like(v, expected))


def test_actor_loss_ignores_the_q_values_of_invalid_actions():
    """A huge Q on an invalid action must not move the policy: its probability is 0."""
    learner, module, env = build_learner()
    rig_all(module)
    batch = crafted_batch(env)
    losses = []
    for q_invalid in (50.0, 1e6):
        q = list(Q_VALUES)
        q[3] = q_invalid
        for head in (module.qf, module.qf_twin):
            rig(head, q)
        fwd = module.forward_train(batch)
        loss = learner.compute_loss_for_module(
            module_id=DEFAULT_MODULE_ID, config=learner.config, batch=batch, fwd_out=fwd
        )
        assert torch.isfinite(loss)
        losses.append(learner._temp_losses.pop((DEFAULT_MODULE_ID, "policy_loss")).item())
        learner._temp_losses.clear()
    assert losses[0] == pytest.approx(losses[1])


def test_entropy_and_its_target_count_valid_actions():
    valid = torch.tensor([[1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    torch.testing.assert_close(
        target_entropy(valid, 0.5), torch.tensor([0.5 * math.log(2), 0.5 * math.log(5)])
    )
    uniform = valid.float() / valid.sum(-1, keepdim=True)
    logp = torch.where(valid, uniform.log(), 0.0)
    torch.testing.assert_close(entropy(uniform, logp, valid), torch.log(valid.sum(-1).float()))


@pytest.mark.parametrize(
    "logits,alpha_rises", [([3 * x for x in PI_LOGITS], True), ([0.0] * 6, False)]
)
def test_temperature_moves_towards_the_valid_action_target(logits, alpha_rises):
    """Entropy over the 3 valid actions {0, 1, 5} against 0.9 * log(3) = 0.99: a sharp policy
    (entropy 0.21) is below it, so alpha must rise; the uniform one (log 3 = 1.10) is above it,
    so alpha must fall. Against log(6), the whole action space, both would be below."""
    learner, module, env = build_learner("algo.target_entropy_ratio=0.9")
    rig_all(module)
    rig(module.pi, logits)
    batch = crafted_batch(env)
    fwd = module.forward_train(batch)
    learner.compute_loss_for_module(
        module_id=DEFAULT_MODULE_ID, config=learner.config, batch=batch, fwd_out=fwd
    )
    alpha_loss = learner._temp_losses.pop((DEFAULT_MODULE_ID, "alpha_loss"))
    learner._temp_losses.clear()
    (grad,) = torch.autograd.grad(alpha_loss, learner.curr_log_alpha[DEFAULT_MODULE_ID])
    assert (grad.item() < 0) == alpha_rises  # gradient descent: a negative gradient raises alpha


def test_embedding_critics_score_actions_by_dot_products():
    _, module, env = build_learner(
        "model=embedding", "model.apply_mask=false", "env.invalid_action=penalty"
    )
    module.make_target_networks()
    obs = obs_batch(env, masks_with_valid(0, 1, rows=8))
    out = module.forward_train(
        {**crafted_batch(env, rows=8), Columns.OBS: obs, Columns.NEXT_OBS: obs}
    )
    features = {Columns.OBS: obs["observations"]}
    for key, encoder, head in (
        (QF_PREDS, module.qf_encoder, module.qf),
        (QF_TWIN_PREDS, module.qf_twin_encoder, module.qf_twin),
    ):
        intent = head(encoder(features)["encoder_out"])
        torch.testing.assert_close(
            out[key], torch.einsum("be,bne->bn", intent, obs["avail_actions"])
        )
    # apply_mask=false: the loss's sums run over every action.
    assert out[VALID].all()


def test_unmasked_sac_spreads_over_all_actions():
    _, module, env = build_learner("model=unmasked", "env.invalid_action=penalty")
    out = module.forward_train(crafted_batch(env))
    assert out[VALID].all() and (out[ACTION_PROBS] > 0).all()


def test_naive_masked_sac_acts_masked_but_its_loss_sums_over_every_action():
    _, module, env = build_learner("model=naive_masked")
    batch = crafted_batch(env)
    out = module.forward_train(batch)
    assert out[VALID].all() and (out[ACTION_PROBS] > 0).all()
    acting = module.forward_exploration({Columns.OBS: batch[Columns.OBS]})
    assert (acting[Columns.ACTION_DIST_INPUTS][:, [2, 3, 4]] <= FLOAT_MIN / 2).all()


@pytest.mark.parametrize(
    "overrides,fix",
    [
        (["framework=tf2"], "framework=torch"),
        (["model=embedding", "model.embeddings_source=learned"], "embeddings_source=env"),
        (["algo.target_entropy_ratio=1.5"], r"\[0, 1\]"),
        (["algo.replay=transitions", "algo.n_step=3"], "algo.replay=episodes"),
        (["algo.lr_final=1e-5"], "actor_lr.*lr_final"),
    ],
)
def test_unsupported_sac_settings_name_the_fix(overrides, fix):
    with pytest.raises(ConfigError, match=fix):
        check_run(compose_cfg(["algo=sac", *overrides]))


@pytest.mark.parametrize("algo", ["sac", "dqn"])
def test_replay_based_iterations_end_on_env_steps_not_on_a_clock(algo):
    """RLlib's SAC ends an iteration after 1 s: stops, thresholds and evaluations would then be
    checked at machine-dependent env steps, and the same seed would not repeat row for row."""
    config = build_algo_config(compose_cfg([f"algo={algo}"]))
    assert not config.min_time_s_per_iteration
    assert config.min_sample_timesteps_per_iteration == 1000
