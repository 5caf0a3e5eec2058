"""What a model needs to know about the observation, shared by every framework.

The three models differ only in how they turn the network output into action logits:

* ``masked``     logits + log(mask), the log clamped to the float minimum (never -inf);
* ``unmasked``   logits as they are; the mask never reaches the network;
* ``embedding``  logits[i] = dot(intent, embedding[i]), plus the mask unless ``apply_mask``
                 is false. The embeddings come from the observation when the env provides
                 them, else the model learns a table of them;
* ``naive_masked`` (PPO, APPO, IMPALA on torch) samples from masked logits but computes the loss
                 from the unmasked ones: the ablation Huang & Ontanon (2020) show to be unstable.

Independently of the head, ``mask_as_input`` feeds the mask to the network as input features
(after the observations): with ``unmasked``, the penalty baseline that can at least see which
actions are valid, a fairer comparison for masking than one that is blind to them. And
``mask_prediction_coeff`` > 0 (PPO, APPO, IMPALA on torch) adds an auxiliary loss in which the
policy's features predict the mask: the legality signal that a penalty teaches, without any
invalid action (src/learners.py, MaskPredictionLossMixin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from gymnasium import spaces

from src.errors import ConfigError

ACTION_HEADS = ("masked", "unmasked", "embedding", "naive_masked")
# default: each framework's own initialisation (torch: nn.Linear's; tf2: RLlib's old-stack
# normc) | normc: the old stack's on torch too (hidden layers normc(1.0), the output layers that
# score actions and values normc(0.01), biases 0), so the two frameworks start alike.
INITS = ("default", "normc")


@dataclass(frozen=True)
class ActionHeadSpec:
    action_head: str = "masked"
    obs_key: str = "observations"
    mask_key: str = "action_mask"
    embeddings_key: str | None = "avail_actions"  # None: learn a table of embeddings
    apply_mask: bool = True
    embed_dim: int = 4
    mask_as_input: bool = False  # the network also reads the mask, after the observations
    init: str = "default"  # the weights' initialisation (INITS)
    # > 0: a linear head on the policy's features predicts the mask (binary cross-entropy per
    # action), added to the loss with this weight. 0: no such head, nothing changes.
    mask_prediction_coeff: float = 0.0

    @classmethod
    def from_model_config(cls, model_config: dict) -> ActionHeadSpec:
        fields = cls.__dataclass_fields__
        spec = cls(**{k: model_config[k] for k in fields if k in model_config})
        if spec.action_head not in ACTION_HEADS:
            raise ConfigError(
                f"Unknown model {spec.action_head!r}: choose one of {ACTION_HEADS} "
                "(e.g. `model=masked`)."
            )
        if spec.init not in INITS:
            raise ConfigError(f"model.init={spec.init!r}: choose one of {INITS}.")
        if spec.mask_prediction_coeff < 0:
            raise ConfigError(
                f"model.mask_prediction_coeff={spec.mask_prediction_coeff}: a loss weight, "
                "0 (off) or more."
            )
        return spec

    @property
    def uses_mask(self) -> bool:
        """Whether the actions sent to the env are sampled from masked logits."""
        if self.action_head == "embedding":
            return self.apply_mask
        return self.action_head in ("masked", "naive_masked")

    @property
    def masks_loss(self) -> bool:
        """Whether the loss sees the masked logits too (all but the naive_masked ablation)."""
        return self.uses_mask and self.action_head != "naive_masked"

    def network_input_space(self, observation_space: spaces.Dict) -> spaces.Space:
        """What the network reads: the features, or (``mask_as_input``) the features flattened
        with the mask after them."""
        features = observation_space[self.obs_key]
        if not self.mask_as_input:
            return features
        size = int(np.prod(features.shape)) + int(observation_space[self.mask_key].shape[0])
        return spaces.Box(-np.inf, np.inf, (size,), np.float32)

    def env_embeddings_dim(self, observation_space: spaces.Dict) -> int | None:
        """The embedding size the env provides, or None when the model must learn them."""
        space = observation_space.spaces.get(self.embeddings_key)
        return None if space is None else int(space.shape[-1])

    def check_spaces(self, observation_space: spaces.Space, action_space: spaces.Space) -> None:
        """Fail early, naming the fix, when the env does not fit this model."""
        if not isinstance(action_space, spaces.Discrete):
            raise ConfigError(
                f"maskbench models need a Discrete action space; the env has {action_space}."
            )
        if not isinstance(observation_space, spaces.Dict):
            raise ConfigError(
                "maskbench models need a Dict observation with the keys "
                f"{self.obs_key!r} and {self.mask_key!r}; the env gives {observation_space}. "
                "Wrap the env so that it returns {mask_key: mask, obs_key: features}, or set "
                "`model.obs_key` / `model.mask_key` to the keys it uses."
            )
        keys = list(observation_space.spaces)
        for role, key in (("obs_key", self.obs_key), ("mask_key", self.mask_key)):
            if key not in observation_space.spaces:
                raise ConfigError(
                    f"The observation has no {key!r} entry (model.{role}); its keys are {keys}. "
                    f"Set `model.{role}=<key>` to the key your env uses."
                )
        n = action_space.n
        mask_shape = observation_space[self.mask_key].shape
        if tuple(mask_shape) != (n,):
            raise ConfigError(
                f"The action mask {self.mask_key!r} has shape {tuple(mask_shape)} but the action "
                f"space is Discrete({n}): the mask needs shape ({n},), one entry per action."
            )
        emb = observation_space.spaces.get(self.embeddings_key)
        if self.action_head == "embedding" and self.embeddings_key is not None and emb is None:
            raise ConfigError(
                f"model=embedding reads action embeddings from the observation key "
                f"{self.embeddings_key!r}, but the env has none (its keys are {keys}). "
                "Turn them on with `env.embeddings=true`, point `model.embeddings_key` at the "
                "key your env uses, or learn a table with `model.embeddings_source=learned`."
            )
        if emb is not None and (len(emb.shape) != 2 or emb.shape[0] != n):
            raise ConfigError(
                f"The action embeddings {self.embeddings_key!r} have shape {tuple(emb.shape)}; "
                f"they need shape ({n}, embed_dim), one row per action."
            )


def check_mask_values(mask: np.ndarray) -> None:
    """A mask must be 0/1 and leave at least one action valid in every row."""
    mask = np.asarray(mask)
    if not np.isin(mask, (0, 1)).all():
        raise ConfigError("The action mask must hold only 0 and 1 (1 = valid action).")
    if (mask.reshape(-1, mask.shape[-1]).sum(-1) == 0).any():
        raise ConfigError(
            "The action mask marks every action invalid: no policy can act. The env must "
            "leave at least one valid action in every state (or end the episode)."
        )
