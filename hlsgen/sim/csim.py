"""C simulation of an HLS C++ design: g++ builds the generated testbench against the
open-source ``ap_types`` headers, and the binary streams vectors through the top function.

The headers (``ap_int.h``, ``hls_stream.h``; Xilinx's, Apache-2.0) ship inside the ``hls4ml``
wheel (the ``hlsgen[hls]`` extra) under ``hls4ml/templates/vivado/ap_types``: they are found
with ``importlib.util.find_spec`` (hls4ml is never imported, the headers never copied), or
taken from ``HLSGEN_AP_TYPES`` (a folder holding ``ap_int.h``, e.g. a Vitis HLS ``include``).
g++ comes from the tool finder (``HLSGEN_GXX``, else ``g++``).

:class:`CsimExecutor` has the executors' interface (``build()``, ``run(inputs)`` ->
:class:`~hlsgen.sim.runner.SimResult`); the build folder lies beside the design
(``D.sim_build/csim``) and holds the objects, the binary, the compiler log and the last
run's vectors, outputs and expected outputs (the files the Vitis HLS script takes).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from ..manifest import DesignManifest
from ..tools import Tool, ToolError, find
from .runner import SimResult, default_build_dir
from .toolchain import SimulatorError

SIMULATOR = "csim"
AP_TYPES_ENV = "HLSGEN_AP_TYPES"
INSTALL_HINT = "run `pip install 'hlsgen[hls]'` (hls4ml ships the open-source ap_types headers)"
# C++14, every warning; -O1 keeps the compile short and the run fast. `#pragma HLS` is for
# the HLS tool, so g++'s unknown-pragma warning is the one warning turned off. The headers
# are -isystem, and the generated files silence g++ 12's -Wuninitialized false positives
# inside them around their #include only: a warning is about the generated code.
CXXFLAGS = ("-std=c++14", "-Wall", "-Wextra", "-O1", "-Wno-unknown-pragmas")
FRAME = 16            # `last` on every FRAME-th vector and on the last one, as the RTL test
RUN_TIMEOUT_S = 600.0
COMPILE_TIMEOUT_S = 1800.0


def find_ap_types() -> Path:
    """The folder holding ``ap_int.h`` and ``hls_stream.h``, or one SimulatorError line."""
    override = os.environ.get(AP_TYPES_ENV)
    if override:
        folder = Path(override)
        if not (folder / "ap_int.h").is_file():
            raise SimulatorError(f"{AP_TYPES_ENV}={override} holds no ap_int.h; point it at "
                                 f"the ap_types folder or unset it and {INSTALL_HINT}")
        return folder
    spec = importlib.util.find_spec("hls4ml")  # finds the package; does not import it
    if spec is None or not spec.submodule_search_locations:
        raise SimulatorError(f"the C simulation needs the ap_types headers and hls4ml is not "
                             f"installed; {INSTALL_HINT}")
    for root in spec.submodule_search_locations:
        folder = Path(root) / "templates" / "vivado" / "ap_types"
        if (folder / "ap_int.h").is_file() and (folder / "hls_stream.h").is_file():
            return folder
    raise SimulatorError(f"the installed hls4ml has no templates/vivado/ap_types/ap_int.h; "
                         f"reinstall it: {INSTALL_HINT}")


def frame_lasts(count: int, frame: int = FRAME) -> list[int]:
    """``last`` per vector: every ``frame``-th and the final one (as the RTL testbench)."""
    return [int((i + 1) % frame == 0 or i == count - 1) for i in range(count)]


def _vector_text(inputs: np.ndarray, lasts: list[int]) -> str:
    lines = [f"{len(inputs)} {inputs.shape[1]}"]
    lines += [" ".join(map(str, [last, *row])) for last, row in zip(lasts, inputs.tolist())]
    return "\n".join(lines) + "\n"


class CsimExecutor:
    """An HLS C++ design folder, compiled with g++ and run as a native program."""

    simulator = SIMULATOR

    def __init__(self, design_dir: Path, build_dir: Path | None = None,
                 jobs: int | None = None) -> None:
        self.design_dir = Path(design_dir).absolute()
        self.manifest = DesignManifest.load(self.design_dir)
        if self.manifest.backend != "hls":
            raise SimulatorError(f"{self.design_dir} is a {self.manifest.backend!r} design; the "
                                 "C simulation runs HLS designs (`hlsgen generate --backend "
                                 "hls`)")
        self.build_dir = Path(build_dir or default_build_dir(self.design_dir, SIMULATOR)
                              ).absolute()
        self.ap_types = find_ap_types()
        try:
            self.tool: Tool = find("gxx")
        except ToolError as exc:
            raise SimulatorError(str(exc)) from None
        self.jobs = max(1, jobs or min(4, os.cpu_count() or 1))
        self.compile_seconds: float | None = None
        self.warnings: tuple[str, ...] = ()

    @property
    def binary(self) -> Path:
        return self.build_dir / self.manifest.name

    def _units(self) -> list[Path]:
        hls = [self.design_dir / s for s in self.manifest.sources if s.endswith(".cpp")]
        return [*hls, self.design_dir / "tb" / f"{self.manifest.name}_tb.cpp"]

    def build(self) -> None:
        """Compile every translation unit (in parallel) and link the testbench binary;
        records the wall time and every warning line."""
        self.build_dir.mkdir(parents=True, exist_ok=True)
        include = ["-isystem", str(self.ap_types), "-I", str(self.design_dir / "hls")]
        units = self._units()
        missing = [str(u) for u in units if not u.is_file()]
        if missing:
            raise SimulatorError(f"{missing[0]} is missing; regenerate the design with "
                                 "`hlsgen generate ARTIFACT --backend hls --out DESIGN`")
        t0 = time.monotonic()

        def compile_one(unit: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
            obj = self.build_dir / f"{unit.stem}.o"
            done = self.tool.run([*CXXFLAGS, *include, "-c", str(unit), "-o", str(obj)],
                                 cwd=self.build_dir, timeout=COMPILE_TIMEOUT_S,
                                 log=self.build_dir / f"{unit.stem}.log")
            return obj, done

        try:
            with ThreadPoolExecutor(self.jobs) as pool:
                results = list(pool.map(compile_one, units))
            warnings = [ln for _, d in results for ln in d.stderr.splitlines()
                        if ": warning:" in ln]
            for unit, (_, done) in zip(units, results):
                if done.returncode != 0:
                    raise SimulatorError(f"g++ could not compile {unit.name}: "
                                         f"{_first_error(done.stderr)}; see "
                                         f"{self.build_dir / (unit.stem + '.log')}")
            link = self.tool.run([*(str(o) for o, _ in results), "-o", str(self.binary)],
                                 cwd=self.build_dir, timeout=COMPILE_TIMEOUT_S,
                                 log=self.build_dir / "link.log")
        except ToolError as exc:
            raise SimulatorError(str(exc)) from None
        if link.returncode != 0:
            raise SimulatorError(f"linking the C simulation failed: {_first_error(link.stderr)}; "
                                 f"see {self.build_dir / 'link.log'}")
        self.compile_seconds = time.monotonic() - t0
        self.warnings = tuple(warnings)

    @property
    def generated_warnings(self) -> tuple[str, ...]:
        """The warnings located in the design's own files (there should be none)."""
        return tuple(w for w in self.warnings if _in_folder(w, self.design_dir))

    @property
    def header_warnings(self) -> tuple[str, ...]:
        """The warnings located in the ap_types headers (g++ 12 at -O1 finds false
        -Wuninitialized ones in ``ap_private.h``; the generated files silence them)."""
        return tuple(w for w in self.warnings if _in_folder(w, self.ap_types))

    def run(self, inputs: np.ndarray, expected: np.ndarray | None = None) -> SimResult:
        """Stream ``inputs`` ([N, in_features] integers) through the built design. With
        ``expected`` the testbench also checks every bit itself (its exit status), as it
        does under Vitis HLS; the outputs are returned either way."""
        m = self.manifest
        inputs = np.asarray(inputs, dtype=np.int64)
        if inputs.ndim != 2 or inputs.shape[1] != m.in_features or len(inputs) == 0:
            raise ValueError(f"inputs must have shape [N>0, {m.in_features}], "
                             f"got {inputs.shape}")
        if not self.binary.is_file():
            raise SimulatorError(f"{self.binary} is not built; call build() first")
        lasts = frame_lasts(len(inputs))
        vectors = self.build_dir / "vectors.txt"
        outputs_path = self.build_dir / "outputs.txt"
        vectors.write_text(_vector_text(inputs, lasts))
        outputs_path.unlink(missing_ok=True)
        args = [str(vectors), str(outputs_path)]
        if expected is not None:
            # a network ending in a feature map: its [N, C, H, W] reference in PyTorch order,
            # as the output word carries it
            expected = np.asarray(expected, dtype=np.int64).reshape(len(inputs), -1)
            exp_path = self.build_dir / "expected.txt"
            exp_path.write_text(_vector_text(np.asarray(expected, dtype=np.int64),
                                             lasts).split("\n", 1)[1])
            args.append(str(exp_path))
        try:
            done = subprocess.run([str(self.binary), *args], cwd=self.build_dir, text=True,
                                  capture_output=True, stdin=subprocess.DEVNULL,
                                  timeout=RUN_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            raise SimulatorError(f"the C simulation of {m.name} ran past "
                                 f"{RUN_TIMEOUT_S:g} s") from None
        (self.build_dir / "run.log").write_text(done.stdout + done.stderr)
        if done.returncode not in (0, 1) or not outputs_path.is_file():
            raise SimulatorError(f"the C simulation of {m.name} failed (exit {done.returncode}):"
                                 f" {_first_error(done.stderr or done.stdout)}")
        rows = [list(map(int, ln.split())) for ln in outputs_path.read_text().splitlines()
                if ln.strip()]
        got = np.array([r[1:] for r in rows], dtype=np.int64).reshape(-1, m.out_features)
        lasts_ok = [r[0] for r in rows] == lasts
        errors = []
        if expected is not None:
            same = lasts_ok and np.array_equal(got, expected)
            if same != (done.returncode == 0):
                errors.append(f"the testbench's own check (exit {done.returncode}) disagrees "
                              "with the outputs it wrote")
        elif done.returncode != 0:
            errors.append(f"the testbench exited with status {done.returncode}")
        return SimResult(outputs=got, lasts_ok=lasts_ok,
                         protocol_errors=tuple(errors), cycles=0, build_dir=self.build_dir,
                         tool=self.tool, simulator=SIMULATOR)


def _in_folder(warning: str, folder: Path) -> bool:
    """Whether a g++ diagnostic line (``path:line:col: warning: ...``) points into ``folder``."""
    where = Path(warning.split(":", 1)[0])
    try:
        where.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _first_error(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    line = (errors or lines or ["(no output)"])[0]
    return line if len(line) <= 240 else line[:237] + "..."


def csimulate(design_dir: Path, inputs: np.ndarray, build_dir: Path | None = None,
              expected: np.ndarray | None = None) -> tuple[SimResult, CsimExecutor]:
    """Build the HLS design in ``design_dir`` with g++ and stream ``inputs`` through it."""
    executor = CsimExecutor(design_dir, build_dir)
    executor.build()
    return executor.run(inputs, expected), executor
