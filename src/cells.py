"""Cells of a comparison, derived from the runs' own configs.

A *cell* is every config value that differs between the runs except the seed (and bookkeeping
that cannot change what is learned: logging, checkpoints, CPU counts). Nothing is hand-picked,
so a sweep over any option (an opponent, ``algo.lr``, ``model.embeddings_source``) shows as
many cells as it has settings instead of pooling them as if they were seeds.

Many varying keys move together (switching ``algo`` changes every ``algo.*`` default), so each
cell is *labelled* by the fewest keys that still tell all cells apart, named options first
(``algo.name`` before ``algo.lr``). The label keys then play one of three roles in the report:

* **treatment** (what the comparison is about: ``model.*`` and how invalid actions are
  handled, ``env.invalid_action`` / ``env.invalid_penalty``): the columns of a table;
* **row** (``algo.*``, ``framework.*``): the rows;
* **facet** (everything else: layout, number of actions, env, budget): one table each.

A report about another question names what it compares (``derive(..., treatment=("framework.",))``,
``python -m src.report --compare framework``): those keys become the treatments, and the usual
treatments (the model, how invalid actions are handled) join the rows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# Keys (or key prefixes) that never define a cell.
IGNORED = (
    "seed",
    "logger",
    "checkpoint",
    "resume",
    "reuse",
    "fault_tolerance",
    "hydra",
    "evaluation",
    "diagnostics",
    "resources.num_cpus",
    "resources.torch_threads",
)
# Label keys tried first, in this order; the other varying keys follow alphabetically.
PREFERRED = (
    "algo.name",
    "framework.name",
    "env.name",
    "env.layout",
    "env.max_avail_actions",
    "env.opponent",
    "model.action_head",
    "env.invalid_action",
    "env.invalid_penalty",
)
TREATMENT = ("model.", "env.invalid_action", "env.invalid_penalty")
ROW = ("algo.", "framework.")
MISSING = "∅"  # a varying key that a run's config (from older code) lacks


def flatten(cfg: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested config -> {dotted key: value as text}; lists are one value (their JSON)."""
    out: dict[str, str] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        elif isinstance(value, Mapping):
            out[name] = "{}"
        elif isinstance(value, (list, tuple)):
            out[name] = json.dumps(value)
        else:
            out[name] = "null" if value is None else str(value)
    return out


def matches(key: str, patterns: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p if p.endswith(".") else p + ".") for p in patterns)


def role(key: str, treatment: Sequence[str] = TREATMENT) -> str:
    if matches(key, treatment):
        return "treatment"
    if matches(key, ROW) or matches(key, TREATMENT):
        return "row"
    return "facet"


@dataclass(frozen=True)
class Design:
    """What varies across a set of runs, and how each run's cell is named."""

    varying: tuple[str, ...]  # every key whose value differs between runs (seed excluded)
    labels: tuple[str, ...]  # the fewest of them that tell every cell apart
    treatment: tuple[str, ...] = TREATMENT  # the keys (or prefixes) compared: the columns

    def cell(self, flat: Mapping[str, str]) -> tuple[str, ...]:
        """The cell's identity: its values of every varying key."""
        return tuple(flat.get(k, MISSING) for k in self.varying)

    def part(self, flat: Mapping[str, str], which: str) -> str:
        """The run's treatment, row or facet label ("" when nothing of that role varies)."""
        keys = self.keys(which)
        return ", ".join(p for k in keys if (p := _show(k, flat.get(k, MISSING), keys)))

    def label(self, flat: Mapping[str, str]) -> str:
        return " | ".join(p for w in ("facet", "row", "treatment") if (p := self.part(flat, w)))

    def keys(self, which: str) -> list[str]:
        return [k for k in self.labels if role(k, self.treatment) == which]


def _show(key: str, value: str, keys: list[str]) -> str:
    """A named option shows its value alone ("ppo", "masked"), a treatment's switch its name when
    on ("unmasked, mask_as_input") and nothing when off; any other key as key=value."""
    named = key in ("algo.name", "model.action_head", "framework.name", "env.name")
    name = key.split(".")[-1]
    if value in ("True", "False") and matches(key, TREATMENT):
        return name if value == "True" else ""
    return value if named else f"{name}={value}"


def derive(configs: Sequence[Mapping[str, str]], treatment: Sequence[str] = TREATMENT) -> Design:
    """The design of a set of runs, from their flattened configs; ``treatment``: the keys (or
    prefixes) the comparison is about."""
    keys = sorted({k for c in configs for k in c})
    # A key some runs lack is either another option's field (DQN's algo.double_q: those runs
    # differ in algo.name and algo._target_ anyway) or an option the code gained after they were
    # made, which they ran at its default (as sweep.same_config takes it). Either way it splits
    # cells only where the runs that have it disagree.
    varying = [
        k for k in keys if not matches(k, IGNORED) and len({c[k] for c in configs if k in c}) > 1
    ]
    order = [k for k in PREFERRED if k in varying] + [k for k in varying if k not in PREFERRED]
    labels: list[str] = []
    parts = 1
    for key in order:
        n = len({tuple(c.get(k, MISSING) for k in (*labels, key)) for c in configs})
        if n > parts:
            labels.append(key)
            parts = n
    return Design(tuple(varying), tuple(labels), tuple(treatment))
