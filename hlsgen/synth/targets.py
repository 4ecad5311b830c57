"""The synthesis targets: which Yosys command each runs and how its cells are counted.

- ``ecp5``: ``synth_ecp5 -top TOP -json netlist.json``; LUT4, CCU2C, TRELLIS_FF,
  MULT18X18D, DP16KD.
- ``ecp5_nodsp``: the same with ``-nodsp``: every multiply in LUTs and carry cells.
- ``xilinx``: ``synth_xilinx -family xc7 -top TOP -flatten -noiopad -noclkbuf``; LUT1-6,
  CARRY4, FD*E, DSP48E1, RAMB18E1/RAMB36E1.

ECP5 designs are compared in LUT-equivalents, ``lut_eq = lut + 2 * carry`` (a CCU2C takes
both LUT4 sites of a slice). The Xilinx run is out of context (no I/O or clock buffers).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

TARGETS = ("ecp5", "ecp5_nodsp", "xilinx")


@dataclass(frozen=True)
class Target:
    """One synthesis target: its Yosys command and its cell families."""

    name: str
    family: str                 # "ecp5" or "xc7"
    command: str                # the synth command, with {top} for the top module
    lut: tuple[str, ...]
    carry: tuple[str, ...]
    ff: tuple[str, ...]
    dsp: tuple[str, ...]
    bram: tuple[str, ...]
    lutram_pattern: str         # a regex over cell types
    widemux: tuple[str, ...]
    writes_netlist: bool        # whether place and route follows (it reads netlist.json)

    def yosys_command(self, top: str) -> str:
        return self.command.format(top=top)


_ECP5 = dict(family="ecp5", lut=("LUT4",), carry=("CCU2C",), ff=("TRELLIS_FF",),
             dsp=("MULT18X18D",), bram=("DP16KD", "PDPW16KD"),
             lutram_pattern=r"^TRELLIS_DPR16X4$", widemux=("PFUMX", "L6MUX21"),
             writes_netlist=True)
_XILINX_FF = ("FDRE", "FDSE", "FDCE", "FDPE", "FDRE_1", "FDSE_1", "FDCE_1", "FDPE_1",
              "LDCE", "LDPE")

TARGET_SPECS: Mapping[str, Target] = {
    "ecp5": Target("ecp5", command="synth_ecp5 -top {top} -json netlist.json", **_ECP5),
    "ecp5_nodsp": Target("ecp5_nodsp", command="synth_ecp5 -top {top} -nodsp -json netlist.json",
                         **_ECP5),
    "xilinx": Target("xilinx", family="xc7",
                     command="synth_xilinx -family xc7 -top {top} -flatten -noiopad -noclkbuf",
                     lut=tuple(f"LUT{i}" for i in range(1, 7)), carry=("CARRY4",), ff=_XILINX_FF,
                     dsp=("DSP48E1",), bram=("RAMB18E1", "RAMB36E1"),
                     lutram_pattern=r"^RAM(32|64|128|256)", widemux=("MUXF7", "MUXF8"),
                     writes_netlist=False),
}

IGNORED_CELLS = ("$scopeinfo",)  # hierarchy bookkeeping Yosys keeps after flattening


def target(name: str) -> Target:
    try:
        return TARGET_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown synthesis target {name!r}; choose from "
                         f"{', '.join(TARGETS)}") from None


def classify(spec: Target, cells: Mapping[str, int]) -> dict[str, int]:
    """Resource counts of one synthesized design from its cell counts by type."""
    def total(types: tuple[str, ...]) -> int:
        return sum(int(cells.get(t, 0)) for t in types)

    lutram = sum(int(n) for t, n in cells.items() if re.match(spec.lutram_pattern, t))
    counts = {
        "lut": total(spec.lut),
        "carry": total(spec.carry),
        "ff": total(spec.ff),
        "dsp": total(spec.dsp),
        "bram": total(spec.bram),
        "lutram": lutram,
        "widemux": total(spec.widemux),
        "cells": sum(int(n) for t, n in cells.items() if t not in IGNORED_CELLS),
    }
    if spec.family == "ecp5":
        counts["lut_eq"] = counts["lut"] + 2 * counts["carry"]
        counts["alu54b"] = int(cells.get("ALU54B", 0))
    else:
        counts["srl"] = total(("SRL16E", "SRLC32E"))
    return counts
