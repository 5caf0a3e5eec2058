"""PPO, IMPALA and APPO: the policy head's output goes through ``action_logits``.

IMPALA's default module in RLlib 2.60 is PPO's, so ``PPOActionHeadModule`` serves both. APPO
adds a target policy (``forward_target``); V-trace compares it with the behaviour policy, so it
is masked exactly like the others: a mask applied on one side only would be a silent bug.
"""

from ray.rllib.algorithms.appo.default_appo_rl_module import TARGET_NETWORK_ACTION_DIST_INPUTS
from ray.rllib.algorithms.appo.torch.default_appo_torch_rl_module import DefaultAPPOTorchRLModule
from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule
from ray.rllib.core.columns import Columns
from ray.rllib.core.models.base import ACTOR, ENCODER_OUT
from torch import nn

from src.models.torch.masking import ActionHeadMixin, last_linear

# The train forward pass's output with model.mask_prediction_coeff > 0: one logit per action
# that it is valid, read by src.learners.MaskPredictionLossMixin.
MASK_PREDICTION_LOGITS = "mask_prediction_logits"


class ActorCriticActionHeads(ActionHeadMixin):
    """The hooks every actor-critic default module needs: forward passes and values."""

    def setup(self):
        super().setup()
        if self.head_spec.mask_prediction_coeff > 0:
            # Reads what the policy head reads (the actor encoder's output), so the auxiliary
            # loss shapes the policy's features; it never changes the logits themselves.
            (latent,) = self.catalog.latent_dims
            self.mask_predictor = nn.Linear(latent, self.action_space.n)

    def replace_action_head(self, out_dim: int) -> None:
        self.catalog.build_pi_head(framework="torch")  # fills in catalog.pi_head_config
        self.pi = self.resized_head(self.catalog.pi_head_config, out_dim)

    def output_layers(self):
        return [last_linear(self.pi), last_linear(self.vf)]

    def _forward(self, batch, **kwargs):
        """Acting (env runners): masked logits, and the network's mass on invalid actions."""
        inner, obs = self.split_obs(batch)
        out = super()._forward(inner, **kwargs)
        return {**out, **self.acting_outputs(out[Columns.ACTION_DIST_INPUTS], obs)}

    def _forward_train(self, batch, **kwargs):
        inner, obs = self.split_obs(batch)
        out = super()._forward_train(inner, **kwargs)
        key = Columns.ACTION_DIST_INPUTS
        out[key] = self.action_logits(out[key], obs, for_loss=True)
        if hasattr(self, "mask_predictor"):
            # A second pass of the encoder (RLlib's forward keeps no actor features): small
            # next to the policy and value passes, and only in runs that ask for the loss.
            features = self.encoder(inner)[ENCODER_OUT][ACTOR]
            out[MASK_PREDICTION_LOGITS] = self.mask_predictor(features)
        return out

    def compute_values(self, batch, embeddings=None):
        if embeddings is None:
            batch, _ = self.split_obs(batch)
        return super().compute_values(batch, embeddings)


class PPOActionHeadModule(ActorCriticActionHeads, DefaultPPOTorchRLModule):
    """PPO and IMPALA."""


class APPOActionHeadModule(ActorCriticActionHeads, DefaultAPPOTorchRLModule):
    """APPO: the target network's logits are masked (or embedded) like the online ones."""

    def forward_target(self, batch):
        inner, obs = self.split_obs(batch)
        out = super().forward_target(inner)
        key = TARGET_NETWORK_ACTION_DIST_INPUTS
        out[key] = self.action_logits(out[key], obs, for_loss=True)
        return out
