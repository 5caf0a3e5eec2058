"""Torch RLModules: masking, embeddings, obs splitting and errors, on real env spaces."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf
from ray.rllib.core.columns import Columns

from src.algos import build_algo_config
from src.envs import make_env
from src.errors import ConfigError
from src.models.spec import ActionHeadSpec
from src.models.torch.masking import FLOAT_MIN, embedding_logits, invalid_mass, mask_logits
from src.options import build as option
from tests.conftest import compose_cfg


def build(model: str, *overrides: str, n: int = 6, **env_overrides):
    cfg = compose_cfg([f"model={model}", *overrides])
    env_cfg = {
        **OmegaConf.to_container(cfg.env, resolve=True),
        "max_avail_actions": n,
        **env_overrides,
    }
    env = make_env(env_cfg)
    spec = option(cfg.model, "model").module_spec(option(cfg.algo, "algo"))
    spec.observation_space, spec.action_space = env.observation_space, env.action_space
    return spec.build(), env


def batch_from(env, size: int, seed: int = 0, mask: np.ndarray | None = None) -> dict:
    env.reset(seed=seed)
    obs = [env.observation_space.sample() for _ in range(size)]
    out = {k: torch.as_tensor(np.stack([o[k] for o in obs])) for k in obs[0]}
    out["action_mask"] = torch.as_tensor(
        np.stack([mask if mask is not None else env.action_mask() for _ in range(size)])
    )
    return {Columns.OBS: out}


def sample_actions(module, batch) -> torch.Tensor:
    logits = module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    return module.get_exploration_action_dist_cls().from_logits(logits).sample()


def test_mask_logits_clamps_instead_of_minus_inf():
    logits = torch.tensor([[3.0, -2.0, 0.5]])
    out = mask_logits(logits, torch.tensor([[1.0, 0.0, 1.0]]))
    assert torch.isfinite(out).all()
    assert out[0, 1] <= FLOAT_MIN / 2 and torch.equal(out[0, [0, 2]], logits[0, [0, 2]])


def test_mask_logits_gives_the_log_mask_numbers_forward_and_backward():
    """The forum's formulation, logits + clamp(log(mask)), against the one op used: bitwise the
    same scores, and the same gradients through a policy loss, its entropy and P(invalid)."""
    gen = torch.Generator().manual_seed(0)
    mask = (torch.rand(64, 600, generator=gen) < 0.3).float()
    mask[:, 0] = 1.0
    raw = torch.randn(64, 600, generator=gen) * 5

    def grads(op):
        logits = raw.clone().requires_grad_(True)
        scores = op(logits, mask)
        dist = torch.distributions.Categorical(logits=scores)
        actions = torch.multinomial(mask, 1, generator=torch.Generator().manual_seed(1))[:, 0]
        loss = -dist.log_prob(actions).mean() - 0.01 * dist.entropy().mean()
        loss = loss + invalid_mass(logits, mask).mean()
        loss.backward()
        return scores.detach(), logits.grad

    def log_mask(logits, m):
        return logits + torch.clamp(torch.log(m), min=FLOAT_MIN)

    scores, grad = grads(mask_logits)
    reference_scores, reference_grad = grads(log_mask)
    assert torch.equal(scores, reference_scores) and torch.equal(grad, reference_grad)
    assert torch.isfinite(grad).all()


@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_10k_samples_from_masked_logits_never_pick_an_invalid_action(model):
    module, env = build(model, n=10)
    batch = batch_from(env, 10_000)
    actions = sample_actions(module, batch)
    mask = batch[Columns.OBS]["action_mask"]
    assert mask.gather(1, actions[:, None]).min() == 1.0
    assert len(actions.unique()) == 2  # both valid actions are used: nothing else is broken


def test_unmasked_model_does_pick_invalid_actions():
    """The control for the test above: without the mask, invalid actions are sampled."""
    module, env = build("unmasked", "env.invalid_action=penalty", n=10)
    batch = batch_from(env, 2_000)
    actions = sample_actions(module, batch)
    assert batch[Columns.OBS]["action_mask"].gather(1, actions[:, None]).min() == 0.0


def test_masks_that_differ_per_row_are_respected():
    module, env = build("masked", n=6)
    masks = torch.zeros(600, 6)
    masks[torch.arange(600), torch.arange(600) % 6] = 1.0  # one different valid action per row
    batch = batch_from(env, 600)
    batch[Columns.OBS]["action_mask"] = masks
    actions = sample_actions(module, batch)
    assert torch.equal(actions, torch.arange(600) % 6)


def test_embedding_logits_are_the_dot_products():
    module, env = build("embedding", "model.apply_mask=false", "env.invalid_action=penalty")
    batch = batch_from(env, 32)
    obs = batch[Columns.OBS]
    logits = module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    intent = module.pi(module.encoder({Columns.OBS: obs["observations"]})["encoder_out"]["actor"])
    expected = torch.stack([obs["avail_actions"][b] @ intent[b] for b in range(32)])
    assert intent.shape == (32, 4)
    torch.testing.assert_close(logits, expected)
    torch.testing.assert_close(embedding_logits(intent, obs["avail_actions"]), expected)


def test_embedding_logits_with_mask_keep_valid_dot_products():
    module, env = build("embedding")
    batch = batch_from(env, 16)
    obs = batch[Columns.OBS]
    logits = module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    intent = module.pi(module.encoder({Columns.OBS: obs["observations"]})["encoder_out"]["actor"])
    dots = embedding_logits(intent, obs["avail_actions"])
    valid = obs["action_mask"].bool()
    torch.testing.assert_close(logits[valid], dots[valid])
    assert (logits[~valid] <= FLOAT_MIN / 2).all()


def test_learned_embedding_table_when_the_env_has_none():
    module, env = build(
        "embedding", "model.embeddings_source=learned", "model.embed_dim=3", embeddings=False
    )
    assert module.action_embeddings.shape == (6, 3)
    batch = batch_from(env, 8)
    logits = module.forward_exploration(batch)[Columns.ACTION_DIST_INPUTS]
    intent = module.pi(
        module.encoder({Columns.OBS: batch[Columns.OBS]["observations"]})["encoder_out"]["actor"]
    )
    valid = batch[Columns.OBS]["action_mask"].bool()
    torch.testing.assert_close(logits[valid], (intent @ module.action_embeddings.T)[valid])


@pytest.mark.parametrize("model", ["masked", "embedding"])
def test_no_nan_in_loss_or_gradients_with_one_valid_action(model):
    module, env = build(model)
    one_hot = np.zeros(6, dtype=np.float32)
    one_hot[2] = 1.0
    batch = batch_from(env, 64, mask=one_hot)
    out = module.forward_train(batch)
    dist = module.get_train_action_dist_cls().from_logits(out[Columns.ACTION_DIST_INPUTS])
    actions = dist.sample()
    assert (actions == 2).all()
    logp, entropy = dist.logp(actions), dist.entropy()
    assert torch.isfinite(logp).all() and torch.isfinite(entropy).all()
    assert torch.allclose(logp, torch.zeros_like(logp), atol=1e-5)
    values = module.compute_values(batch)
    (-(logp.mean()) - 0.01 * entropy.mean() + values.pow(2).mean()).backward()
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_forward_passes_leave_the_batch_untouched():
    module, env = build("masked")
    batch = batch_from(env, 4)
    keys = set(batch[Columns.OBS])
    module.forward_train(batch)
    module.compute_values(batch)
    module.forward_exploration(batch)
    assert isinstance(batch[Columns.OBS], dict) and set(batch[Columns.OBS]) == keys


def test_value_function_ignores_the_mask():
    module, env = build("masked")
    batch = batch_from(env, 8)
    values = module.compute_values(batch)
    batch[Columns.OBS]["action_mask"] = 1.0 - batch[Columns.OBS]["action_mask"]
    torch.testing.assert_close(values, module.compute_values(batch))


def test_network_sizes_come_from_the_model_config():
    module, _ = build("masked", "model.fcnet_hiddens=[32,16,8]", "model.fcnet_activation=relu")
    linears = [m for m in module.encoder.actor_encoder.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linears] == [32, 16, 8]
    assert any(isinstance(m, torch.nn.ReLU) for m in module.encoder.actor_encoder.modules())


def test_mask_of_the_wrong_shape_is_a_clear_error():
    from gymnasium import spaces

    cfg = compose_cfg()
    spec = option(cfg.model, "model").module_spec(option(cfg.algo, "algo"))
    spec.observation_space = spaces.Dict(
        {"action_mask": spaces.Box(0, 1, (5,)), "observations": spaces.Box(-1, 1, (4,))}
    )
    spec.action_space = spaces.Discrete(6)
    with pytest.raises(ConfigError, match=r"shape \(5,\).*Discrete\(6\).*\(6,\)"):
        spec.build()


def test_embedding_model_without_env_embeddings_names_the_fix():
    with pytest.raises(ConfigError, match="env.embeddings=true"):
        build("embedding", embeddings=False)


def test_unknown_action_head_is_a_clear_error():
    with pytest.raises(ConfigError, match="model=masked"):
        ActionHeadSpec.from_model_config({"action_head": "maskd"})


@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_mask_as_input_reaches_the_network_only_when_asked(algo):
    """The same observations with two different masks: an unmasked model scores them alike
    unless model.mask_as_input feeds the mask to its network."""
    scores = {}
    for as_input in (False, True):
        torch.manual_seed(0)
        cfg = compose_cfg(
            [f"algo={algo}", "model=unmasked", "env.invalid_action=penalty"]
            + [f"model.mask_as_input={str(as_input).lower()}"]
        )
        env = make_env(OmegaConf.to_container(cfg.env, resolve=True))
        module = build_algo_config(cfg).get_rl_module_spec(env=env).build()
        batch = batch_from(env, 4)
        flipped = {Columns.OBS: dict(batch[Columns.OBS])}
        flipped[Columns.OBS]["action_mask"] = 1.0 - batch[Columns.OBS]["action_mask"]
        with torch.no_grad():
            if algo == "dqn":  # its inference output is the greedy action: read the Q-values
                scores[as_input] = [
                    module.compute_q_values(b)["qf_preds"] for b in (batch, flipped)
                ]
            else:
                outputs = [module.forward_inference(b) for b in (batch, flipped)]
                scores[as_input] = [o[Columns.ACTION_DIST_INPUTS] for o in outputs]
    assert torch.equal(*scores[False])  # blind to the mask
    assert not torch.allclose(*scores[True])  # it reads the mask


@pytest.mark.parametrize("algo", ["ppo", "appo", "dqn"])
def test_normc_init_starts_torch_like_the_tf2_models(algo):
    """model.init=normc: every hidden unit's incoming weights have norm 1, the layers that
    output action scores and values norm 0.01, biases 0 (RLlib's old-stack TF init); the
    default keeps torch's own (norms far from both)."""

    def build(*overrides):
        cfg = compose_cfg([f"algo={algo}", *overrides])
        env = make_env(OmegaConf.to_container(cfg.env, resolve=True))
        return build_algo_config(cfg).get_rl_module_spec(env=env).build(), env

    module, _ = build("model.init=normc")
    outputs = {id(layer) for layer in module.output_layers()}
    linears = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert outputs and len(linears) > len(outputs)
    for layer in linears:
        norms = layer.weight.norm(dim=1)
        expected = 0.01 if id(layer) in outputs else 1.0
        assert torch.allclose(norms, torch.full_like(norms, expected), rtol=1e-4)
        assert not layer.bias.any()
    default, _ = build()
    pi = default.output_layers()[0]
    assert pi.bias.abs().sum() > 0 and not torch.allclose(
        pi.weight.norm(dim=1), torch.full((pi.out_features,), 0.01)
    )


def test_unknown_init_is_a_clear_error():
    with pytest.raises(ConfigError, match="model.init='xavier': choose one of"):
        build("masked", "model.init=xavier")


def test_mask_prediction_head_exists_only_when_asked_and_leaves_the_policy_as_it_was():
    """model.mask_prediction_coeff > 0 adds a head on the policy's features (train pass only);
    the networks RLlib builds start the same as without it, so the policy acts the same."""
    from src.models.torch.actor_critic import MASK_PREDICTION_LOGITS

    torch.manual_seed(0)
    plain, env = build("masked")
    torch.manual_seed(0)
    predicting, _ = build("masked", "model.mask_prediction_coeff=0.5")
    batch = batch_from(env, 8)
    assert not hasattr(plain, "mask_predictor")
    assert MASK_PREDICTION_LOGITS not in plain.forward_train(batch)
    out = predicting.forward_train(batch)
    assert out[MASK_PREDICTION_LOGITS].shape == (8, env.action_space.n)
    assert MASK_PREDICTION_LOGITS not in predicting.forward_exploration(batch)
    for a, b in ((plain.forward_exploration(batch), predicting.forward_exploration(batch)),
                 (plain.forward_train(batch), out)):  # fmt: skip
        torch.testing.assert_close(a[Columns.ACTION_DIST_INPUTS], b[Columns.ACTION_DIST_INPUTS])


def test_mask_prediction_loss_adds_its_weighted_cross_entropy_and_trains_the_features():
    """The learner's loss is RLlib's plus coeff * BCE(predicted mask, mask), over the steps the
    loss mask keeps; its gradient reaches the policy's encoder, not the policy head."""
    from ray.rllib.utils.metrics.metrics_logger import MetricsLogger

    from src.learners import MASK_PREDICTION_ACCURACY, MASK_PREDICTION_LOSS, MaskPredictionLossMixin
    from src.models.torch.actor_critic import MASK_PREDICTION_LOGITS

    class RLlibLoss:  # stands in for PPO's, APPO's or IMPALA's own loss
        def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
            return torch.tensor(2.0)

    class Learner(MaskPredictionLossMixin, RLlibLoss):
        pass

    module, env = build("masked", "model.mask_prediction_coeff=0.5")
    rng = np.random.default_rng(0)
    masks = (rng.random((16, env.action_space.n)) < 0.5).astype(np.float32)
    masks[:, 0] = 1.0
    batch = batch_from(env, 16)
    batch[Columns.OBS]["action_mask"] = torch.as_tensor(masks)
    keep = torch.arange(16) % 4 != 3  # e.g. PPO's extra bootstrap steps
    batch[Columns.LOSS_MASK] = keep
    learner = Learner()
    learner.module, learner.metrics = {"p": module}, MetricsLogger()
    fwd_out = module.forward_train(batch)
    loss = learner.compute_loss_for_module(module_id="p", config=None, batch=batch, fwd_out=fwd_out)

    logits, target = fwd_out[MASK_PREDICTION_LOGITS][keep], torch.as_tensor(masks)[keep]
    bce = -(
        target * torch.log(torch.sigmoid(logits))
        + (1 - target) * torch.log(1 - torch.sigmoid(logits))
    )
    torch.testing.assert_close(loss, 2.0 + 0.5 * bce.mean())
    accuracy = ((logits > 0) == (target > 0)).float().mean()
    torch.testing.assert_close(learner.metrics.peek(("p", MASK_PREDICTION_LOSS)), bce.mean())
    torch.testing.assert_close(learner.metrics.peek(("p", MASK_PREDICTION_ACCURACY)), accuracy)
    loss.backward()
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0
        for p in module.encoder.actor_encoder.parameters()
    )
    assert all(p.grad is None for p in module.pi.parameters())
    # Without the head (coefficient 0), RLlib's loss is left as it is.
    plain, _ = build("masked")
    learner.module = {"p": plain}
    assert (
        learner.compute_loss_for_module(
            module_id="p", config=None, batch=batch, fwd_out=plain.forward_train(batch)
        )
        == 2.0
    )
