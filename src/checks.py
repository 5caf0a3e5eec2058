"""Start-up checks: a bad combination fails in a second, naming the fix, not 30 s into a run."""

from __future__ import annotations

from typing import Any

from src.envs import make_env
from src.errors import ConfigError
from src.models import model_config_dict
from src.models.spec import ActionHeadSpec, check_mask_values


def check_run(env_cfg: dict[str, Any], model_cfg: dict[str, Any]) -> None:
    """Build one env and the model's view of it; raise ConfigError on anything that cannot work."""
    spec = ActionHeadSpec.from_model_config(model_config_dict(model_cfg))
    if not spec.uses_mask and env_cfg.get("invalid_action") == "raise":
        what = "model=unmasked" if spec.action_head == "unmasked" else "model.apply_mask=false"
        raise ConfigError(
            f"{what} lets invalid actions reach the env, and env.invalid_action=raise turns the "
            "first one into a crash. Use env.invalid_action=penalty (or terminate) for a model "
            "that does not apply the mask."
        )
    env = make_env(env_cfg)
    try:
        spec.check_spaces(env.observation_space, env.action_space)
        obs, _ = env.reset(seed=0)
        check_mask_values(obs[spec.mask_key])
    finally:
        env.close()
