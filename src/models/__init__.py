"""Model choice -> the RLModule (torch) for an algorithm, configured from ``cfg.model``."""

from __future__ import annotations

from typing import Any

from ray.rllib.core.rl_module.rl_module import RLModuleSpec

from src.errors import ConfigError
from src.models.spec import ActionHeadSpec

# Model-config keys that RLlib's catalogs read; the rest of cfg.model is ours (ActionHeadSpec).
CATALOG_KEYS = ("fcnet_hiddens", "fcnet_activation", "head_fcnet_hiddens", "vf_share_layers")


def torch_module_class(algo: str) -> type:
    from src.models.torch.actor_critic import APPOActionHeadModule, PPOActionHeadModule
    from src.models.torch.dqn import DQNActionHeadModule

    # IMPALA's default module in RLlib 2.60 is PPO's.
    classes = {
        "ppo": PPOActionHeadModule,
        "impala": PPOActionHeadModule,
        "appo": APPOActionHeadModule,
        "dqn": DQNActionHeadModule,
    }
    if algo not in classes:
        raise ConfigError(f"No torch RLModule for algo={algo!r}; available: {sorted(classes)}.")
    return classes[algo]


def model_config_dict(model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The flat dict an RLModule receives as ``model_config``."""
    keys = (*CATALOG_KEYS, *ActionHeadSpec.__dataclass_fields__)
    out = {k: model_cfg[k] for k in keys if k in model_cfg}
    if model_cfg.get("embeddings_source") == "learned":
        out["embeddings_key"] = None  # the module learns a table instead of reading the obs
    return out


def module_spec(algo: str, model_cfg: dict[str, Any]) -> RLModuleSpec:
    return RLModuleSpec(
        module_class=torch_module_class(algo), model_config=model_config_dict(model_cfg)
    )


def tf_model_config(algo: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The old API stack's ``model`` dict: our ModelV2 with the same keys as the torch modules."""
    from src.models.tf.action_heads import ActionHeadTFModel, DQNActionHeadTFModel

    config = model_config_dict(model_cfg)
    custom = {k: config[k] for k in ActionHeadSpec.__dataclass_fields__ if k in config}
    return {
        "custom_model": DQNActionHeadTFModel if algo == "dqn" else ActionHeadTFModel,
        "custom_model_config": custom,
        **{k: config[k] for k in CATALOG_KEYS if k in config and k != "head_fcnet_hiddens"},
    }
