"""The real configs compose, and bad input fails at compose time with a useful message."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from tests.conftest import CONF, ROOT, compose_cfg, group_options

GROUPS = ["env", "model", "algo", "framework", "logger", "debug"]


@pytest.mark.parametrize("group,option", [(g, o) for g in GROUPS for o in group_options(g)])
def test_every_config_choice_composes_and_resolves(group, option):
    cfg = compose_cfg([f"{group}={option}"])
    resolved = OmegaConf.to_container(cfg, resolve=True)  # no dangling ${...}
    assert resolved["model"]["obs_key"] == resolved["env"]["obs_key"]
    chosen_key = {"model": "action_head", "debug": None}.get(group, "name")
    if chosen_key:
        assert cfg[group][chosen_key] == option


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


@pytest.mark.parametrize("algo", group_options("algo"))
def test_schema_defaults_match_the_yaml(algo):
    """The YAML is what users read: the schema's defaults must not silently disagree with it."""
    from src.config import APPOAlgoConfig, DQNAlgoConfig, IMPALAAlgoConfig, PPOAlgoConfig

    schema = {
        "ppo": PPOAlgoConfig,
        "appo": APPOAlgoConfig,
        "impala": IMPALAAlgoConfig,
        "dqn": DQNAlgoConfig,
    }
    composed = OmegaConf.to_container(compose_cfg([f"algo={algo}"]).algo)
    assert composed == OmegaConf.to_container(OmegaConf.structured(schema[algo]))
