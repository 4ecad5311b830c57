"""What a simulation needs besides the design: the simulator's executables (found by the one
tool finder, :mod:`hlsgen.tools`) and cocotb 2.x."""

from __future__ import annotations

import importlib.metadata

from ..tools import Tool, ToolError, find

# the cocotb simulator name -> the executables it runs (the first is the one reported)
EXECUTABLES = {"verilator": ("verilator",), "icarus": ("iverilog", "vvp")}


class SimulatorError(ToolError):
    """The simulator or its Python side is missing, too old, or failed."""


def find_simulator(name: str) -> tuple[Tool, ...]:
    """The executables behind a cocotb simulator name, or one SimulatorError line."""
    if name not in EXECUTABLES:
        raise SimulatorError(f"unknown simulator {name!r}; choose one of "
                             f"{', '.join(EXECUTABLES)}")
    try:
        return tuple(find(exe) for exe in EXECUTABLES[name])
    except ToolError as exc:
        raise SimulatorError(str(exc)) from None


def find_verilator() -> Tool:
    """The Verilator cocotb 2.x can use."""
    return find_simulator("verilator")[0]


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
