"""Entry point: ``python -m src.run model=masked algo=ppo`` (see conf/config.yaml)."""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from src.config import register_configs
from src.errors import ConfigError
from src.frameworks import set_framework_env

register_configs()


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> float | None:
    set_framework_env(skip_tf=cfg.framework.name != "tf2")
    from src.train import train  # imports RLlib: after the framework's environment is set

    try:
        summary = train(cfg, Path(HydraConfig.get().runtime.output_dir))
    except ConfigError as err:
        print(f"maskbench: configuration error: {err}", file=sys.stderr)
        sys.exit(2)
    return summary["final_return_mean"]  # the objective Hydra sweepers (Optuna) maximise


if __name__ == "__main__":
    main()
