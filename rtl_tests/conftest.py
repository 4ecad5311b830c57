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
from hlsgen.schedules import ScheduleOptions
from hlsgen.sim.runner import SimConfig, compare, simulate
from hlsgen.sim.toolchain import SimulatorError, find_simulator, require_cocotb


def _require(name: str) -> str:
    try:
        require_cocotb()
        tool = find_simulator(name)[0]
    except SimulatorError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"simulator missing in CI: {exc}")
        pytest.skip(str(exc))
    return tool.version


@pytest.fixture(scope="session")
def simulator() -> str:
    """Verilator, the default simulator."""
    return _require("verilator")


@pytest.fixture(scope="session")
def icarus() -> str:
    """Icarus Verilog (the property tests' fast-building simulator)."""
    _require("icarus")
    return "icarus"


@pytest.fixture(scope="session", params=["verilator", "icarus"])
def each_simulator(request) -> str:
    """Each simulator in turn (the name, for ``check_design``)."""
    _require(request.param)
    return request.param


def check_design(net: Network, inputs: np.ndarray, workdir: Path,
                 config: SimConfig = SimConfig(), simulator: str = "verilator",
                 options: ScheduleOptions = ScheduleOptions(), arch: str = "unrolled"):
    """Generate ``net`` for ``arch``, stream ``inputs`` through it, require every bit to
    match; returns the schedule and the simulation result."""
    schedule = generate(net, workdir / "design", arch, options=options)
    result = simulate(workdir / "design", inputs, config, workdir / "build", simulator)
    assert result.simulator == simulator
    expected = numerics.forward(net, inputs)
    cmp = compare(result.outputs, expected)
    assert not result.protocol_errors, result.protocol_errors[:5]
    assert result.lasts_ok, "tlast did not come out with its beat"
    assert cmp.mismatches == 0, (
        f"{cmp.mismatches}/{cmp.vectors} vectors differ, first {cmp.first_mismatches}: "
        f"rtl {result.outputs[cmp.first_mismatches[0]].tolist()} vs "
        f"ref {expected[cmp.first_mismatches[0]].tolist()}")
    return schedule, result
