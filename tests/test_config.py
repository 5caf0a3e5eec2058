"""The real configs compose, and bad input fails at compose time with a useful message."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import yaml
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from src.options import AXES, build, import_target, option_targets
from tests.conftest import CONF, ROOT, compose_cfg, group_options

GROUPS = ["env", "model", "algo", "framework", "logger", "debug"]


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in group_options(g)])
def test_every_config_choice_composes_and_resolves(group, option):
    cfg = compose_cfg([f"{group}={option}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)  # no dangling ${...}
    assert resolved["model"]["obs_key"] == resolved["env"]["obs_key"]
    chosen_key = {"model": "action_head", "debug": None}.get(group, "name")
    if chosen_key:
        # A variant of a model is named after its action head (unmasked_sees_mask: unmasked).
        chosen = cfg[group][chosen_key]
        assert chosen == option or (group == "model" and option.startswith(f"{chosen}_"))


def test_defaults_are_masked_ppo_on_torch_in_raise_mode():
    cfg = compose_cfg()
    assert (cfg.model.action_head, cfg.algo.name, cfg.framework.name) == ("masked", "ppo", "torch")
    assert cfg.env.layout == "fixed" and cfg.env.invalid_action == "raise"


def test_debug_smoke_overrides_the_budgets_of_the_main_config():
    default, smoke = compose_cfg(), compose_cfg(["debug=smoke"])
    assert smoke.stop.env_steps < default.stop.env_steps and smoke.stop.target_return is None
    assert smoke.metrics.return_window < default.metrics.return_window
    # The command line still wins over the debug preset.
    assert compose_cfg(["debug=smoke", "stop.env_steps=7"]).stop.env_steps == 7


def test_unknown_choice_lists_the_available_options():
    with pytest.raises(MissingConfigException) as err:
        compose_cfg(["model=maskd"])
    assert "masked" in str(err.value) and "embedding" in str(err.value)


@pytest.mark.parametrize("override", ["algo.lrr=0.1", "env.layuot=fixed", "stop.env_step=10"])
def test_mistyped_key_on_the_command_line_fails(override):
    with pytest.raises(ConfigCompositionException):
        compose_cfg([override])


def test_mistyped_key_in_a_yaml_file_fails(tmp_path):
    conf = tmp_path / "conf"
    shutil.copytree(CONF, conf)
    (conf / "algo" / "ppo_typo.yaml").write_text(
        "defaults:\n  - ppo_schema\n  - _self_\nname: ppo\nnum_epoch: 3\n"
    )
    with pytest.raises((ConfigCompositionException, ConfigKeyError, ValidationError)) as err:
        compose_cfg(["algo=ppo_typo"], config_dir=conf)
    assert "num_epoch" in str(err.value) + str(err.value.__cause__)


def test_wrong_type_fails():
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["algo.num_epochs=many"])


def test_cli_prints_the_composed_config():
    out = subprocess.run(
        [sys.executable, "-m", "src.run", "--cfg", "job", "model=embedding", "algo.lr=0.01"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    cfg = OmegaConf.create(out)
    assert cfg.model.action_head == "embedding" and cfg.algo.lr == 0.01


def test_any_rllib_training_argument_can_be_set_through_algo_extra():
    from src.algos import build_algo_config

    cfg = compose_cfg(["algo=impala", "+algo.extra.vtrace_clip_rho_threshold=2.5"])
    assert build_algo_config(cfg).vtrace_clip_rho_threshold == 2.5
    with pytest.raises(TypeError, match="vtrace_clip_rho_treshold"):
        build_algo_config(compose_cfg(["algo=impala", "+algo.extra.vtrace_clip_rho_treshold=2.5"]))


OPTIONS = sorted(option_targets().items())
AXIS_BASES = {
    "env": "src.envs.base.EnvConfig",
    "model": "src.models.Model",
    "algo": "src.algos.base.Algo",
    "framework": "src.frameworks.Framework",
}


def test_every_option_of_the_four_axes_names_a_class():
    options = {(g, o) for g in AXES for o in group_options(g)}
    assert options == {key for key, _ in OPTIONS}  # no option YAML without its _target_


@pytest.mark.parametrize("key,target", OPTIONS, ids=[f"{g}/{o}" for (g, o), _ in OPTIONS])
def test_an_option_is_its_class_with_the_yaml_values_on_top(key, target):
    """The YAML's schema is its _target_ class, and the composed option builds that class."""
    group, option = key
    cls = import_target(target)
    assert issubclass(cls, import_target(AXIS_BASES[group]))
    raw = yaml.safe_load((CONF / group / f"{option}.yaml").read_text())
    assert raw["defaults"][0] == f"{option}_schema"
    cfg = compose_cfg(
        [f"{group}={option}"] + (["env.entry_point=gymnasium:make"] if option == "custom" else [])
    )
    built = build(cfg[group], group)
    assert type(built) is cls
    assert OmegaConf.to_container(cfg[group], resolve=True) == {
        "_target_": target,
        **built.as_dict(),
    }


@pytest.mark.parametrize("key,target", OPTIONS, ids=[f"{g}/{o}" for (g, o), _ in OPTIONS])
def test_no_default_is_written_twice(key, target):
    """A value in an option's YAML must differ from its class's default: else it is a copy
    that can silently drift (the class holds each default once, with its meaning)."""
    group, option = key
    raw = yaml.safe_load((CONF / group / f"{option}.yaml").read_text())
    defaults = OmegaConf.to_container(OmegaConf.structured(import_target(target)))
    copies = [
        k for k, v in raw.items() if k not in ("defaults", "_target_") and defaults.get(k) == v
    ]
    assert not copies, f"conf/{group}/{option}.yaml repeats its class's defaults: {copies}"


def test_a_typo_in_an_option_class_field_fails_like_one_in_a_yaml():
    with pytest.raises(ConfigCompositionException):
        compose_cfg(["model.apply_mask=false"])  # only model=embedding has apply_mask
    assert compose_cfg(["model=embedding", "model.apply_mask=false"]).model.apply_mask is False


@pytest.mark.parametrize("framework", ["torch", "tf2"])
def test_lr_final_decays_lr_linearly_over_the_budget(framework):
    from src.algos import build_algo_config

    overrides = [f"framework={framework}", "algo=impala", "algo.lr=0.002", "algo.lr_final=0.0002"]
    built = build_algo_config(compose_cfg([*overrides, "algo.budget_env_steps=1000"]))
    schedule = [[0, 0.002], [1000, 0.0002]]
    if framework == "torch":  # the new stack takes the schedule as lr
        assert built.lr == schedule
    else:  # the old stack takes a start lr and lr_schedule
        assert built.lr == 0.002 and built.lr_schedule == schedule
    constant = build_algo_config(compose_cfg([*overrides[:3], "algo.lr_final=null"]))
    assert constant.lr == 0.002 and getattr(constant, "lr_schedule", None) is None


@pytest.mark.parametrize("algo", group_options("algo"))
def test_the_network_width_follows_the_algorithm_unless_the_model_sets_it(algo):
    cfg = compose_cfg([f"algo={algo}"])
    assert cfg.model.fcnet_hiddens == cfg.algo.fcnet_hiddens
    assert compose_cfg([f"algo={algo}", "algo.fcnet_hiddens=[8]"]).model.fcnet_hiddens == [8]
    assert compose_cfg([f"algo={algo}", "model.fcnet_hiddens=[5,5]"]).model.fcnet_hiddens == [5, 5]


def test_learner_resources_reach_rllib_and_bad_ones_name_the_fix(monkeypatch):
    import torch

    from src.algos import build_algo_config
    from src.errors import ConfigError

    config = build_algo_config(compose_cfg(["resources.num_learners=2"]))
    assert config.num_learners == 2 and config.num_gpus_per_learner == 0
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="torch sees no GPU"):
        build_algo_config(compose_cfg(["resources.num_gpus_per_learner=1"]))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # as on a GPU machine
    gpu = build_algo_config(
        compose_cfg(["algo=dqn", "resources.num_learners=1", "resources.num_gpus_per_learner=1"])
    )
    assert gpu.num_learners == 1 and gpu.num_gpus_per_learner == 1
    with pytest.raises(ConfigError, match="framework=tf2 runs RLlib's old API stack"):
        build_algo_config(compose_cfg(["framework=tf2", "resources.num_learners=1"]))


@pytest.mark.parametrize("framework", ["torch", "tf2"])
@pytest.mark.parametrize(
    "overrides,batch,fix",
    [
        (["algo=impala"], 800, "resources.num_envs_per_env_runner=4 makes it 200"),
        (["algo=appo"], 800, "resources.num_envs_per_env_runner=5 makes it 250"),
        (["algo=appo", "algo.train_batch_size_per_learner=1000"], 1600, "=20 makes it 1000"),
        (["algo=impala", "algo.train_batch_size_per_learner=130"], 800, "a multiple of"),
        (["algo=impala", "resources.num_envs_per_env_runner=4"], 200, None),
    ],
)
def test_impala_and_appo_say_when_the_learner_batch_is_not_the_batch_size(
    framework, overrides, batch, fix, capsys
):
    # RLlib queues whole samples (16 envs x rollout_fragment_length 50 = 800 env steps) until
    # they reach train_batch_size_per_learner: below 800 the setting changes nothing, silently.
    from src.algos import build_algo_config
    from src.options import Axes

    cfg = compose_cfg([f"framework={framework}", *overrides])
    built = build_algo_config(cfg)
    assert Axes.from_cfg(cfg).algo.learner_batch_env_steps(built) == batch
    printed = capsys.readouterr().out
    if fix is None:
        assert "trains on batches" not in printed
    else:
        assert f"trains on batches of {batch} env steps" in printed and fix in printed
