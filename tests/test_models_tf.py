"""TensorFlow ModelV2s (framework=tf2): masking, embeddings, no NaN, Q-values for old-stack DQN."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from src.envs import make_env
from src.options import build as option
from tests.conftest import compose_cfg

tf = pytest.importorskip("tensorflow")
# RLlib's try_import_tf turns v2 behaviour off when it imports TF first; framework=tf2 turns
# eager execution back on before building policies, and so do these tests.
tf.compat.v1.enable_eager_execution()
N = 6


def build(model: str, algo: str = "ppo", *overrides: str, **env_overrides):
    cfg = compose_cfg([f"model={model}", f"algo={algo}", *overrides])
    env = make_env({**OmegaConf.to_container(cfg.env, resolve=True), **env_overrides})
    model_cfg = option(cfg.model, "model").tf_model_config(option(cfg.algo, "algo"))
    cls = model_cfg.pop("custom_model")
    custom = model_cfg.pop("custom_model_config")
    kwargs = {"q_hiddens": [], "dueling": False} if algo == "dqn" else {}
    return cls(env.observation_space, env.action_space, N, model_cfg, "m", **kwargs, **custom), env


def obs_batch(env, masks: np.ndarray) -> dict:
    env.reset(seed=0)
    rows = [env.observation_space.sample() for _ in range(len(masks))]
    obs = {k: tf.constant(np.stack([r[k] for r in rows])) for k in rows[0]}
    obs["action_mask"] = tf.constant(masks, dtype=tf.float32)
    return obs


def two_valid(rows: int) -> np.ndarray:
    masks = np.zeros((rows, N), dtype=np.float32)
    masks[np.arange(rows), np.arange(rows) % N] = 1.0
    masks[np.arange(rows), (np.arange(rows) + 3) % N] = 1.0
    return masks


@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_10k_samples_never_pick_an_invalid_action(model):
    net, env = build(model)
    masks = two_valid(10_000)
    logits, _ = net({"obs": obs_batch(env, masks)})
    actions = tf.random.categorical(logits, 1, seed=0)[:, 0].numpy()
    assert masks[np.arange(10_000), actions].min() == 1.0
    assert np.isfinite(logits.numpy()).all()


def test_unmasked_tf_model_does_pick_invalid_actions():
    net, env = build("unmasked", "ppo", "env.invalid_action=penalty")
    masks = two_valid(2_000)
    logits, _ = net({"obs": obs_batch(env, masks)})
    actions = tf.random.categorical(logits, 1, seed=0)[:, 0].numpy()
    assert masks[np.arange(2_000), actions].min() == 0.0


@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_no_nan_in_loss_or_gradients_with_one_valid_action(model):
    net, env = build(model)
    masks = np.zeros((64, N), dtype=np.float32)
    masks[:, 4] = 1.0
    obs = obs_batch(env, masks)
    with tf.GradientTape() as tape:
        logits, _ = net({"obs": obs})
        logp = tf.nn.log_softmax(logits)
        entropy = -tf.reduce_sum(tf.exp(logp) * logp, axis=-1)
        loss = (
            -tf.reduce_mean(logp[:, 4])
            - 0.01 * tf.reduce_mean(entropy)
            + tf.reduce_mean(net.value_function() ** 2)
        )
    grads = tape.gradient(loss, net.trainable_variables())
    assert np.allclose(logp[:, 4].numpy(), 0.0, atol=1e-5)
    assert all(g is None or np.isfinite(g.numpy()).all() for g in grads)
    assert any(g is not None for g in grads)


def test_embedding_logits_are_the_dot_products():
    net, env = build("embedding", "ppo", "model.apply_mask=false", "env.invalid_action=penalty")
    obs = obs_batch(env, two_valid(16))
    logits, _ = net({"obs": obs})
    intent, _ = net.internal_model({"obs": obs["observations"]})
    expected = np.einsum("be,bne->bn", intent.numpy(), obs["avail_actions"].numpy())
    np.testing.assert_allclose(logits.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_learned_embedding_table_is_trainable():
    net, env = build("embedding", "ppo", "model.embeddings_source=learned", embeddings=False)
    assert net.action_embeddings.shape == (N, 4)
    assert any(v is net.action_embeddings for v in net.trainable_variables())


@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_dqn_q_values_of_invalid_actions_are_exactly_the_float_minimum(model):
    """RLlib's old EpsilonGreedy draws random actions among Q != float32.min: exact, not close."""
    net, env = build(model, "dqn")
    masks = two_valid(32)
    q, _ = net({"obs": obs_batch(env, masks)})
    q = q.numpy()
    assert (q[masks == 0] == np.float32(tf.float32.min)).all()
    assert (q[masks == 1] > -1e30).all()
    assert q.shape == (32, N)


def test_tf_model_config_selects_the_dqn_model_only_for_dqn():
    def tf_config(algo: str) -> dict:
        cfg = compose_cfg([f"algo={algo}"])
        return option(cfg.model, "model").tf_model_config(option(cfg.algo, "algo"))

    assert tf_config("dqn")["custom_model"].__name__ == "DQNActionHeadTFModel"
    assert tf_config("appo")["custom_model"].__name__ == "ActionHeadTFModel"
    assert tf_config("ppo")["custom_model_config"]["action_head"] == "masked"


@pytest.mark.parametrize("override", ["algo.dueling=true", "algo.num_atoms=51"])
def test_tf2_dqn_heads_that_would_undo_the_mask_are_refused(override):
    from src.algos import build_algo_config
    from src.errors import ConfigError

    with pytest.raises(ConfigError, match="algo.dueling=false and algo.num_atoms=1"):
        build_algo_config(compose_cfg(["framework=tf2", "algo=dqn", override]))


def test_tf_mask_as_input_reaches_the_network():
    model, env = build("unmasked", "ppo", "model.mask_as_input=true", invalid_action="penalty")
    masks = two_valid(4)
    out, _ = model({"obs": obs_batch(env, masks)}, [], None)
    flipped, _ = model({"obs": obs_batch(env, 1.0 - masks)}, [], None)
    assert not np.allclose(out.numpy(), flipped.numpy())
    assert model.internal_model.obs_space.shape == (4 + N,)
