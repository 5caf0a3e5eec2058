"""The ``model`` axis: how the network's output becomes per-action scores (``conf/model/*.yaml``).

One class per option; each builds the torch RLModule spec (new API stack) or the TF ModelV2
config (old stack) for an algorithm, and checks itself against the env, the algorithm and the
framework before anything starts. The networks themselves are in ``src/models/torch`` and
``src/models/tf``; what they share is ``src/models/spec.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from omegaconf import MISSING

from src.errors import ConfigError
from src.models.spec import ActionHeadSpec, check_mask_values
from src.options import Option

# Model-config keys that RLlib's catalogs read; the rest is ours (ActionHeadSpec).
CATALOG_KEYS = ("fcnet_hiddens", "fcnet_activation", "head_fcnet_hiddens", "vf_share_layers")


@dataclass
class Model(Option):
    action_head: str = MISSING
    # Hidden layers (default: what the algorithm says, algo.fcnet_hiddens).
    fcnet_hiddens: list[int] = "${algo.fcnet_hiddens}"  # type: ignore[assignment]
    fcnet_activation: str = "tanh"
    head_fcnet_hiddens: list[int] = field(default_factory=list)
    vf_share_layers: bool = False
    # Where the model finds things in the Dict observation (default: what the env says).
    obs_key: str = "${env.obs_key}"
    mask_key: str = "${env.mask_key}"
    embeddings_key: str | None = "${env.embeddings_key}"
    # Feed the mask to the network as input features too (with model=unmasked: the penalty
    # baseline that can see which actions are valid).
    mask_as_input: bool = False
    # default: each framework's own weight initialisation (torch: nn.Linear's, tf2: RLlib's
    # old-stack normc) | normc: the old stack's on torch too, so that torch and tf2 start alike.
    init: str = "default"
    # > 0: an auxiliary loss, weighted so, in which the policy's features predict the mask (the
    # legality signal a penalty teaches, without invalid actions). PPO, APPO, IMPALA on torch.
    mask_prediction_coeff: float = 0.0

    def model_config(self) -> dict[str, Any]:
        """The flat dict an RLModule receives as ``model_config`` (and the TF model too)."""
        values = self.as_dict()
        keys = (*CATALOG_KEYS, *ActionHeadSpec.__dataclass_fields__)
        return {k: values[k] for k in keys if k in values}

    def head_spec(self) -> ActionHeadSpec:
        return ActionHeadSpec.from_model_config(self.model_config())

    def module_spec(self, algo):
        """framework=torch: the RLModuleSpec of ``algo``'s module with this action head."""
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        return RLModuleSpec(
            module_class=algo.torch_module_class(), model_config=self.model_config()
        )

    def tf_model_config(self, algo) -> dict[str, Any]:
        """framework=tf2: the old API stack's ``model`` dict, our ModelV2 with the same keys."""
        config = self.model_config()
        custom = {k: config[k] for k in ActionHeadSpec.__dataclass_fields__ if k in config}
        catalog = {k: config[k] for k in CATALOG_KEYS if k in config and k != "head_fcnet_hiddens"}
        return {
            "custom_model": algo.tf_model_class(),
            "custom_model_config": custom,
            **catalog,
        }

    def check(self, axes) -> None:
        """Build one env and this model's view of it; ConfigError on anything that cannot work."""
        spec = self.head_spec()
        if not spec.uses_mask and axes.env.invalid_action == "raise":
            what = (
                f"model={self.action_head}"
                if self.action_head == "unmasked"
                else ("model.apply_mask=false")
            )
            raise ConfigError(
                f"{what} lets invalid actions reach the env, and env.invalid_action=raise turns "
                "the first one into a crash. Use env.invalid_action=penalty (or terminate) for a "
                "model that does not apply the mask."
            )
        if spec.mask_prediction_coeff > 0 and not (
            axes.framework.NEW_API_STACK and axes.algo.MASK_PREDICTION
        ):
            raise ConfigError(
                f"model.mask_prediction_coeff={spec.mask_prediction_coeff} adds a loss in the "
                "torch learners of PPO, APPO and IMPALA only; this run is "
                f"algo={axes.algo.name} framework={axes.framework.name}. Use algo=ppo, appo or "
                "impala with framework=torch, or model.mask_prediction_coeff=0."
            )
        if spec.init == "normc" and axes.framework.NEW_API_STACK:
            from src.models.torch.masking import ActionHeadMixin

            module = axes.algo.torch_module_class()
            if module.output_layers is ActionHeadMixin.output_layers:
                raise ConfigError(
                    f"model.init=normc needs to know which layers of algo={axes.algo.name}'s "
                    f"module output scores and values, and {module.__name__} does not say "
                    "(output_layers). Use model.init=default."
                )
        env = axes.env.make()
        try:
            spec.check_spaces(env.observation_space, env.action_space)
            obs, _ = env.reset(seed=0)
            check_mask_values(obs[spec.mask_key])
        finally:
            env.close()


@dataclass
class Masked(Model):
    """logits + log(mask), the log clamped to the float minimum: invalid actions get
    probability 0 (Q-values: never the argmax, never drawn)."""

    action_head: str = "masked"


@dataclass
class Unmasked(Model):
    """The network sees the observations only; invalid actions reach the env, which must then
    run with env.invalid_action=penalty or terminate."""

    action_head: str = "unmasked"


@dataclass
class NaiveMasked(Model):
    """Ablation: actions are sampled from masked logits, but the loss is computed from the
    unmasked ones, so the policy ratio compares two different distributions. Huang & Ontanon
    (2020) show this "naive" masking to be unstable. Algorithms with a policy (PPO, APPO,
    IMPALA, SAC) on torch only."""

    action_head: str = "naive_masked"

    def check(self, axes) -> None:
        if not axes.algo.POLICY_GRADIENT:
            raise ConfigError(
                f"model=naive_masked is a policy-gradient ablation (sample from masked logits, "
                f"loss on unmasked ones); algo={axes.algo.name} has no such split. Use algo=ppo, "
                "appo, impala or sac."
            )
        if not axes.framework.NEW_API_STACK:
            raise ConfigError(
                "model=naive_masked is built for the torch RLModules only; use framework=torch."
            )
        super().check(axes)


@dataclass
class Embedding(Model):
    """Parametric actions: logits[i] = dot(intent(obs), embedding[i]), then the mask."""

    action_head: str = "embedding"
    apply_mask: bool = True
    # env: read env.embeddings_key from the observation | learned: learn a table of them
    embeddings_source: str = "env"
    embed_dim: int = 4  # size of a learned table (env embeddings bring their own size)

    def model_config(self) -> dict[str, Any]:
        out = super().model_config()
        if self.embeddings_source not in ("env", "learned"):
            raise ConfigError(
                f"model.embeddings_source={self.embeddings_source!r}: use env or learned."
            )
        if self.embeddings_source == "learned":
            out["embeddings_key"] = None  # the module learns a table instead of reading the obs
        elif self.embeddings_key is None:
            raise ConfigError(
                "model=embedding reads action embeddings from the observation, but this env "
                "publishes none (env.embeddings_key is null). Learn one per action with "
                "`model.embeddings_source=learned`, or set env.embeddings_key to the key that "
                "holds them."
            )
        return out
