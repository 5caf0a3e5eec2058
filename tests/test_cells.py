"""Cells derived from the runs' configs (src.cells), on configs composed from conf/ as runs do."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from src.cells import derive, flatten, role
from src.tracking import cell_name
from tests.conftest import compose_cfg


def flat(*overrides: str) -> dict[str, str]:
    return flatten(OmegaConf.to_container(compose_cfg(list(overrides)), resolve=True))


def test_flatten_nests_keys_and_keeps_lists_whole():
    out = flatten({"a": {"b": 1, "c": [1, 2]}, "d": None, "e": {}})
    assert out == {"a.b": "1", "a.c": "[1, 2]", "d": "null", "e": "{}"}


def test_seeds_are_repetitions_and_bookkeeping_is_not_a_cell():
    configs = [
        flat(f"seed={s}", f"logger.tags=[t{s}]", f"checkpoint.every_n_iters={s}") for s in (0, 1, 2)
    ]
    design = derive(configs)
    assert design.varying == () and design.labels == ()
    assert len({design.cell(c) for c in configs}) == 1


def test_the_headline_grid_is_labelled_by_named_options_only():
    configs = [
        flat(f"algo={a}", f"model={m}", f"env.layout={lay}", f"seed={s}")
        for a in ("ppo", "dqn")
        for m in ("masked", "unmasked")
        for lay in ("fixed", "per_episode")
        for s in (0, 1)
    ]
    design = derive(configs)
    # Switching algo changes every algo.* default; only the name is needed to tell cells apart.
    assert {"algo.lr", "algo._target_"} <= set(design.varying)
    # A field of one algorithm only (DQN's double_q), the same in all its runs, splits nothing.
    assert not {"algo.double_q", "algo.num_epochs"} & set(design.varying)
    assert design.labels == ("algo.name", "env.layout", "model.action_head")
    assert len({design.cell(c) for c in configs}) == 8
    c = configs[0]
    assert design.part(c, "row") == "ppo"
    assert design.part(c, "treatment") == "masked"
    assert design.part(c, "facet") == "layout=fixed"


def test_an_option_outside_any_list_makes_its_own_cells():
    """Two learning rates are two cells, not one cell with twice the seeds."""
    configs = [flat(f"algo.lr={lr}", f"seed={s}") for lr in (1e-3, 3e-4) for s in (0, 1, 2)]
    design = derive(configs)
    assert design.labels == ("algo.lr",)
    assert len({design.cell(c) for c in configs}) == 2
    assert design.part(configs[0], "row") == "lr=0.001"
    # Likewise an option of the env the old list did not know (the games' opponent).
    games = [flat("env=tictactoe", f"env.opponent={o}") for o in ("random", "heuristic")]
    assert derive(games).labels == ("env.opponent",)


def test_a_key_older_runs_lack_splits_cells_only_where_the_others_disagree():
    # Runs made before the code had model.mask_as_input ran at its default: the same cells.
    old = [flat(f"model={m}", f"seed={s}") for m in ("masked", "unmasked") for s in (0, 1)]
    for c in old:
        del c["model.mask_as_input"]
    new = [flat(f"model={m}", f"seed={s}") for m in ("masked", "unmasked") for s in (2, 3)]
    design = derive(old + new)
    assert design.labels == ("model.action_head",)
    assert len({design.cell(c) for c in old + new}) == 2
    # Where the runs that have it disagree, the runs without it are a cell of their own.
    sees = [flat("model=unmasked_sees_mask", f"seed={s}") for s in (0, 1)]
    design = derive(old + new + sees)
    assert "model.mask_as_input" in design.varying
    assert len({design.cell(c) for c in old + new + sees}) == 5


def test_roles_of_keys():
    assert role("model.action_head") == role("env.invalid_penalty") == "treatment"
    assert role("model.embeddings_source") == "treatment"
    assert role("algo.name") == role("framework.name") == role("algo.lr") == "row"
    assert role("env.layout") == role("env.max_avail_actions") == role("stop.env_steps") == "facet"
    # A comparison of frameworks: they are the treatment, and the model joins the rows.
    assert role("framework.name", ("framework",)) == "treatment"
    assert role("model.action_head", ("framework",)) == role("algo.name", ("framework",)) == "row"
    assert role("env.layout", ("framework",)) == "facet"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ([], "defaults"),
        (["seed=3"], "defaults"),
        (["seed=3", "model=unmasked", "algo=dqn", "logger=none"], "algo=dqn,model=unmasked"),
        (
            ["+algo.extra.foo=1", "env.layout=per_episode"],
            "+algo.extra.foo=1,env.layout=per_episode",
        ),
    ],
)
def test_the_w_and_b_cell_is_the_overrides_but_the_seed(overrides, expected):
    assert cell_name(overrides) == expected


def test_a_treatment_switch_is_named_when_on_and_left_out_when_off():
    """unmasked_sees_mask beside masked and unmasked: "unmasked, mask_as_input", not a column of
    "=False"s; a switch that is not a treatment keeps key=value."""
    configs = [
        flat("model=masked"),
        flat("model=unmasked", "env.invalid_action=penalty"),
        flat("model=unmasked_sees_mask", "env.invalid_action=penalty"),
    ]
    design = derive(configs)
    assert [design.part(c, "treatment") for c in configs] == [
        "masked",
        "unmasked",
        "unmasked, mask_as_input",
    ]
    facets = derive([flat("env.embeddings=true"), flat("env.embeddings=false")])
    assert facets.part(flat("env.embeddings=false"), "facet") == "embeddings=False"
