"""The Verilog backend: renders an unrolled schedule into ``rtl/*.v`` and its manifest.

All widths and every arithmetic decision come from the plan; this module only names things
(``VerilogNames``) and hands structured data (the pipelined adder graphs) to the templates
under ``templates/verilog/``. One file per layer, the top, and the shared output FIFO: a few
files whatever the network's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..manifest import DesignManifest
from ..schedules import UnrolledSchedule
from ..templating import render as render_template
from . import RenderedDesign, provenance

BACKEND = "verilog"
FIFO_FILE = "hlsgen_axis_fifo.v"


@dataclass(frozen=True)
class VerilogNames:
    """Every module and file name of a design, in one place."""

    design: str

    @property
    def top(self) -> str:
        return f"{self.design}_top"

    def layer(self, index: int) -> str:
        return f"{self.design}_layer{index}"

    def layer_file(self, index: int) -> str:
        return f"{self.layer(index)}.v"

    @property
    def top_file(self) -> str:
        return f"{self.top}.v"


def top_module(schedule: UnrolledSchedule) -> str:
    return VerilogNames(schedule.plan.name).top


def render_files(schedule: UnrolledSchedule) -> dict[str, str]:
    """Every RTL file of the design, by file name."""
    names = VerilogNames(schedule.plan.name)
    common = {"header": provenance(schedule), "names": names}
    files = {FIFO_FILE: render_template("verilog/hlsgen_axis_fifo.v.j2", **common)}
    for layer in schedule.layers:
        files[names.layer_file(layer.plan.index)] = render_template(
            "verilog/layer.v.j2", layer=layer, lp=layer.plan,
            levels_per_stage=schedule.levels_per_stage, **common)
    files[names.top_file] = render_template("verilog/top_unrolled.v.j2", schedule=schedule,
                                            plan=schedule.plan, **common)
    return files


def render(schedule: UnrolledSchedule) -> RenderedDesign:
    """The design folder's RTL files and manifest."""
    rtl = render_files(schedule)
    plan = schedule.plan
    manifest = DesignManifest(
        generator=f"hlsgen {plan.generator}", artifact_sha256=plan.artifact_hash,
        arch=schedule.arch, backend=BACKEND, name=plan.name,
        top=VerilogNames(plan.name).top, sources=tuple(f"rtl/{f}" for f in rtl),
        in_features=plan.in_features, in_bits=plan.in_type.bits, in_signed=plan.in_type.signed,
        out_features=plan.out_features, out_bits=plan.out_type.bits,
        out_signed=plan.out_type.signed, latency=schedule.latency,
        initiation_interval=schedule.initiation_interval)
    return RenderedDesign({f"rtl/{name}": text for name, text in rtl.items()}, manifest)
