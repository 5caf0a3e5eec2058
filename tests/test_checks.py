"""Start-up checks: combinations that cannot work fail before Ray starts, naming the fix."""

from __future__ import annotations

import numpy as np
import pytest

from src.errors import ConfigError
from src.models.spec import check_mask_values
from tests.conftest import check_run, compose_cfg


def check(*overrides: str) -> None:
    check_run(compose_cfg(list(overrides)))


@pytest.mark.parametrize(
    "overrides",
    [
        ["model=masked"],
        ["model=embedding"],
        ["model=unmasked", "env.invalid_action=penalty"],
        ["model=unmasked", "env.invalid_action=terminate"],
        ["model=embedding", "model.apply_mask=false", "env.invalid_action=penalty"],
        ["model=embedding", "model.embeddings_source=learned", "env.embeddings=false"],
        ["model.init=normc"],
        ["algo=dqn", "model.init=normc"],
        ["algo=appo", "model.mask_prediction_coeff=0.5"],
    ],
)
def test_valid_combinations_pass(overrides):
    check(*overrides)


@pytest.mark.parametrize(
    "overrides,fix",
    [
        (["model=unmasked"], "env.invalid_action=penalty"),
        (["model=embedding", "model.apply_mask=false"], "env.invalid_action=penalty"),
        (["model=embedding", "env.embeddings=false"], "model.embeddings_source=learned"),
        (["model.mask_key=legal_moves"], "model.mask_key"),
        (["model.obs_key=state"], "model.obs_key"),
        (["algo=sac", "model.init=normc"], "model.init=default"),
        (["algo=dqn", "model.mask_prediction_coeff=1"], "model.mask_prediction_coeff=0"),
        (["framework=tf2", "model.mask_prediction_coeff=1"], "framework=torch"),
        (["model.mask_prediction_coeff=-1"], "0 \\(off\\) or more"),
    ],
)
def test_impossible_combinations_name_the_fix(overrides, fix):
    with pytest.raises(ConfigError, match=fix):
        check(*overrides)


def test_mask_values_must_be_binary_with_a_valid_action():
    check_mask_values(np.array([[0, 1, 0], [1, 1, 0]]))
    with pytest.raises(ConfigError, match="only 0 and 1"):
        check_mask_values(np.array([0.5, 1.0]))
    with pytest.raises(ConfigError, match="every action invalid"):
        check_mask_values(np.array([[0, 1], [0, 0]]))
