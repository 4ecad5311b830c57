"""Yosys reads every generated design, and the report's operator counts are what it counts.

Issue 11: the report's ``multipliers`` must be the multiplies the RTL contains, checked
against an independent count (Yosys, ``$mul`` cells after ``hierarchy; proc; flatten``); and
Yosys 0.70 must accept every design of the unit suite's shape/kind matrix (it once aborted on
``.x({in5})``). The datapath is multiplier-free, so ``$mul`` is 0 and every adder of the plan
is one ``$add``/``$sub`` cell.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hlsgen import artifact
from hlsgen.generate import generate
from hlsgen.report import build_report
from hlsgen.synth import yosys_cell_counts

from test_verilog import CASES, case_net

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.json"


def _check(net, tmp_path: Path) -> dict[str, int]:
    schedule = generate(net, tmp_path / "design")
    cells = yosys_cell_counts(tmp_path / "design", tmp_path / "yosys")
    rep = build_report(schedule, accuracies={})
    assert cells.get("$mul", 0) == rep["multipliers"] == 0
    assert cells.get("$add", 0) + cells.get("$sub", 0) == rep["adders"]
    return cells


@pytest.mark.synth
@pytest.mark.parametrize("case", sorted(CASES))
def test_yosys_reads_every_case_and_counts_match(case, tmp_path):
    _check(case_net(case), tmp_path)


@pytest.mark.synth
def test_digits_example_counts_match(tmp_path):
    cells = _check(artifact.load(EXAMPLE), tmp_path)
    assert cells["$add"] + cells["$sub"] > 1000
