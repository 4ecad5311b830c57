"""Simulation of generated designs: toolchain discovery and the cocotb + Verilator runner."""

from .toolchain import SimulatorError, Tool, find_verilator
from .runner import SimConfig, SimResult, simulate, compare

__all__ = ["SimulatorError", "Tool", "find_verilator", "SimConfig", "SimResult", "simulate",
           "compare"]
