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
    elif model_cfg.get("action_head") == "embedding" and model_cfg.get("embeddings_key") is None:
        raise ConfigError(
            "model=embedding reads action embeddings from the observation, but this env "
            "publishes none (env.embeddings_key is null). Learn one per action with "
            "`model.embeddings_source=learned`, or set env.embeddings_key to the key that holds them."
        )
    return out


def module_spec(algo: str, model_cfg: dict[str, Any]) -> RLModuleSpec:
    if model_cfg.get("action_head") == "naive_masked" and algo == "dqn":
        raise ConfigError(
            "model=naive_masked is a policy-gradient ablation (sample from masked logits, "
            "loss on unmasked ones); DQN has no such split. Use algo=ppo, appo or impala."
        )
    return RLModuleSpec(
        module_class=torch_module_class(algo), model_config=model_config_dict(model_cfg)
    )


def tf_model_config(algo: str, model_cfg: dict[str, Any]) -> dict[str, Any]:
    """The old API stack's ``model`` dict: our ModelV2 with the same keys as the torch modules."""
    from src.models.tf.action_heads import ActionHeadTFModel, DQNActionHeadTFModel

    if model_cfg.get("action_head") == "naive_masked":
        raise ConfigError(
            "model=naive_masked is built for the torch RLModules only; use framework=torch."
        )

    config = model_config_dict(model_cfg)
    custom = {k: config[k] for k in ActionHeadSpec.__dataclass_fields__ if k in config}
    return {
        "custom_model": DQNActionHeadTFModel if algo == "dqn" else ActionHeadTFModel,
        "custom_model_config": custom,
        **{k: config[k] for k in CATALOG_KEYS if k in config and k != "head_fcnet_hiddens"},
    }
