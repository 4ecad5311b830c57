"""Per-feature input widths (``Network.input_bits``): every architecture and backend keeps
only each feature's low bits (WRAP) and drops 0-bit features, bit-exactly as
``numerics.forward``. Inputs are drawn over the FULL input type, so the wrap really
happens (high bits set, negative values of signed features losing their sign)."""

from __future__ import annotations

import numpy as np
import pytest

from hlsgen import numerics
from hlsgen.randnet import random_inputs, random_network
from hlsgen.schedules import ScheduleOptions
from hlsgen.sim.runner import SimConfig

from .conftest import check_design
from .test_csim import check_csim, csim_tools  # noqa: F401  (csim_tools: a fixture)

# name: (sizes, block, kind probabilities (pruned, unified, dense), w_bits, a_bits, signed)
CASES = {
    "unsigned-3bit-mixed": ([12, 7, 4], (2, 3), (0.2, 0.5, 0.3), 4, 3, False),
    "signed-6bit-mixed": ([10, 6, 3], (3, 2), (0.2, 0.4, 0.4), 6, 6, True),
    "signed-4bit-unified-1x4": ([13, 5, 3], (1, 4), (0.1, 0.9, 0.0), 5, 4, True),
}


def _net(case: str):
    sizes, block, probs, w_bits, a_bits, signed = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case) + 700)
    net = random_network(rng, sizes, block, w_bits, a_bits, probs, input_signed=signed,
                         input_widths=True, name=case.replace("-", "_"))
    x = random_inputs(rng, net, 64)
    bits = np.array(net.input_bits)
    assert 0 in bits and (bits < net.input.bits).sum() >= 2
    # the stimulus really wraps: some feature has bits above its kept width
    assert np.any(numerics.wrap_inputs(x, net.input, net.input_bits) != x)
    return net, x


@pytest.mark.sim
@pytest.mark.parametrize("arch", ["unrolled", "folded"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_input_widths_rtl_bit_exact(case: str, arch: str, tmp_path, simulator) -> None:
    net, x = _net(case)
    options = ScheduleOptions(pes=(2, 1)) if arch == "folded" else ScheduleOptions()
    check_design(net, x, tmp_path, SimConfig(seed=7, stall_in=0.3, stall_out=0.3),
                 "verilator", options, arch)


@pytest.mark.sim
@pytest.mark.parametrize("arch", ["unrolled", "folded"])
def test_input_widths_icarus(arch: str, tmp_path, icarus) -> None:
    net, x = _net("signed-6bit-mixed")
    check_design(net, x, tmp_path, SimConfig(seed=8, stall_in=0.2, stall_out=0.2), icarus,
                 ScheduleOptions(), arch)


@pytest.mark.csim
@pytest.mark.parametrize("arch", ["unrolled", "folded"])
@pytest.mark.parametrize("case", ["unsigned-3bit-mixed", "signed-6bit-mixed"])
def test_input_widths_csim_bit_exact(case: str, arch: str, tmp_path, csim_tools) -> None:
    net, x = _net(case)
    check_csim(net, x, tmp_path, arch=arch)
