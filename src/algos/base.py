"""What every algorithm option shares: the keys that are not training hyperparameters, and
the hooks through which an algorithm adds its own RLlib wiring and checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from omegaconf import MISSING

from src.options import Option


@dataclass
class Algo(Option):
    """Base of ``conf/algo/*.yaml``'s classes. Every field that is not listed in ``NOT_TRAINING``
    goes to RLlib's ``AlgorithmConfig.training()`` under its own name (RLlib rejects unknown
    names, so a field here is a real RLlib hyperparameter)."""

    name: str = MISSING
    # The env-step budget in which the defaults are to solve the default env (masked, fixed
    # layout: rolling mean >= 450) in 5 of 5 seeds on 2 cores (python bench/solve.py; how many
    # do is in bench/RESULTS.md); stop.env_steps and the sweeps use it. Not a hyperparameter.
    budget_env_steps: int = MISSING
    lr: float = MISSING
    # Decay lr linearly to lr_final over budget_env_steps sampled env steps, constant after
    # (None: a constant lr). RLlib's schedule: lr=[[0, lr], [budget_env_steps, lr_final]].
    lr_final: float | None = None
    gamma: float = MISSING
    train_batch_size_per_learner: int = MISSING
    # The network's hidden layers for this algorithm; model.fcnet_hiddens follows it unless set.
    fcnet_hiddens: list[int] = field(default_factory=lambda: [64, 64])
    # Any other AlgorithmConfig.training() argument: +algo.extra.<name>=<value> (RLlib checks names).
    extra: dict[str, Any] = field(default_factory=dict)

    # A policy-gradient method (a policy distribution and its loss), not a value-based one.
    POLICY_GRADIENT: ClassVar[bool] = True
    # Its torch learner adds model.mask_prediction_coeff's auxiliary loss (src/learners.py).
    MASK_PREDICTION: ClassVar[bool] = False
    # Fields that are ours, or RLlib settings outside .training().
    NOT_TRAINING: ClassVar[tuple[str, ...]] = (
        "name",
        "budget_env_steps",
        "lr_final",
        "fcnet_hiddens",
        "extra",
    )
    REPORTING: ClassVar[tuple[str, ...]] = ()  # go to .reporting() when set
    ENV_RUNNERS: ClassVar[tuple[str, ...]] = ()  # override cfg.resources in .env_runners() when set

    # -- RLlib wiring -----------------------------------------------------------------------
    def rllib_config(self):
        """A fresh RLlib AlgorithmConfig of this algorithm (RLlib imported here, not at import)."""
        raise NotImplementedError

    def training(self) -> dict[str, Any]:
        """The ``.training()`` keyword arguments (new-stack names)."""
        skip = {*self.NOT_TRAINING, *self.REPORTING, *self.ENV_RUNNERS}
        plain = {k: v for k, v in self.as_dict().items() if k not in skip}
        if self.lr_final is not None:
            plain["lr"] = [[0, self.lr], [self.budget_env_steps, self.lr_final]]
        return {**plain, **self.extra}

    def set_keys(self, keys: tuple[str, ...]) -> dict[str, Any]:
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def old_stack_training(self, training: dict[str, Any]) -> dict[str, Any]:
        """The old API stack's (framework=tf2) names for the same hyperparameters."""
        out = dict(training)
        if "train_batch_size_per_learner" in out:
            out["train_batch_size"] = out.pop("train_batch_size_per_learner")
        if isinstance(out.get("lr"), list):  # the old stack takes a schedule beside a start lr
            out["lr_schedule"] = out["lr"]
            out["lr"] = out["lr"][0][1]
        return out

    def wire_new_stack(self, config) -> None:
        """framework=torch: set what this algorithm replaces in RLlib (a learner, a replay)."""

    def wire_old_stack(self, config) -> None:
        """framework=tf2: set what this algorithm needs on the old API stack."""

    # -- the model per framework -------------------------------------------------------------
    def torch_module_class(self) -> type:
        """The torch RLModule class that puts maskbench's action heads on this algorithm."""
        raise NotImplementedError

    def tf_model_class(self) -> type:
        from src.models.tf.action_heads import ActionHeadTFModel

        return ActionHeadTFModel

    # -- checks against the other axes ---------------------------------------------------------
    def check(self, axes) -> None:
        """Raise ConfigError, naming the fix, when this algorithm cannot run with ``axes``."""
