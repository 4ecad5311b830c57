"""cocotb testbench for any generated design with AXI4-Stream in/out.

Run by :mod:`hlsgen.sim.runner`, never by hand: the job file named by ``HLSGEN_SIM_JOB``
holds the input beats (already packed by the runner from the vectors and the manifest's
``in_beats``: one beat per vector, or one pixel per beat for a streaming CNN, each with its
``tlast``), the stream widths and the stall settings; this testbench drives the beats with
random ``tvalid`` gaps, applies random ``tready`` backpressure, checks the AXI4-Stream rules
on the output (once valid, a beat stays valid and stable until taken) and writes every
received beat to the results file. Comparing with the reference model is the
host's job, so a mismatch is counted and reported rather than ending the run.

Each clock: at the falling edge, decide the transfers of the rising edge just past from the
values sampled last cycle, then drive new values; at ReadOnly, sample the settled signals.
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from hlsgen.numerics import unpack as _unpack


@cocotb.test()
async def stream_vectors(dut) -> None:
    """Stream every job vector through the design and record the output beats."""
    with open(os.environ["HLSGEN_SIM_JOB"], encoding="utf-8") as fh:
        job = json.load(fh)
    rng = random.Random(job["seed"])
    beats: list[list[int]] = job["beats"]  # [data word, tlast] in stream order
    per_vector = job["in_beats"]
    n = len(beats) // per_vector           # vectors, and so output beats expected
    out_w = job["out_bits"]
    in_total = job["in_beat_bits"]

    Clock(dut.aclk, 10, unit="ns").start()
    dut.aresetn.value = 0
    dut.s_axis_tvalid.value = 0
    dut.s_axis_tdata.value = 0
    dut.s_axis_tlast.value = 0
    dut.m_axis_tready.value = 0
    for _ in range(4):
        await RisingEdge(dut.aclk)
    dut.aresetn.value = 1

    outputs: list[list[int]] = []
    lasts: list[int] = []
    out_cycles: list[int] = []
    in_cycles: list[int] = []  # the cycle each vector's last beat was accepted
    errors: list[str] = []
    idx = 0
    in_valid = False
    out_ready = False
    s_ready = m_valid = m_last = False
    m_data = 0
    held: tuple[int, int] | None = None  # an output beat offered but not yet taken
    first_in = last_out = None
    for cycle in range(job["max_cycles"]):
        await FallingEdge(dut.aclk)
        if in_valid and s_ready:  # accepted at the rising edge just past
            if first_in is None:
                first_in = cycle
            idx += 1
            if idx % per_vector == 0:
                in_cycles.append(cycle)
            in_valid = False
        if m_valid and out_ready:
            outputs.append(_unpack(m_data, job["out_features"], out_w, job["out_signed"]))
            lasts.append(int(m_last))
            out_cycles.append(cycle)
            last_out = cycle
            held = None
        elif m_valid:
            held = (m_data, int(m_last))
        if len(outputs) == n:
            break
        if not in_valid and idx < len(beats) and rng.random() >= job["stall_in"]:
            in_valid = True
            dut.s_axis_tdata.value = beats[idx][0]
            dut.s_axis_tlast.value = beats[idx][1]
        elif not in_valid:
            dut.s_axis_tdata.value = rng.getrandbits(in_total)  # must be ignored
            dut.s_axis_tlast.value = rng.getrandbits(1)
        dut.s_axis_tvalid.value = int(in_valid)
        out_ready = rng.random() >= job["stall_out"]
        dut.m_axis_tready.value = int(out_ready)
        await ReadOnly()
        s_ready = bool(dut.s_axis_tready.value)
        m_valid = bool(dut.m_axis_tvalid.value)
        m_data = dut.m_axis_tdata.value.to_unsigned() if m_valid else 0
        m_last = bool(dut.m_axis_tlast.value) if m_valid else False
        if held is not None and (not m_valid or (m_data, int(m_last)) != held):
            errors.append(f"cycle {cycle}: output beat changed or dropped before it was taken")
    else:
        errors.append(f"timeout after {job['max_cycles']} cycles: {len(outputs)} of {n} "
                      "vectors came out")

    result = {
        "outputs": outputs,
        "lasts": lasts,
        "protocol_errors": errors,
        "first_in_cycle": first_in,
        "last_out_cycle": last_out,
        "out_cycles": out_cycles,
        "in_cycles": in_cycles,
    }
    with open(job["results"], "w", encoding="utf-8") as fh:
        json.dump(result, fh)
