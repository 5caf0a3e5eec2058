"""Discrete SAC with maskbench's action heads: a maximum-entropy method, masked where it counts.

SAC-Discrete (Christodoulou 2019) takes every expectation over actions exactly, as a sum weighted
by the policy's probabilities. With a mask, each of those sums must run over the valid actions
only, or the method optimises a different objective:

* the policy: pi(. | s) = softmax(logits + log(mask)), so invalid actions have probability 0;
* its entropy: H(s) = -sum over valid a of pi(a|s) log pi(a|s);
* the next state's soft value in the TD target:
  V(s') = sum over valid a' of pi(a'|s') (Q_target(s', a') - alpha log pi(a'|s'));
* the actor loss: sum over valid a of pi(a|s) (alpha log pi(a|s) - Q(s, a));
* the target entropy of the temperature loss, per state: ratio * log(number of valid actions),
  the same fraction of the largest entropy the state allows. (RLlib's "auto", -1 for any
  Discrete space, is the continuous-action rule: it never asks for exploration.)

RLlib 2.60's discrete SAC computes ``softmax(logits).log()``: a masked action's probability is 0
there and its log -inf, so ``0 * -inf`` turns the sums into NaN. Here the log-probabilities come
from ``log_softmax`` and every sum is taken with ``torch.where`` on the valid actions, so no
inf ever enters the arithmetic. Q-values are not masked: they are only ever used weighted by the
policy, which is 0 on invalid actions (and the taken action is valid).

``model=embedding`` scores actions by dot products in the policy *and* in both critics (each
head outputs an intent vector): with moving slots a critic with one output per slot could not
tell LEFT from RIGHT any more than a masked policy can. ``model=naive_masked`` samples from the
masked policy but its loss takes the sums over all actions (``loss_mask``).
"""

from __future__ import annotations

import math

import torch
from ray.rllib.algorithms.sac.sac_learner import (
    ACTION_LOG_PROBS,
    ACTION_LOG_PROBS_NEXT,
    ACTION_PROBS,
    ACTION_PROBS_NEXT,
    QF_LOSS_KEY,
    QF_MAX_KEY,
    QF_MEAN_KEY,
    QF_MIN_KEY,
    QF_PREDS,
    QF_TARGET_NEXT,
    QF_TWIN_LOSS_KEY,
    QF_TWIN_PREDS,
    TD_ERROR_MEAN_KEY,
)
from ray.rllib.algorithms.sac.torch.default_sac_torch_rl_module import DefaultSACTorchRLModule
from ray.rllib.algorithms.sac.torch.sac_torch_learner import SACTorchLearner
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.learner import POLICY_LOSS_KEY
from ray.rllib.core.models.base import ENCODER_OUT
from ray.rllib.utils.metrics import TD_ERROR_KEY

from src.models.torch.masking import ActionHeadMixin

# Extra forward-train outputs: which actions the loss's sums run over, now and at s'.
VALID = "valid_actions"
VALID_NEXT = "valid_actions_next"
# learner_config_dict key: target entropy = ratio * log(number of valid actions).
TARGET_ENTROPY_RATIO = "target_entropy_ratio"


class SACActionHeadModule(ActionHeadMixin, DefaultSACTorchRLModule):
    def replace_action_head(self, out_dim: int) -> None:
        self.catalog.build_pi_head(framework="torch")  # fills in catalog.pi_head_config
        self.pi = self.resized_head(self.catalog.pi_head_config, out_dim)
        if not self.inference_only:  # env runners hold the policy only
            self.qf = self.resized_head(self.catalog.qf_head_config, out_dim)
            if self.twin_q:
                self.qf_twin = self.resized_head(self.catalog.qf_head_config, out_dim)

    def _forward_inference(self, batch, **kwargs):
        inner, obs = self.split_obs(batch)
        out = super()._forward_inference(inner)
        return {**out, **self.acting_outputs(out[Columns.ACTION_DIST_INPUTS], obs)}

    def _qf_forward_train_helper(self, batch, encoder, head, squeeze=True):
        """Q(s, .) for every action (online, twin and target nets): head outputs or dot products."""
        inner, obs = self.split_obs(batch)
        q = super()._qf_forward_train_helper(inner, encoder, head, squeeze=False)
        return self.raw_logits(q, obs)

    def policy(self, obs: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(probs, log_probs, valid) of the training policy; both 0 where ``valid`` is False."""
        features = {Columns.OBS: obs[self.head_spec.obs_key]}
        head_out = self.pi(self.pi_encoder(features)[ENCODER_OUT])
        logits = self.action_logits(head_out, obs, for_loss=True)
        valid = self.loss_mask(obs)
        log_probs = torch.where(valid, torch.log_softmax(logits, dim=-1), 0.0)
        probs = torch.where(valid, log_probs.exp(), 0.0)
        return probs, log_probs, valid

    def _forward_train(self, batch, **kwargs):
        out = {}
        now, nxt = {Columns.OBS: batch[Columns.OBS]}, {Columns.OBS: batch[Columns.NEXT_OBS]}
        out[ACTION_PROBS], out[ACTION_LOG_PROBS], out[VALID] = self.policy(batch[Columns.OBS])
        with torch.no_grad():  # s' only enters the TD target, which is never differentiated
            next_policy = self.policy(batch[Columns.NEXT_OBS])
        out[ACTION_PROBS_NEXT], out[ACTION_LOG_PROBS_NEXT], out[VALID_NEXT] = next_policy
        out[QF_PREDS] = self._qf_forward_train_helper(now, self.qf_encoder, self.qf)
        if self.twin_q:
            out[QF_TWIN_PREDS] = self._qf_forward_train_helper(
                now, self.qf_twin_encoder, self.qf_twin
            )
        out[QF_TARGET_NEXT] = self.forward_target(nxt, squeeze=False)
        return out


def expect(probs: torch.Tensor, values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """sum over valid a of probs[a] * values[a] (invalid entries never touch the arithmetic)."""
    return torch.where(valid, probs * values, 0.0).sum(-1)


def soft_value(probs, log_probs, q, valid, alpha) -> torch.Tensor:
    """V(s) = sum over valid a of pi(a|s) (Q(s, a) - alpha log pi(a|s))."""
    return expect(probs, q - alpha * log_probs, valid)


def entropy(probs, log_probs, valid) -> torch.Tensor:
    """H(s) = -sum over valid a of pi(a|s) log pi(a|s)."""
    return -expect(probs, log_probs, valid)


def max_entropy(valid: torch.Tensor) -> torch.Tensor:
    """Per state: the largest entropy its valid actions allow, log(n_valid) (uniform over them)."""
    return torch.log(valid.sum(-1).clamp(min=1).float())


def target_entropy(valid: torch.Tensor, ratio: float) -> torch.Tensor:
    """Per state: ``ratio`` of the largest entropy its valid actions allow, ratio * log(n_valid)."""
    return ratio * max_entropy(valid)


class MaskedSACTorchLearner(SACTorchLearner):
    """RLlib's SAC learner (optimizers per network, target updates) with the discrete loss taken
    over valid actions only and a per-state target entropy. Continuous SAC is not used here."""

    def _compute_loss_for_module_discrete(self, *, module_id, config, batch, fwd_out):
        log_alpha = self.curr_log_alpha[module_id]
        alpha = torch.exp(log_alpha).detach()
        ratio = float(config.learner_config_dict[TARGET_ENTROPY_RATIO])

        # Critic: r + gamma^n (1 - terminated) V(s'), V from the target critics.
        next_v = soft_value(
            fwd_out[ACTION_PROBS_NEXT],
            fwd_out[ACTION_LOG_PROBS_NEXT],
            fwd_out[QF_TARGET_NEXT],
            fwd_out[VALID_NEXT],
            alpha,
        )
        not_done = 1.0 - batch[Columns.TERMINATEDS].float()
        target_q = batch[Columns.REWARDS] + config.gamma ** batch["n_step"] * not_done * next_v
        target_q = target_q.detach()
        actions = batch[Columns.ACTIONS].long().unsqueeze(-1)
        critics = [QF_PREDS, QF_TWIN_PREDS] if config.twin_q else [QF_PREDS]
        preds = [fwd_out[key].gather(-1, actions).squeeze(-1) for key in critics]
        huber = torch.nn.HuberLoss(reduction="none", delta=1.0)
        critic_losses = [torch.mean(batch["weights"] * huber(p, target_q)) for p in preds]
        td_error = torch.stack([torch.abs(p - target_q) for p in preds]).mean(0)

        # Actor: minimise -V(s) = E_pi[alpha log pi - Q], Q the smaller (detached) critic.
        p, logp, valid = fwd_out[ACTION_PROBS], fwd_out[ACTION_LOG_PROBS], fwd_out[VALID]
        q = fwd_out[QF_PREDS]
        if config.twin_q:
            q = torch.min(q, fwd_out[QF_TWIN_PREDS])
        policy_loss = -soft_value(p, logp, q.detach(), valid, alpha).mean()

        # Temperature: raise alpha while the entropy is below its target, lower it above.
        h = entropy(p, logp, valid)
        target = target_entropy(valid, ratio)
        alpha_loss = torch.mean(log_alpha * (h - target).detach())

        losses = {POLICY_LOSS_KEY: policy_loss, QF_LOSS_KEY: critic_losses[0]}
        losses["alpha_loss"] = alpha_loss
        if config.twin_q:
            losses[QF_TWIN_LOSS_KEY] = critic_losses[1]
        for key, loss in losses.items():  # consumed per optimizer by compute_gradients
            self._temp_losses[(module_id, key)] = loss

        q_valid = fwd_out[QF_PREDS][valid]
        self.metrics.log_value((module_id, TD_ERROR_KEY), td_error, reduce="item_series")
        self.metrics.log_dict(
            {
                **losses,
                "alpha_value": alpha[0],
                "log_alpha_value": log_alpha.detach()[0],
                "target_entropy": target.mean(),
                "entropy": h.mean(),
                # The entropy as a share of its largest value log(n_valid) (1: uniform).
                "entropy_ratio": (h / max_entropy(valid).clamp(min=math.log(2))).mean(),
                QF_MEAN_KEY: q_valid.mean(),
                QF_MAX_KEY: q_valid.max(),
                QF_MIN_KEY: q_valid.min(),
                TD_ERROR_MEAN_KEY: td_error.mean(),
            },
            key=module_id,
            window=1,
        )
        return sum(losses.values())
