"""Diagnostics: P(invalid | s) and KL(masked || unmasked) on hand-made logits, their per-iteration
aggregation, the "masking removed" evaluation, and the naive_masked ablation."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns

from src.callbacks import EPISODE_DIAG_STEPS, EPISODE_KL, EPISODE_P_INVALID
from src.diagnostics import evaluate
from src.envs import make_env
from src.errors import ConfigError
from src.metrics import P_INVALID_OUTPUT
from src.models.torch.masking import invalid_mass, mask_logits
from src.train import diagnostics
from tests.conftest import check_run, compose_cfg
from tests.test_models_torch import batch_from, build


def test_p_invalid_and_kl_on_hand_made_logits():
    logits = torch.tensor([[0.0, 0.0, math.log(2.0)], [5.0, 1.0, 1.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]])
    p = invalid_mass(logits, mask)
    # softmax(row 0) = (1/4, 1/4, 1/2): the invalid slot holds 1/4; row 1 has no invalid slot.
    torch.testing.assert_close(p, torch.tensor([0.25, 0.0]))
    # KL(masked || unmasked) from its definition equals -log(1 - P(invalid)).
    masked = torch.softmax(mask_logits(logits, mask), -1)
    unmasked = torch.softmax(logits, -1)
    kl = (masked * (masked.clamp_min(1e-30).log() - unmasked.log())).sum(-1)
    torch.testing.assert_close(kl, -torch.log1p(-p))
    assert kl[0].item() == pytest.approx(math.log(4 / 3))


def test_iteration_means_weight_every_step_equally():
    # two episodes: 3 steps summing P to 0.9, 1 step with P = 0.5 -> (0.9 + 0.5) / 4 steps
    runners = {EPISODE_P_INVALID: [0.9, 0.5], EPISODE_KL: [1.2, 0.4], EPISODE_DIAG_STEPS: [3, 1]}
    row = diagnostics(runners)
    assert row["diagnostics/p_invalid"] == pytest.approx(0.35)
    assert row["diagnostics/kl_masked_unmasked"] == pytest.approx(0.4)
    assert diagnostics({}) == {}  # DQN and tf2 runs log no diagnostics


@pytest.mark.parametrize("model", ["masked", "unmasked", "embedding"])
def test_modules_report_the_mass_their_raw_logits_put_on_invalid_actions(model):
    module, env = build(model)
    batch = batch_from(env, 64)
    out = module.forward_exploration(batch)
    obs = batch[Columns.OBS]
    inner = module.split_obs(batch)[0]
    head = DefaultPPOTorchRLModule._forward(module, inner)[Columns.ACTION_DIST_INPUTS]
    expected = invalid_mass(module.raw_logits(head, obs), obs["action_mask"])
    torch.testing.assert_close(out[P_INVALID_OUTPUT], expected)
    assert 0.0 < float(out[P_INVALID_OUTPUT].mean()) < 1.0  # an untrained network spreads its mass


def test_naive_masked_acts_masked_but_its_loss_sees_unmasked_logits():
    module, env = build("naive_masked")
    masked, _ = build("masked")
    masked.load_state_dict(module.state_dict())
    batch = batch_from(env, 32)
    mask = batch[Columns.OBS]["action_mask"]
    acting = module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    torch.testing.assert_close(
        acting, masked.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    )
    loss_side = module.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    assert torch.isfinite(loss_side).all() and (loss_side[mask == 0] > -1e3).all()
    torch.testing.assert_close(mask_logits(loss_side, mask), acting)


def test_naive_masked_is_refused_where_it_has_no_meaning():
    with pytest.raises(ConfigError, match="algo=ppo, appo, impala or sac"):
        check_run(compose_cfg(["model=naive_masked", "algo=dqn"]))
    with pytest.raises(ConfigError, match="framework=torch"):
        check_run(compose_cfg(["model=naive_masked", "framework=tf2"]))
    check_run(compose_cfg(["model=naive_masked", "algo=appo"]))


class _PrefersSlot:
    """A stand-in module whose raw logits always prefer one slot; masking works as in ours."""

    def __init__(self, slot: int, n: int = 6):
        self.head_spec = type("Spec", (), {"mask_key": "action_mask"})()
        self.raw = torch.zeros(1, n)
        self.raw[0, slot] = 5.0

    def forward_inference(self, batch):
        mask = batch[Columns.OBS]["action_mask"]
        return {Columns.ACTION_DIST_INPUTS: mask_logits(self.raw, mask)}


def test_masking_removed_evaluation_exposes_a_policy_that_lives_in_the_mask():
    env_cfg = OmegaConf.to_container(compose_cfg([]).env, resolve=True)
    env = make_env(env_cfg)
    env.reset(seed=0)
    invalid_slot = int(np.flatnonzero(env.action_mask() == 0)[0])
    out = evaluate(_PrefersSlot(invalid_slot), {**env_cfg, "max_episode_steps": 50}, episodes=2)
    assert out["eval/masked/invalid_action_rate"] == 0.0
    assert out["eval/mask_removed/invalid_action_rate"] == 1.0  # every step picks the invalid slot
    assert out["eval/mask_removed/return_mean"] == pytest.approx(50 * env_cfg["invalid_penalty"])
