"""The benches' shared writer: a script's section of a results file, and nothing else, is replaced."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from runs import write_section  # noqa: E402


def test_write_section_replaces_only_its_own_block(tmp_path):
    out = tmp_path / "RESULTS.md"
    write_section(out, "perf.py", "## perf\nfirst run")
    assert out.read_text() == "<!-- perf.py: begin -->\n## perf\nfirst run\n<!-- perf.py: end -->\n"
    hand = "# Results\n\nAnalysis by hand.\n\n"
    out.write_text(hand + out.read_text() + "\nMore analysis.\n")
    write_section(out, "solve.py", "## solve\ntable")
    write_section(out, "perf.py", "## perf\nsecond run")
    text = out.read_text()
    assert text.startswith(hand) and "\nMore analysis.\n" in text
    assert "first run" not in text and text.count("second run") == 1
    assert text.index("second run") < text.index("More analysis") < text.index("## solve")


def test_the_masking_cost_mode_times_every_op_and_both_modules():
    import json
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run(
        [sys.executable, "bench/sampling.py", "masking", "--actions", "6", "60", "--rounds", "2"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [r["actions"] for r in rows] == [6, 60]
    for row in rows:
        assert set(row["us_per_call"]) == {
            "mask_logits",
            "log_clamp_add",
            "masked_fill",
            "forward_masked",
            "forward_unmasked",
        }
        assert all(v > 0 for v in row["us_per_call"].values())
