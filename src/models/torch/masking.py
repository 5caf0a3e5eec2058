"""Masking and action embeddings for torch RLModules: written once, used by every algorithm.

``ActionHeadMixin`` sits in front of one of RLlib's default RLModules (PPO, APPO, IMPALA,
DQN; the per-family hooks are in ``actor_critic.py`` and ``dqn.py``). It

* builds the default networks on the ``observations`` part of the Dict observation only (the
  default encoders reject Dict spaces, and flattening would feed the mask in as a feature
  without ever applying it);
* splits the Dict observation in every forward pass *without mutating the batch* (RLlib's own
  PPO masking example pops keys in place and breaks as soon as a learner reuses the batch);
* turns the network's action output (policy logits or Q-values) into the final per-action
  scores with ``action_logits``: masked, unmasked or dot-product-with-embeddings, as
  ``model_config["action_head"]`` says.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from ray.rllib.core.columns import Columns
from torch import nn

from src.metrics import P_INVALID_OUTPUT
from src.models.spec import ActionHeadSpec

FLOAT_MIN = torch.finfo(torch.float32).min


def mask_logits(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The logits where the action is valid, the float minimum where it is not: never -inf, so
    never NaN. The same numbers, forward and backward, as the forum's ``logits + log(mask)``
    with log(0) clamped to the float minimum (tested), in one op instead of three: 3.5x faster
    at 600 actions and more (bench/RESULTS.md, "The cost of masking as N grows")."""
    return torch.where(mask > 0, logits, torch.finfo(logits.dtype).min)


def invalid_mass(logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """P(invalid | s): the probability softmax(logits) puts on actions the mask rules out.

    KL(masked || unmasked) = -log(1 - P(invalid | s)): renormalising onto the valid actions.
    """
    return (torch.softmax(logits, dim=-1) * (1.0 - mask)).sum(-1)


def embedding_logits(intent: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """logits[b, i] = dot(intent[b], embeddings[b, i]) (or embeddings[i] for a shared table)."""
    if embeddings.dim() == 2:
        return intent @ embeddings.T
    return torch.einsum("be,bne->bn", intent, embeddings)


def normc_(weight: torch.Tensor, std: float) -> torch.Tensor:
    """In place: each output unit's incoming weights drawn from a normal, scaled to norm ``std``
    (``ray.rllib.models.tf.misc.normc_initializer``; torch keeps weights as (out, in))."""
    weight.normal_()
    return weight.mul_(std / weight.norm(dim=1, keepdim=True))


def last_linear(module: nn.Module) -> nn.Linear:
    return [m for m in module.modules() if isinstance(m, nn.Linear)][-1]


class ActionHeadMixin:
    """Mix in *before* an RLlib default torch RLModule: ``class M(ActionHeadMixin, Default...)``."""

    def __init__(self, *, observation_space=None, action_space=None, model_config=None, **kwargs):
        model_config = dict(model_config or {})
        self.head_spec = ActionHeadSpec.from_model_config(model_config)
        self.head_spec.check_spaces(observation_space, action_space)
        self.full_observation_space = observation_space
        super().__init__(
            observation_space=self.head_spec.network_input_space(observation_space),
            action_space=action_space,
            model_config=model_config,
            **kwargs,
        )

    def setup(self):
        super().setup()
        # The default networks are built; from here on the module faces the Dict space.
        self.observation_space = self.full_observation_space
        spec = self.head_spec
        if spec.action_head == "embedding":
            env_dim = spec.env_embeddings_dim(self.full_observation_space)
            self.embed_dim = env_dim or spec.embed_dim
            # The action head now outputs an intent vector instead of one score per action.
            self.replace_action_head(self.embed_dim)
            if env_dim is None:
                # No embeddings in the observation: learn one per action slot.
                self.action_embeddings = nn.Parameter(
                    0.1 * torch.randn(self.action_space.n, self.embed_dim)
                )

        if spec.init == "normc":
            self.init_normc()

    def output_layers(self) -> list[nn.Linear]:
        """The layers whose outputs are action scores or values (per algorithm family)."""
        raise NotImplementedError(f"model.init=normc is not built for {type(self).__name__}")

    def init_normc(self) -> None:
        """RLlib's old-stack (TF) initialisation: each unit's incoming weights a random
        direction of norm 1.0 (hidden layers) or 0.01 (output layers), biases 0."""
        outputs = {id(layer) for layer in self.output_layers()}
        with torch.no_grad():
            for layer in self.modules():
                if isinstance(layer, nn.Linear):
                    normc_(layer.weight, 0.01 if id(layer) in outputs else 1.0)
                    nn.init.zeros_(layer.bias)

    def replace_action_head(self, out_dim: int) -> None:
        """Rebuild the head that scores actions with ``out_dim`` outputs (per algorithm family)."""
        raise NotImplementedError

    @staticmethod
    def resized_head(head_config, out_dim: int) -> nn.Module:
        return dataclasses.replace(head_config, output_layer_dim=out_dim).build(framework="torch")

    # -- the one place where observations are split and logits are made ---------------------
    def split_obs(self, batch: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """(a shallow copy of batch whose OBS is the features only, the full Dict obs)."""
        obs = batch[Columns.OBS]
        if not isinstance(obs, dict):
            raise ValueError(
                f"{type(self).__name__} expects Dict observations with the key "
                f"{self.head_spec.obs_key!r}; got {type(obs).__name__}. Is an observation "
                "connector flattening the Dict? Remove it: the model splits the Dict itself."
            )
        inner = dict(batch)
        inner[Columns.OBS] = self.network_input(obs)
        return inner, obs

    def network_input(self, obs: dict[str, Any]) -> torch.Tensor:
        """The features, and with ``mask_as_input`` the mask after them (ActionHeadSpec)."""
        features = obs[self.head_spec.obs_key]
        if not self.head_spec.mask_as_input:
            return features
        mask = obs[self.head_spec.mask_key].to(features.dtype)
        return torch.cat([features.reshape(features.shape[0], -1), mask], dim=-1)

    def raw_logits(self, head_out: torch.Tensor, obs: dict[str, Any]) -> torch.Tensor:
        """Per-action scores before any mask: the head's output, or its dot with embeddings."""
        spec = self.head_spec
        if spec.action_head == "embedding":
            table = getattr(self, "action_embeddings", None)
            head_out = embedding_logits(
                head_out, obs[spec.embeddings_key] if table is None else table
            )
        return head_out

    def action_logits(
        self, head_out: torch.Tensor, obs: dict[str, Any], *, for_loss: bool = False
    ) -> torch.Tensor:
        """The final per-action scores; ``for_loss``: those the loss sees (naive_masked: raw)."""
        logits = self.raw_logits(head_out, obs)
        masked = self.head_spec.masks_loss if for_loss else self.head_spec.uses_mask
        return mask_logits(logits, obs[self.head_spec.mask_key]) if masked else logits

    def acting_outputs(self, head_out: torch.Tensor, obs: dict[str, Any]) -> dict[str, Any]:
        """Acting (env runners) with a policy: the logits to sample from, and P(invalid | s) of
        the network before masking (kept per step in the episodes; src.callbacks averages it)."""
        raw = self.raw_logits(head_out, obs)
        mask = obs[self.head_spec.mask_key]
        return {
            Columns.ACTION_DIST_INPUTS: mask_logits(raw, mask) if self.head_spec.uses_mask else raw,
            P_INVALID_OUTPUT: invalid_mass(raw.detach(), mask),
        }

    def loss_mask(self, obs: dict[str, Any]) -> torch.Tensor:
        """(B, N) bool: the actions the loss's expectations run over (all for unmasked models)."""
        mask = obs[self.head_spec.mask_key]
        if self.head_spec.masks_loss:
            return mask > 0
        return torch.ones_like(mask, dtype=torch.bool)
