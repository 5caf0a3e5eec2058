"""IMPALA (V-trace), tuned for 2 cores (make sweep NAME=tune_impala; docs/tuning/tune_impala.md)
from RLlib's tuned CartPole example. IMPALA takes one gradient step per train batch, so on a
budget it needs small batches and a large learning rate; with separate policy and value networks
(model.vf_share_layers=false), RLlib's vf_loss_coeff=0.05 starves the critic.

RLlib hands the learner whole samples (``learner_batch_env_steps``): with 16 envs per env runner
and ``rollout_fragment_length`` 50, a batch is 800 env steps whatever ``train_batch_size_per_learner``
below 800 says; the run prints a note when the two differ.

The learner's in-queue counts the batches it is given, trains on and drops (``learner_queue/*``
metrics; src/learners.py). RLlib 2.60 uses PPO's RLModule for IMPALA, and so do we."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from src.algos.base import Algo


@dataclass
class IMPALA(Algo):
    name: str = "impala"
    budget_env_steps: int = 450_000  # solved 5/5 seeds in it (bench/RESULTS.md)
    # The search's best (lr 4e-3, no entropy bonus) collapsed in 2 of 3 seeds at ~150k steps (a
    # policy deterministic on one action, return 9.4, never recovered); half the learning rate
    # with a small entropy bonus solved those seeds (bench/RESULTS.md). A constant 2e-3 then
    # solved 3/5 in 300k (two seeds peaked at ~445 and fell back), decayed to 2e-4 over 300k
    # 3/5 (too slow), decayed to 5e-4 over 450k 5/5.
    lr: float = 2e-3
    lr_final: float | None = 5e-4
    gamma: float = 0.98
    vf_loss_coeff: float = 0.5
    entropy_coeff: float = 0.003
    grad_clip: float | None = 40.0
    grad_clip_by: str = "global_norm"
    train_batch_size_per_learner: int = 200  # a lower bound: batches are 800 (learner_batch_note)
    vtrace: bool = True
    min_time_s_per_iteration: float = 1.0  # RLlib's 10 s makes progress lines sparse

    REPORTING: ClassVar[tuple[str, ...]] = ("min_time_s_per_iteration",)
    MASK_PREDICTION: ClassVar[bool] = True

    def rllib_config(self):
        from ray.rllib.algorithms.impala import IMPALAConfig

        return IMPALAConfig()

    def learner_class(self) -> type:
        from src.learners import CountedIMPALATorchLearner

        return CountedIMPALATorchLearner

    def learner_batch_env_steps(self, config) -> int:
        """The env steps in each batch the learner trains on. RLlib (2.60, both stacks) queues
        whole samples, each ``num_envs_per_env_runner x rollout_fragment_length`` env steps, until
        they reach ``train_batch_size_per_learner``: a batch is the fewest samples that do."""
        sample = config.num_envs_per_env_runner * config.get_rollout_fragment_length()
        return -(-self.train_batch_size_per_learner // sample) * sample

    def learner_batch_note(self, config) -> str | None:
        """What to tell a user whose ``train_batch_size_per_learner`` is not the learner's batch."""
        batch, nominal = self.learner_batch_env_steps(config), self.train_batch_size_per_learner
        if batch == nominal:
            return None
        envs, fragment = config.num_envs_per_env_runner, config.get_rollout_fragment_length()
        fix = (
            f"resources.num_envs_per_env_runner={nominal // fragment} makes it {nominal}"
            if nominal % fragment == 0
            else f"a multiple of rollout_fragment_length ({fragment}) can be met exactly"
        )
        return (
            f"maskbench: {self.name} trains on batches of {batch} env steps, not "
            f"algo.train_batch_size_per_learner={nominal}: RLlib queues whole samples of {envs} "
            f"envs x rollout_fragment_length {fragment} = {envs * fragment} env steps until they "
            f"reach it ({fix})."
        )

    def _print_learner_batch_note(self, config) -> None:
        note = self.learner_batch_note(config)
        if note:
            print(note)

    def wire_new_stack(self, config) -> None:
        config.learners(learner_class=self.learner_class())
        self._print_learner_batch_note(config)

    def old_stack_training(self, training: dict[str, Any]) -> dict[str, Any]:
        out = super().old_stack_training(training)
        # The old stack's IMPALA and APPO step their schedules on agent steps *trained* (its
        # global_vars timestep is NUM_AGENT_STEPS_TRAINED), and its learner thread trains on
        # each batch num_epochs times: APPO's lr would reach lr_final after a sixth of the
        # budget (measured: 1.17e-4 by 50-51k of 300k env steps). Counted in trained steps, the
        # schedule follows sampled env steps as the new stack's does (up to the batches
        # waiting in the learner queue).
        if "lr_schedule" in out:
            passes = out.get("num_epochs", 1)
            out["lr_schedule"] = [[step * passes, lr] for step, lr in out["lr_schedule"]]
        return out

    def wire_old_stack(self, config) -> None:
        self._print_learner_batch_note(config)
        # The old stack's IMPALA learner thread reads model.value_function(), the output of the
        # model's last forward pass; sampling in the same process races with it ("Cannot reshape
        # a tensor with 1 elements to shape [0,50]"). Sample in an env runner process.
        if config.num_env_runners < 1:
            print(
                f"maskbench: {self.name} on tf2 samples in an env runner process "
                "(resources.num_env_runners 0 -> 1): RLlib's old-stack learner thread races "
                "with sampling in the driver."
            )
            config.env_runners(num_env_runners=1)

    def torch_module_class(self) -> type:
        from src.models.torch.actor_critic import PPOActionHeadModule

        return PPOActionHeadModule
