"""DQN with maskbench's action heads: Q-values over the N slots, masked everywhere they are used.

Every Q-value RLlib's DQN computes goes through ``_qf_forward_helper``: greedy acting, the
online next-state Q (double-Q's argmax) and the target network's next-state Q (the TD target's
max). Masking there, after the dueling aggregation, covers all of them; the next observation's
mask reaches the learner inside ``NEXT_OBS``. Invalid actions get the float minimum, never
-inf, so no inf arithmetic can turn into NaN.

Which combinations DQN accepts (no distributional head with masking, no dueling with
embeddings) is checked before anything is built, in ``src.algos.dqn.DQN.check``.

Epsilon exploration is drawn from the mask itself. (RLlib draws among actions whose Q is not 0
after mapping -inf to 0: with a clamped mask that would let invalid actions through, and even
with -inf it would skip a valid action whose Q happens to be exactly 0.)
"""

import torch
from ray.rllib.algorithms.dqn.default_dqn_rl_module import QF_PREDS
from ray.rllib.algorithms.dqn.torch.default_dqn_torch_rl_module import DefaultDQNTorchRLModule
from ray.rllib.core.columns import Columns

from src.models.torch.masking import ActionHeadMixin, last_linear


class DQNActionHeadModule(ActionHeadMixin, DefaultDQNTorchRLModule):
    def replace_action_head(self, out_dim: int) -> None:
        # Q(s, a) = dot(intent(s), emb(a)): the advantage head outputs the intent vector.
        self.af = self.resized_head(self.catalog.af_head_config, out_dim)

    def output_layers(self):
        heads = [self.af] + ([self.vf] if self.uses_dueling else [])
        return [last_linear(h) for h in heads]

    def _qf_forward_helper(self, batch, encoder, head):
        inner, obs = self.split_obs(batch)
        out = super()._qf_forward_helper(inner, encoder, head)
        out[QF_PREDS] = self.action_logits(out[QF_PREDS], obs)
        return out

    def _forward_exploration(self, batch, t: int):
        out = self._forward_inference(batch)
        self.epsilon_schedule.update(t)
        epsilon = self.epsilon_schedule.get_current_value()
        greedy = out[Columns.ACTIONS]
        random = torch.multinomial(self.valid_actions(batch), num_samples=1).squeeze(1)
        explore = torch.rand(greedy.shape[0], device=greedy.device) < epsilon
        out[Columns.ACTIONS] = torch.where(explore, random, greedy)
        return out

    def valid_actions(self, batch) -> torch.Tensor:
        """Weights for the epsilon draw: the mask, or every action for models that ignore it."""
        obs = batch[Columns.OBS]
        if self.head_spec.uses_mask:
            return obs[self.head_spec.mask_key].float()
        n = obs[self.head_spec.obs_key].shape[0]
        return torch.ones(n, self.action_space.n)
