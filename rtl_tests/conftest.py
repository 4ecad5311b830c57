"""Shared helpers for simulation tests: generate a design, simulate it, compare bit-exactly.

In CI (``CI`` set) a missing simulator fails the run instead of skipping it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from hlsgen import numerics
from hlsgen.artifact import Network
from hlsgen.generate import generate
from hlsgen.sim.runner import SimConfig, compare, simulate
from hlsgen.sim.toolchain import SimulatorError, find_verilator, require_cocotb


@pytest.fixture(scope="session")
def simulator() -> str:
    try:
        require_cocotb()
        tool = find_verilator()
    except SimulatorError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"simulator missing in CI: {exc}")
        pytest.skip(str(exc))
    return tool.version


def check_design(net: Network, inputs: np.ndarray, workdir: Path,
                 config: SimConfig = SimConfig()) -> None:
    """Generate ``net``, stream ``inputs`` through it, require every bit to match."""
    generate(net, workdir / "design")
    result = simulate(workdir / "design", inputs, config, workdir / "build")
    expected = numerics.forward(net, inputs)
    cmp = compare(result.outputs, expected)
    assert not result.protocol_errors, result.protocol_errors[:5]
    assert result.lasts_ok, "tlast did not come out with its beat"
    assert cmp.mismatches == 0, (
        f"{cmp.mismatches}/{cmp.vectors} vectors differ, first {cmp.first_mismatches}: "
        f"rtl {result.outputs[cmp.first_mismatches[0]].tolist()} vs "
        f"ref {expected[cmp.first_mismatches[0]].tolist()}")
