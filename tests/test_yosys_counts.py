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

import numpy as np

from hlsgen import artifact
from hlsgen.generate import generate
from hlsgen.randcnn import random_cnn
from hlsgen.report import build_report
from hlsgen.synth import yosys_cell_counts

from test_verilog import CASES, case_net

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.json"


def _check(net, tmp_path: Path, arch: str = "unrolled") -> dict[str, int]:
    schedule = generate(net, tmp_path / "design", arch)
    cells = yosys_cell_counts(tmp_path / "design", tmp_path / "yosys")
    rep = build_report(schedule, accuracies={})
    if arch == "unrolled":
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


# CNNs stream feature maps: every stage's control (walk and phase counters, in-use counts,
# FIFO pointers, the collector's pixel counter, the top's credits and pixel counter) and
# average pooling's sums are adders the report must count too, in both architectures
CNNS = {
    "strided-pad-maxpool-dense": ((2, 9, 7), [dict(out=3, kernel=(5, 3), stride=(2, 3),
                                                   padding=(2, 1), block=(1, 3))],
                                  None, (4,), True),
    "two-convs-avgpool-dense": ((2, 8, 8), [dict(out=3, kernel=3, padding=1, block=(1, 2)),
                                            dict(out=2, kernel=1, stride=(1, 2), block=(1, 3))],
                                ("avg", 2), (5, 3), False),
    "conv-maxpool-map": ((1, 8, 8), [dict(out=2, kernel=3, padding=1, block=(2, 3))],
                         ("max", 4), (), True),
}


@pytest.mark.synth
@pytest.mark.parametrize("arch", ["unrolled", "folded"])
@pytest.mark.parametrize("case", sorted(CNNS))
def test_cnn_counts_match_in_both_architectures(case, arch, tmp_path):
    chw, convs, pool, dense, signed = CNNS[case]
    net = random_cnn(np.random.default_rng(sorted(CNNS).index(case)), chw, convs, pool, dense,
                     input_signed=signed, name=case)
    cells = _check(net, tmp_path, arch)
    assert cells["$add"] + cells["$sub"] > 10
