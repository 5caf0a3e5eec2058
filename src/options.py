"""The four axes of a run (env, model, algo, framework): one YAML and one class per option.

``conf/<group>/<option>.yaml`` names its class with ``_target_``; the class is a dataclass that
owns the option: its defaults (once, with their meaning), its RLlib wiring and its checks
against the other axes. The same dataclass is the option's structured-config schema, so a
mistyped key fails at compose time (Hydra's "Key 'x' not in ...")::

    # conf/algo/ppo.yaml
    defaults:
      - ppo_schema        # = the _target_ class below, registered by register_configs()
      - _self_
    _target_: src.algos.ppo.PPO

``register_configs`` reads every option YAML's ``_target_`` and stores that class as
``<option>_schema`` in its group: a new option is a YAML and a class, nothing to register.
Option modules import RLlib inside methods only: composing a config must not import RLlib
(the framework's environment variables are set after composing, before RLlib is imported).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from hydra.utils import instantiate
from omegaconf import MISSING, DictConfig, OmegaConf

from src.errors import ConfigError

CONF = Path(__file__).resolve().parents[1] / "conf"
AXES = ("env", "model", "algo", "framework")


@dataclass
class Option:
    """Base of every option class: ``_target_`` comes from the YAML (written once, there)."""

    _target_: str = field(default=MISSING, repr=False)

    def keys(self) -> list[str]:
        return [f.name for f in fields(self) if f.name != "_target_"]

    def as_dict(self) -> dict[str, Any]:
        """The option's values as a plain dict (what RLlib's env and model configs receive)."""
        return {k: getattr(self, k) for k in self.keys()}


def import_target(target: str) -> type:
    """``package.module.Class`` (or ``package.module:Class``) -> the class."""
    module, _, name = target.replace(":", ".").rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"_target_: {target!r} names no class ({err}).") from None


def option_targets(conf: Path = CONF) -> dict[tuple[str, str], str]:
    """(group, option) -> the ``_target_`` of every option YAML of the four axes."""
    out = {}
    for group in AXES:
        for path in sorted((conf / group).glob("*.yaml")):
            target = (yaml.safe_load(path.read_text()) or {}).get("_target_")
            if target:
                out[(group, path.stem)] = target
    return out


def register_configs(conf: Path = CONF) -> None:
    """Store each option's class as ``<option>_schema`` (its YAML's defaults list names it),
    and the top-level schema (``src.config``)."""
    from src.config import register_top_level

    cs = ConfigStore.instance()
    register_top_level(cs)
    # resume=<run dir> runs in that dir (hydra.run.dir) and keeps its .hydra (conf/config.yaml).
    OmegaConf.register_new_resolver(
        "maskbench_run_dir", lambda resume, new: resume or new, replace=True
    )
    OmegaConf.register_new_resolver(
        "maskbench_hydra_subdir",
        lambda resume: ".hydra/resumed" if resume else ".hydra",
        replace=True,
    )
    for (group, option), target in option_targets(conf).items():
        cs.store(group=group, name=f"{option}_schema", node=import_target(target))


@dataclass
class Axes:
    """The run's four options, as objects (``instantiate`` of their config groups)."""

    env: Any
    model: Any
    algo: Any
    framework: Any

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> Axes:
        return cls(**{axis: build(cfg[axis], axis) for axis in AXES})

    def check(self) -> None:
        """Every axis checks itself against the others; the first problem raises ConfigError."""
        for axis in AXES:
            getattr(self, axis).check(self)


def build(node: DictConfig, axis: str) -> Any:
    if "_target_" not in node:
        raise ConfigError(
            f"cfg.{axis} has no _target_: every conf/{axis}/*.yaml names its class "
            f"(`_target_: src...`); see src/options.py."
        )
    return instantiate(node, _convert_="all")
