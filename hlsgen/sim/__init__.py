"""Simulation of generated designs: executors (cocotb on Verilator or Icarus) behind one
interface, and the bit-exact comparison with the reference."""

from .toolchain import SimulatorError, Tool, find_simulator, find_verilator
from .runner import (SIMULATORS, CocotbExecutor, Executor, SimConfig, SimResult, compare,
                     simulate)

__all__ = ["SIMULATORS", "CocotbExecutor", "Executor", "SimConfig", "SimResult",
           "SimulatorError", "Tool", "compare", "find_simulator", "find_verilator", "simulate"]
