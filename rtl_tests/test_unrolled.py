"""The unrolled Verilog is bit-exact with the reference on chosen shapes and kind mixes."""

from __future__ import annotations

import numpy as np
import pytest

from hlsgen.randnet import random_inputs, random_network
from hlsgen.sim.runner import SimConfig

from .conftest import check_design

# (sizes, block, kind probabilities (pruned, unified, dense), w_bits, a_bits, signed input)
CASES = {
    "4x4-mixed": ([16, 12, 10], (4, 4), (0.5, 0.3, 0.2), 8, 8, False),
    "3x2-edge-blocks": ([10, 7, 5], (3, 2), (0.4, 0.4, 0.2), 8, 8, False),
    "1x1-elementwise": ([9, 6, 4], (1, 1), (0.3, 0.4, 0.3), 6, 8, True),
    "8x8-mostly-unified": ([20, 12, 6], (8, 8), (0.2, 0.7, 0.1), 8, 8, False),
    "2x4-all-dense": ([8, 6, 4], (2, 4), (0.0, 0.0, 1.0), 5, 6, True),
    "4x2-all-unified-2bit": ([8, 6, 4], (4, 2), (0.0, 1.0, 0.0), 2, 4, False),
    "16bit-wide": ([6, 5, 3], (2, 2), (0.2, 0.4, 0.4), 16, 16, True),
    "three-layers": ([12, 10, 8, 4], (3, 3), (0.5, 0.3, 0.2), 8, 8, False),
}


@pytest.mark.sim
@pytest.mark.parametrize("case", sorted(CASES))
def test_random_weights_bit_exact(case: str, tmp_path, each_simulator) -> None:
    sizes, block, probs, w_bits, a_bits, signed = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    net = random_network(rng, sizes, block, w_bits, a_bits, probs, input_signed=signed)
    check_design(net, random_inputs(rng, net, 96), tmp_path, SimConfig(seed=7), each_simulator)


@pytest.mark.sim
def test_all_pruned_layer_and_extreme_bias(tmp_path, simulator) -> None:
    """A layer with every block pruned is just its bias; extreme biases saturate."""
    rng = np.random.default_rng(11)
    net = random_network(rng, [8, 6, 5], (2, 2), kind_probs=(1.0, 0.0, 0.0), bias_scale=8.0)
    check_design(net, random_inputs(rng, net, 16), tmp_path)


@pytest.mark.sim
def test_full_throughput_without_stalls(tmp_path, simulator) -> None:
    """With no stalls the design takes one vector per clock: N vectors in N + latency cycles."""
    from hlsgen.generate import generate
    from hlsgen.sim.runner import simulate

    rng = np.random.default_rng(3)
    net = random_network(rng, [10, 8, 4], (2, 2))
    schedule = generate(net, tmp_path / "design")
    x = random_inputs(rng, net, 50)
    result = simulate(tmp_path / "design", x, SimConfig(stall_in=0, stall_out=0),
                      tmp_path / "build")
    assert result.cycles == len(x) + schedule.latency


@pytest.mark.sim
@pytest.mark.parametrize("dsp", ["auto", "always"])
@pytest.mark.parametrize("case", ["4x4-mixed", "2x4-all-dense", "16bit-wide"])
def test_dsp_multipliers_bit_exact(case: str, dsp: str, tmp_path, each_simulator) -> None:
    """Under ``--dsp auto|always`` constant multipliers replace shift-and-add; still exact."""
    from hlsgen.schedules import ScheduleOptions

    sizes, block, probs, w_bits, a_bits, signed = CASES[case]
    rng = np.random.default_rng(100 + sorted(CASES).index(case))
    net = random_network(rng, sizes, block, w_bits, a_bits, probs, input_signed=signed)
    check_design(net, random_inputs(rng, net, 64), tmp_path, SimConfig(seed=3), each_simulator,
                 ScheduleOptions(dsp=dsp))
