"""PPO (and, in RLlib 2.60, IMPALA) with maskbench's action heads."""

from ray.rllib.algorithms.ppo.torch.default_ppo_torch_rl_module import DefaultPPOTorchRLModule

from src.models.torch.masking import ActionHeadMixin


class PPOActionHeadModule(ActionHeadMixin, DefaultPPOTorchRLModule):
    """RLlib's default PPO module; the policy head's output goes through ``action_logits``."""
