"""The torch learners of PPO, IMPALA and APPO: the mask-prediction loss, and IMPALA's and APPO's
in-queues, seeded where RLlib is not and counted where it is silent.

Every one of them adds ``model.mask_prediction_coeff``'s auxiliary loss when the module asks
for it (``MaskPredictionLossMixin``): the policy's features predict the action mask, the
legality signal a penalty teaches without any invalid action. With the coefficient at 0 (the
default) the module has no such head and the loss is RLlib's, unchanged.

Both learn in a background thread that takes train batches from an in-queue while the driver
samples the next ones. How often each batch is trained on therefore depends on timing:

* APPO's ``CircularBuffer`` holds N batches, each usable K times, and hands out a random one per
  update. RLlib 2.60 draws it from an unseeded ``np.random.default_rng()`` and counts no gets;
  here the generator is seeded from the run's seed (``SeededCircularBuffer``).
* IMPALA's in-queue is a bounded FIFO (``learner_queue_size``): every batch is trained on once,
  but when the learner thread applies each update relative to sampling is still timing.

Each learner counts, per run, the batches added to its in-queue, the updates trained on them and
the batches dropped (APPO: pushed out of the buffer with uses left). The train loop logs them
per iteration as ``learner_queue/*`` (``queue_counts``), so a reader sees how much reuse and
loss a run had, and two runs of the same seed can be told apart by them.
"""

from __future__ import annotations

import functools
import threading
from queue import Queue
from typing import Any

import numpy as np
import torch
from ray.rllib.algorithms.appo import appo_learner
from ray.rllib.algorithms.appo.torch.appo_torch_learner import APPOTorchLearner
from ray.rllib.algorithms.appo.utils import CircularBuffer
from ray.rllib.algorithms.impala.torch.impala_torch_learner import IMPALATorchLearner
from ray.rllib.algorithms.ppo.torch.ppo_torch_learner import PPOTorchLearner
from ray.rllib.core.columns import Columns

from src.models.torch.actor_critic import MASK_PREDICTION_LOGITS

# Learner metrics (learner/<name> in metrics.jsonl) of a run with model.mask_prediction_coeff > 0.
MASK_PREDICTION_LOSS = "mask_prediction_loss"  # binary cross-entropy, mean over actions
MASK_PREDICTION_ACCURACY = "mask_prediction_accuracy"  # share of actions whose validity it gets

COUNTS = ("batches_added", "batches_trained", "batches_dropped")


class _Counts:
    def __init__(self):
        self.counts = dict.fromkeys(COUNTS, 0)
        self._counts_lock = threading.Lock()

    def count(self, key: str, n: int = 1) -> None:
        with self._counts_lock:
            self.counts[key] += n


class SeededCircularBuffer(CircularBuffer, _Counts):
    """APPO's circular buffer, drawing batches from a seeded generator and counting them."""

    def __init__(self, num_batches: int, iterations_per_batch: int, seed: int):
        CircularBuffer.__init__(self, num_batches, iterations_per_batch)
        _Counts.__init__(self)
        self._rng = np.random.default_rng(seed)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> int:
        dropped_env_steps = super().put(item, block, timeout)
        self.count("batches_added")
        self.count("batches_dropped", int(dropped_env_steps > 0))
        return dropped_env_steps

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        batch = super().get(block, timeout)
        self.count("batches_trained")
        return batch


class CountingQueue(Queue, _Counts):
    """IMPALA's bounded FIFO in-queue, counting batches in and out."""

    def __init__(self, maxsize: int):
        Queue.__init__(self, maxsize=maxsize)
        _Counts.__init__(self)

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        super().put(item, block, timeout)
        self.count("batches_added")

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        item = super().get(block, timeout)
        self.count("batches_trained")
        return item


class QueueCountsMixin:
    """Installs the seeded/counted in-queue before RLlib's ``build`` starts the learner thread."""

    def build(self) -> None:
        seed = int(self.config.seed or 0)
        if getattr(self.config, "use_circular_buffer", False):
            # APPOLearner.build makes its own CircularBuffer from this module's global name.
            original = appo_learner.CircularBuffer
            appo_learner.CircularBuffer = functools.partial(SeededCircularBuffer, seed=seed)
            try:
                super().build()
            finally:
                appo_learner.CircularBuffer = original
        else:
            # IMPALALearner.build keeps an in-queue that already exists.
            self._learner_thread_in_queue = CountingQueue(self.config.learner_queue_size)
            super().build()

    def queue_counts(self) -> dict[str, int]:
        """Batches added to, trained from and dropped by the in-queue since the run started."""
        counts = getattr(self._learner_thread_in_queue, "counts", None)
        return dict(counts) if counts is not None else {}


class MaskPredictionLossMixin:
    """RLlib's loss, plus ``coeff * BCE(predicted mask, mask)`` when the module predicts it."""

    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        loss = super().compute_loss_for_module(
            module_id=module_id, config=config, batch=batch, fwd_out=fwd_out
        )
        logits = fwd_out.get(MASK_PREDICTION_LOGITS)
        if logits is None:
            return loss
        spec = self.module[module_id].unwrapped().head_spec
        target = batch[Columns.OBS][spec.mask_key].to(logits.dtype)
        per_step = torch.nn.functional.binary_cross_entropy_with_logits(
            logits, target, reduction="none"
        ).mean(-1)
        correct = ((logits > 0) == (target > 0)).to(logits.dtype).mean(-1)
        if Columns.LOSS_MASK in batch:  # e.g. PPO's extra bootstrap step at each episode's end
            keep = batch[Columns.LOSS_MASK].bool()
            per_step, correct = per_step[keep], correct[keep]
        mask_loss = per_step.mean()
        self.metrics.log_dict(
            {MASK_PREDICTION_LOSS: mask_loss, MASK_PREDICTION_ACCURACY: correct.mean()},
            key=module_id,
            window=1,
        )
        return loss + spec.mask_prediction_coeff * mask_loss


class PPOTorchLearnerWithMaskPrediction(MaskPredictionLossMixin, PPOTorchLearner):
    pass


class CountedIMPALATorchLearner(MaskPredictionLossMixin, QueueCountsMixin, IMPALATorchLearner):
    pass


class SeededAPPOTorchLearner(MaskPredictionLossMixin, QueueCountsMixin, APPOTorchLearner):
    pass


LEARNERS = {"impala": CountedIMPALATorchLearner, "appo": SeededAPPOTorchLearner}


def new_stack_learner_group(algo):
    """A built algorithm's LearnerGroup on the new stack; None on the old one (framework=tf2)."""
    learner_group = getattr(algo, "learner_group", None)
    return learner_group if algo.config.enable_rl_module_and_learner else None


def queue_counts(algo) -> dict[str, int]:
    """The learner in-queue's counts of a built IMPALA/APPO algorithm; {} for the others."""
    learner_group = new_stack_learner_group(algo)
    if learner_group is None:
        return {}
    results = learner_group.foreach_learner(
        lambda learner: learner.queue_counts() if hasattr(learner, "queue_counts") else {}
    )
    totals = dict.fromkeys(COUNTS, 0)
    found = False
    for result in results:
        for key, n in (result.get() or {}).items():  # a CallResult, local or remote
            totals[key] += n
            found = True
    return totals if found else {}


def _torch_steps(optimizer) -> int:
    """The optimizer steps a torch optimizer has taken: Adam's per-parameter ``step`` count."""
    steps = [int(state["step"]) for state in optimizer.state.values() if "step" in state]
    return max(steps, default=0)


def optimizer_state(algo) -> dict[str, float]:
    """What a built algorithm's optimizers hold now, read from the optimizers themselves.

    ``learner/optimizer_steps``: the gradient steps the default optimizer (the policy's) has
    taken, on both stacks; per env step, it shows how a config's batch, minibatch, epoch and
    rollout settings were turned into updates (they differ between the stacks).
    ``learner/cur_lr`` (``learner/cur_lr_<optimizer>`` for SAC's several): the lr each optimizer
    of the first learner holds, on the new stack; the old stack logs cur_lr itself. RLlib's
    ``learner/<optimizer>_learning_rate`` is an exponential moving average of the lr
    (coefficient 0.01 per update), which lags a decaying schedule by a large part of the run."""
    learner_group = new_stack_learner_group(algo)
    if learner_group is None:  # framework=tf2: the local worker's policy trains (the learner
        # thread of IMPALA/APPO works on it too); a Keras optimizer counts its iterations
        optimizer = getattr(algo.env_runner.get_policy(), "_optimizer", None)
        iterations = getattr(optimizer, "iterations", None)
        return {} if iterations is None else {"learner/optimizer_steps": int(iterations.numpy())}

    def read(learner) -> dict[str, tuple[float, int]]:
        module_id = next(iter(learner.module.keys()))
        return {
            name: (float(optimizer.param_groups[0]["lr"]), _torch_steps(optimizer))
            for name, optimizer in learner.get_optimizers_for_module(module_id)
        }

    first = next(iter(learner_group.foreach_learner(read)), None)  # a CallResult
    state = (first.get() if first is not None else None) or {}
    out = {
        "learner/cur_lr" if name == "default_optimizer" else f"learner/cur_lr_{name}": lr
        for name, (lr, _) in state.items()
    }
    if "default_optimizer" in state:
        out["learner/optimizer_steps"] = state["default_optimizer"][1]
    return out
