"""Run a generated design on integer vectors with cocotb 2.x + Verilator; compare bit-exactly.

A small typed API in the spirit of ``cocotb_tools.runner``: :func:`simulate` builds (once per
build folder; make rebuilds only what changed) and runs the AXI4-Stream testbench
:mod:`hlsgen.sim.axis_tb`, and :func:`compare` checks the beats against the reference model.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .toolchain import SimulatorError, Tool, find_verilator, require_cocotb

TB_MODULE = "hlsgen.sim.axis_tb"


@dataclass(frozen=True)
class SimConfig:
    """How to drive the design: stall probabilities, seed, waves, tlast framing."""

    stall_in: float = 0.25    # probability the source holds tvalid low in a cycle
    stall_out: float = 0.25   # probability the sink holds tready low in a cycle
    seed: int = 0
    waves: bool = False       # dump a VCD (dump.vcd in the build folder)
    frame: int = 16           # tlast on every frame-th vector and on the last one
    # Testbench runs are short, so compile time dominates: -O0 builds ~2x faster than -Os.
    # --output-split 0 keeps the model in one C++ file: the PyPI wheel's verilated.mk leaves
    # CFG_CXXFLAGS_PCH_I empty, so the split (precompiled-header) build path fails with
    # "Vtop__pch.h.fast: linker input file not found" once a design is large enough to split.
    build_args: tuple[str, ...] = ("-CFLAGS", "-O0", "--output-split", "0")


@dataclass(frozen=True, eq=False)
class SimResult:
    """What came out of the simulated design."""

    outputs: np.ndarray          # [N, out_features] integers
    lasts_ok: bool               # tlast came out exactly where it went in
    protocol_errors: tuple[str, ...]
    cycles: int                  # from the first accepted input to the last output beat
    build_dir: Path
    tool: Tool
    wave_file: Path | None = None


@dataclass(frozen=True, eq=False)
class Comparison:
    """RTL outputs against the reference: mismatching vectors and where."""

    vectors: int
    mismatches: int
    first_mismatches: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


@contextlib.contextmanager
def _build_env(tool: Tool) -> Iterator[None]:
    """cocotb's runner looks Verilator up on PATH: put the chosen one first. Where ccache is
    installed, Verilator's makefiles use it (OBJCACHE), so the runtime library and cocotb's
    objects, identical across designs, compile once. The environment is restored after."""
    saved = {k: os.environ.get(k) for k in ("PATH", "OBJCACHE")}
    os.environ["PATH"] = f"{tool.bin_dir}{os.pathsep}{saved['PATH'] or ''}"
    if saved["OBJCACHE"] is None and shutil.which("ccache"):
        os.environ["OBJCACHE"] = "ccache"
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def simulate(design_dir: Path, inputs: np.ndarray, config: SimConfig = SimConfig(),
             build_dir: Path | None = None) -> SimResult:
    """Stream ``inputs`` ([N, in_features] integers) through the design in ``design_dir``."""
    design_dir = Path(design_dir).absolute()
    manifest_path = design_dir / "design.json"
    if not manifest_path.is_file():
        raise SimulatorError(f"{design_dir} holds no design.json; generate the design first "
                             "with `hlsgen generate`")
    design = json.loads(manifest_path.read_text())
    inputs = np.asarray(inputs, dtype=np.int64)
    if inputs.ndim != 2 or inputs.shape[1] != design["in_features"] or len(inputs) == 0:
        raise ValueError(f"inputs must have shape [N>0, {design['in_features']}], "
                         f"got {inputs.shape}")
    require_cocotb()
    tool = find_verilator()
    from cocotb_tools.runner import get_runner  # imported late: cocotb is an optional extra

    # beside the design, not inside it: the design folder holds only generated files
    build_dir = Path(build_dir or design_dir.parent / "sim_build").absolute()
    build_dir.mkdir(parents=True, exist_ok=True)
    job_path = build_dir / "job.json"
    results_path = build_dir / "results.json"
    results_path.unlink(missing_ok=True)
    job = {
        "inputs": inputs.tolist(),
        "in_features": design["in_features"], "in_bits": design["in_bits"],
        "out_features": design["out_features"], "out_bits": design["out_bits"],
        "out_signed": design["out_signed"],
        "stall_in": config.stall_in, "stall_out": config.stall_out, "seed": config.seed,
        "frame": config.frame,
        "max_cycles": 200 + (design["latency"] + 4) * 4
                      + int(len(inputs) * 4 / max(0.05, (1 - config.stall_in) * (1 - config.stall_out))),
        "results": str(results_path),
    }
    job_path.write_text(json.dumps(job))
    sources = [design_dir / s for s in design["sources"]]
    log = build_dir / "build.log"
    runner = get_runner("verilator")
    with _build_env(tool):
        try:
            runner.build(sources=sources, hdl_toplevel=design["top"], build_dir=build_dir,
                         waves=config.waves, build_args=list(config.build_args),
                         log_file=log)
        except (SystemExit, Exception) as exc:  # the runner reports failures as SystemExit
            raise SimulatorError(f"building {design['top']} with Verilator failed ({exc}); "
                                 f"see {log}") from None
        xml = runner.test(test_module=TB_MODULE, hdl_toplevel=design["top"],
                          build_dir=build_dir, test_dir=build_dir, waves=config.waves,
                          # the runner sets PYTHONPATH from sys.path itself
                          extra_env={"HLSGEN_SIM_JOB": str(job_path)},
                          log_file=build_dir / "sim.log")
    if not results_path.is_file():
        raise SimulatorError(f"the simulation of {design['top']} produced no results; see "
                             f"{build_dir / 'sim.log'} and {xml}")
    _check_xml(Path(xml), build_dir)
    res = json.loads(results_path.read_text())
    outputs = np.array(res["outputs"], dtype=np.int64).reshape(-1, design["out_features"])
    first, last = res["first_in_cycle"], res["last_out_cycle"]
    wave = build_dir / "dump.vcd"
    return SimResult(
        outputs=outputs,
        lasts_ok=res["lasts"] == res["expected_lasts"][:len(res["lasts"])]
        and len(res["lasts"]) == len(inputs),
        protocol_errors=tuple(res["protocol_errors"]),
        cycles=(last - first + 1) if first is not None and last is not None else 0,
        build_dir=build_dir,
        wave_file=wave if config.waves and wave.is_file() else None,
        tool=tool,
    )


def _check_xml(xml: Path, build_dir: Path) -> None:
    """A testbench exception (not a mismatch: those are counted) is a simulator failure."""
    if not xml.is_file():
        return
    for case in ET.parse(xml).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            raise SimulatorError(f"the cocotb testbench failed; see {build_dir / 'sim.log'}")


def compare(outputs: np.ndarray, expected: np.ndarray) -> Comparison:
    """Count output vectors that differ from the reference in any bit."""
    outputs = np.asarray(outputs)
    expected = np.asarray(expected)
    if outputs.shape != expected.shape:
        bad = tuple(range(min(len(outputs), 10)))
        return Comparison(len(expected), len(expected), bad)
    diff = np.any(outputs != expected, axis=1)
    idx = tuple(int(i) for i in np.flatnonzero(diff)[:10])
    return Comparison(len(expected), int(diff.sum()), idx)
