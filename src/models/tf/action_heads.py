"""TensorFlow (RLlib's old API stack, ModelV2) versions of the three models.

What the seeds' working example should have been: the mask is added as log(mask) clamped to
the float minimum (never -inf, so no NaN in losses or gradients), the network sees only the
``observations`` part of the Dict, and the same ``ActionHeadSpec`` as the torch modules decides
masked / unmasked / embedding.

* ``ActionHeadTFModel``: PPO, APPO, IMPALA (policy logits + value function).
* ``DQNActionHeadTFModel``: DQN's Q-model. With ``hiddens=[]`` and ``dueling=False`` (set by
  ``src.algos`` for framework=tf2) the old DQN uses this model's output directly as Q-values, so
  the mask governs greedy actions, epsilon draws (RLlib's EpsilonGreedy skips actions whose Q is
  exactly the float minimum) and the TD target's next-state Q-values alike.
"""

from __future__ import annotations

from ray.rllib.algorithms.dqn.distributional_q_tf_model import DistributionalQTFModel
from ray.rllib.models.tf.fcnet import FullyConnectedNetwork
from ray.rllib.models.tf.tf_modelv2 import TFModelV2
from ray.rllib.utils.framework import try_import_tf

from src.models.spec import ActionHeadSpec

_, tf, _ = try_import_tf()

FLOAT_MIN = tf.float32.min


def mask_logits(logits, mask):
    """The logits where the action is valid, the float minimum where it is not: never -inf,
    never NaN; the same numbers as ``logits + log(mask)`` with log(0) clamped (the torch twin,
    src/models/torch/masking.py, says why one op)."""
    return tf.where(mask > 0, logits, tf.fill(tf.shape(logits), FLOAT_MIN))


def embedding_logits(intent, embeddings):
    if len(embeddings.shape) == 2:  # a learned table shared by the batch
        return tf.matmul(intent, embeddings, transpose_b=True)
    return tf.reduce_sum(embeddings * tf.expand_dims(intent, 1), axis=2)


class _ActionHeads:
    """Builds the network on the observations part and turns its output into action scores."""

    def _build_action_heads(self, obs_space, action_space, num_outputs, model_config, name, custom):
        full_space = getattr(obs_space, "original_space", obs_space)
        self.head_spec = spec = ActionHeadSpec.from_model_config(custom)
        spec.check_spaces(full_space, action_space)
        out_dim = num_outputs
        self.action_embeddings = None
        if spec.action_head == "embedding":
            env_dim = spec.env_embeddings_dim(full_space)
            out_dim = env_dim or spec.embed_dim
            if env_dim is None:
                init = tf.random.normal((action_space.n, out_dim), stddev=0.1)
                self.action_embeddings = tf.Variable(init, name=name + "_action_embeddings")
        self.internal_model = FullyConnectedNetwork(
            spec.network_input_space(full_space),
            action_space,
            out_dim,
            model_config,
            name + "_internal",
        )

    def _action_scores(self, obs):
        spec = self.head_spec
        features = obs[spec.obs_key]
        if spec.mask_as_input:  # the mask as input features, after the observations
            flat = tf.reshape(features, [tf.shape(features)[0], -1])
            features = tf.concat([flat, tf.cast(obs[spec.mask_key], flat.dtype)], axis=-1)
        out, _ = self.internal_model({"obs": features})
        if spec.action_head == "embedding":
            table = self.action_embeddings
            out = embedding_logits(out, obs[spec.embeddings_key] if table is None else table)
        if spec.uses_mask:
            out = mask_logits(out, obs[spec.mask_key])
        return out


class ActionHeadTFModel(_ActionHeads, TFModelV2):
    def __init__(self, obs_space, action_space, num_outputs, model_config, name, **custom):
        TFModelV2.__init__(self, obs_space, action_space, num_outputs, model_config, name)
        self._build_action_heads(obs_space, action_space, num_outputs, model_config, name, custom)

    def forward(self, input_dict, state, seq_lens):
        return self._action_scores(input_dict["obs"]), state

    def value_function(self):
        return self.internal_model.value_function()


class DQNActionHeadTFModel(_ActionHeads, DistributionalQTFModel):
    def __init__(self, obs_space, action_space, num_outputs, model_config, name, **kwargs):
        dqn_keys = (
            "q_hiddens",
            "dueling",
            "num_atoms",
            "use_noisy",
            "v_min",
            "v_max",
            "sigma0",
            "add_layer_norm",
        )
        dqn_kwargs = {k: kwargs.pop(k) for k in dqn_keys if k in kwargs}
        DistributionalQTFModel.__init__(
            self, obs_space, action_space, num_outputs, model_config, name, **dqn_kwargs
        )
        self._build_action_heads(obs_space, action_space, num_outputs, model_config, name, kwargs)

    def forward(self, input_dict, state, seq_lens):
        return self._action_scores(input_dict["obs"]), state
