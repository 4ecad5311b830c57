"""Real data: the committed digits example, every test image, through the generated RTL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact, numerics
from hlsgen.datasets import load_digits_split
from hlsgen.flow import simulate_design
from hlsgen.generate import generate
from hlsgen.sim.runner import SimConfig

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.json"


@pytest.mark.sim
def test_digits_example_every_test_image(tmp_path, each_simulator) -> None:
    net = artifact.load(EXAMPLE)
    split = load_digits_split()
    schedule = generate(net, tmp_path / "design")
    sim = simulate_design(net, tmp_path / "design", split.x_test, split.y_test,
                          SimConfig(seed=1), tmp_path / "build", each_simulator)
    assert sim["simulator"].startswith(each_simulator)
    int_acc = float(np.mean(numerics.predict(numerics.forward(net, split.x_test))
                            == split.y_test))
    assert sim["rtl_vectors"] == len(split.x_test) == 360
    assert sim["rtl_mismatches"] == 0
    assert not sim["rtl_protocol_errors"] and sim["rtl_tlast_ok"]
    assert sim["rtl_accuracy"] == int_acc
    assert int_acc >= 0.95
    # measured against the plan: one result per clock, the schedule's latency
    assert sim["cycles_per_inference"] == schedule.initiation_interval == 1
    assert sim["rtl_latency_cycles"] == schedule.latency


@pytest.mark.sim
def test_narrow_input_network_on_digits(tmp_path) -> None:
    """A network whose compressor chose a 3-bit input: the digits reach it converted
    (``numerics.convert``) and the RTL built on the narrow type agrees bit for bit."""
    import dataclasses

    from hlsgen.fixedpoint import QType
    from hlsgen.flow import stimulus

    base = artifact.load(EXAMPLE)
    narrow = QType(3, 2, False)
    first = dataclasses.replace(base.layers[0], bias=base.layers[0].bias >> 2)  # acc frac - 2
    net = dataclasses.replace(base, input=narrow,
                              layers=(dataclasses.replace(first, output=QType(
                                  8, first.output.frac - 2, False)), *base.layers[1:]))
    artifact.validate(net)
    x, y = stimulus(net, "digits", None, 0)
    assert x.max() <= narrow.hi
    generate(net, tmp_path / "design")
    sim = simulate_design(net, tmp_path / "design", x, y, SimConfig(seed=2),
                          tmp_path / "build", "verilator")
    assert sim["rtl_vectors"] == 360 and sim["rtl_mismatches"] == 0
    assert sim["rtl_accuracy"] == float(np.mean(numerics.predict(numerics.forward(net, x)) == y))
