"""Every command-line entry point answers -h / --help with its usage and exit status 0, and
does nothing else (src.run's --help is Hydra's)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("flag", ["-h", "--help"])
@pytest.mark.parametrize(
    "module, says",
    [
        ("src.report", "--compare"),  # argparse: every option's help string is formatted
        ("src.evaluate", "mask=off"),
        ("src.wandb_report", "wandb_report.json"),
        ("src.sweep", "restore"),
    ],
)
def test_help_prints_the_usage_and_exits_0(module, says, flag, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be written, and no "--help" taken for a path
    main = importlib.import_module(module).main
    try:
        status = main([flag])
    except SystemExit as exit_:  # argparse exits after printing the help
        status = exit_.code
    out = capsys.readouterr()
    assert (status or 0) == 0, out.err
    assert says in out.out
    assert list(tmp_path.iterdir()) == []
