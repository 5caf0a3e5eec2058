"""Read a W&B run file (``run-<id>.wandb``) without W&B's service: config, history keys, summary.

W&B 0.31 writes these files from its Go core and ships no Python reader. The format is a
LevelDB-style log: a 7-byte header (``:W&B``, magic 0xBEE1, version 0), then records in 32 KiB
blocks, each with a 7-byte header (CRC32C, length, type: full / first / middle / last) and a
serialised ``wandb_internal_pb2.Record``; a block's tail shorter than a header is zero padding.
The CRCs are not checked (the stdlib has no CRC32C): a damaged record fails to parse instead.

``src.wandb_report`` checks a report against the runs of a sweep with it, offline.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MAGIC = b":W&B"
FILE_HEADER, RECORD_HEADER, BLOCK = 7, 7, 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    """Every ``Record`` of a run file, in order."""
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a W&B run file (it does not start with {MAGIC!r}).")
    pos, pending = FILE_HEADER, b""
    while pos + RECORD_HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < RECORD_HEADER:  # the block's zero-padded tail
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + RECORD_HEADER])
        if kind == 0:  # zero padding up to the block's end
            pos += left
            continue
        chunk = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        pos += RECORD_HEADER + length
        if kind == FIRST:
            pending = chunk
            continue
        if kind in (MIDDLE, LAST):
            pending += chunk
            if kind == MIDDLE:
                continue
            chunk, pending = pending, b""
        record = pb.Record()
        record.ParseFromString(chunk)
        yield record


def _key(item) -> str:
    return ".".join(item.nested_key) if item.nested_key else item.key


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as W&B shows and filters it: ``{"algo": {"name": x}}`` -> ``algo.name``."""
    if not isinstance(value, dict) or not value:
        return {prefix: value}
    out = {}
    for k, v in value.items():
        out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


@dataclass
class RunFile:
    """What a report can ask of a run: its id, group and job type, its config (flattened, W&B's
    ``_wandb`` entry left out), the metric keys it logged to history, and its summary."""

    id: str
    group: str
    job_type: str
    config: dict[str, Any] = field(default_factory=dict)
    history_keys: set[str] = field(default_factory=set)
    summary: dict[str, Any] = field(default_factory=dict)


def read_run(path: Path) -> RunFile:
    run = RunFile(id="", group="", job_type="")
    config: dict[str, Any] = {}
    for record in records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run.id, run.group = record.run.run_id, record.run.run_group
            run.job_type = record.run.job_type
            updates = record.run.config.update
        elif kind == "config":
            updates = record.config.update
        elif kind == "history":
            run.history_keys.update(_key(i) for i in record.history.item)
            continue
        elif kind == "summary":
            run.summary.update({_key(i): json.loads(i.value_json) for i in record.summary.update})
            continue
        else:
            continue
        config.update({_key(i): json.loads(i.value_json) for i in updates})
    config.pop("_wandb", None)
    run.config = flatten(config)
    run.history_keys -= {"_step", "_runtime", "_timestamp"}
    return run


def offline_runs(root: Path) -> list[RunFile]:
    """Every offline W&B run under ``root`` (a sweep dir): ``*/wandb/offline-run-*/run-*.wandb``."""
    return [read_run(p) for p in sorted(Path(root).rglob("offline-run-*/run-*.wandb"))]
