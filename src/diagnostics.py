""" "Masking removed": how a trained agent acts when its mask is taken away.

``evaluate(module, env_cfg, ...)`` plays greedy episodes in the penalty version of the run's env
twice: with the mask as trained, and with the mask replaced by all ones, which turns every
masked model into its unmasked network (``logits + log(1) = logits``). The gap shows how much of
the policy lives in the mask: a masked agent whose network never learned to avoid invalid
actions sends many of them once the mask is gone. Torch (new API stack) modules only.
"""

from __future__ import annotations

from typing import Any

from src.evaluation import EVAL_SEED, Evaluator, module_policy


def evaluate(
    module, env_cfg: dict[str, Any], episodes: int, seed: int = EVAL_SEED
) -> dict[str, float]:
    """``eval/masked/*`` and ``eval/mask_removed/*`` (return mean, invalid-action rate)."""
    evaluator = Evaluator({**env_cfg, "invalid_action": "penalty"}, episodes, seed)
    policy = module_policy(module, greedy=True)
    try:
        out = {}
        for name, remove in (("masked", False), ("mask_removed", True)):
            stats = evaluator.play(policy, module.head_spec.mask_key, remove_mask=remove)
            for key in ("return_mean", "invalid_action_rate"):
                out[f"eval/{name}/{key}"] = stats[key]
        return out
    finally:
        evaluator.close()
