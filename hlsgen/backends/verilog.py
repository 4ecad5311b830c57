"""The Verilog backend: renders an unrolled schedule into ``rtl/*.v`` and its manifest.

All widths and every arithmetic decision come from the plan; this module only names things
(``VerilogNames``) and hands structured data (the pipelined adder graphs) to the templates
under ``templates/verilog/``. One file per layer, the top, and the shared output FIFO: a few
files whatever the network's size.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..blockrom import pe_layout, rom_tree
from ..blocks import block_grid
from ..schedules import FoldedSchedule, UnrolledSchedule
from ..schedules.stream import StreamSchedule
from ..schedules.unrolled import UnrolledLayer
from ..templating import render as render_template
from . import DesignNames, RenderedDesign, design_manifest, provenance

BACKEND = "verilog"
FIFO_FILE = "hlsgen_axis_fifo.v"


@dataclass(frozen=True)
class VerilogNames(DesignNames):
    """Every module and file name of a design, in one place."""

    EXT = ".v"

    def pe(self, index: int) -> str:
        """A folded layer's processing element."""
        return f"{self.layer(index)}_pe"

    def stage(self, kind: str, index: int) -> str:
        """A streaming design's stage: ``conv``/``pool``/``dense`` + its (first) layer's
        index, ``collect`` + the flatten's index (``collect_out`` after the last map)."""
        return f"{self.design}_{kind}{'_out' if index < 0 else index}"


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


ROM_DIR = "rom"


def render_folded_files(schedule: FoldedSchedule) -> dict[str, str]:
    """Every RTL file of a folded design, by file name: per layer its PE module and the layer
    (walk, ROM, PEs, output buffers), and the top."""
    names = VerilogNames(schedule.plan.name)
    common = {"header": provenance(schedule), "names": names}
    files = {}
    for layer in schedule.folded_layers:
        lp = layer.plan
        nbr, nbc = block_grid(lp.out_features, lp.in_features, lp.block)
        context = dict(layer=layer, nbr=nbr, nbc=nbc,
                       kw=max(1, (layer.depth - 1).bit_length()),
                       fields={f.name: f for f in pe_layout(layer.capacity)},
                       rom_file=f"{ROM_DIR}/{layer.capacity.rom}.mem", **common)
        files[f"{names.pe(lp.index)}.v"] = render_template("verilog/pe_folded.v.j2", **context)
        files[names.layer_file(lp.index)] = render_template("verilog/layer_folded.v.j2",
                                                            **context)
    if schedule.stages:
        return {FIFO_FILE: render_template("verilog/hlsgen_axis_fifo.v.j2", **common),
                **files, **_stage_files(schedule, names, common)}
    files[names.top_file] = render_template("verilog/top_folded.v.j2", schedule=schedule,
                                            plan=schedule.plan, **common)
    return files


def _render_folded(schedule: FoldedSchedule) -> RenderedDesign:
    """A folded design: RTL, the ROM images it loads (``rom/``, exactly what ``hlsgen rom``
    writes) and a manifest carrying the ROM capacity."""
    rtl = render_folded_files(schedule)
    roms = {f"{ROM_DIR}/{name}": text for name, text in rom_tree(schedule).items()}
    manifest = design_manifest(
        schedule, BACKEND, tuple(f"rtl/{f}" for f in rtl), schedule.latency,
        folded=schedule.capacities,
        roms=tuple(f"{ROM_DIR}/{cap.rom}.mem" for cap in schedule.capacities),
        structure=schedule.plan.structure_digest(),
        **({"in_beats": schedule.in_beats} if schedule.stages else {}))
    return RenderedDesign({**{f"rtl/{name}": text for name, text in rtl.items()}, **roms},
                          manifest)


def _stage_module(names: VerilogNames, st: object) -> tuple[str, str, int]:
    """(module name, template, output width) of a stage of either architecture."""
    from ..schedules.folded import FoldedConvStage, FoldedDenseStage
    from ..schedules.stream import CollectStage, ConvStage, DenseStage, PoolStage

    if isinstance(st, FoldedConvStage):
        return (names.stage("conv", st.index), "verilog/stream_conv_folded.v.j2",
                st.out_channels * st.out_bits)
    if isinstance(st, FoldedDenseStage):
        last = st.layers[-1].plan
        return (names.stage("dense", st.index), "verilog/stream_dense_folded.v.j2",
                last.out_features * last.out_type.bits)
    if isinstance(st, ConvStage):
        return (names.stage("conv", st.index), "verilog/stream_conv.v.j2",
                st.out_channels * st.out_bits)
    if isinstance(st, PoolStage):
        return names.stage("pool", st.index), "verilog/stream_pool.v.j2", st.channels * st.bits
    if isinstance(st, CollectStage):
        return (names.stage("collect", st.index), "verilog/stream_collect.v.j2",
                st.pixels * st.channels * st.bits)
    assert isinstance(st, DenseStage)
    last = st.layers[-1].plan
    return (names.stage("dense", st.index), "verilog/stream_dense.v.j2",
            last.out_features * last.out_type.bits)


def render_stream_files(schedule: StreamSchedule) -> dict[str, str]:
    """Every RTL file of a streaming (feature-map) design, by file name: the FIFO, each
    adder-graph layer (conv cores and dense layers, as the unrolled architecture renders
    them), one module per stage, and the top (which takes the pixels itself)."""
    names = VerilogNames(schedule.plan.name)
    common = {"header": provenance(schedule), "names": names}
    files = {FIFO_FILE: render_template("verilog/hlsgen_axis_fifo.v.j2", **common)}
    for layer in schedule.layers:
        if isinstance(layer, UnrolledLayer):
            files[names.layer_file(layer.plan.index)] = render_template(
                "verilog/layer.v.j2", layer=layer, lp=layer.plan,
                levels_per_stage=schedule.levels_per_stage, **common)
    return {**files, **_stage_files(schedule, names, common)}


def _stage_files(schedule: StreamSchedule | FoldedSchedule, names: VerilogNames,
                 common: dict[str, object]) -> dict[str, str]:
    """One module per stage of a feature-map design, and the streaming top that chains
    them (it takes the pixels itself)."""
    files, stage_names, widths = {}, [], []
    for st in schedule.stages:
        module, template, width = _stage_module(names, st)
        files[f"{module}.v"] = render_template(template, st=st, module=module, **common)
        stage_names.append(module)
        widths.append(width)
    files[names.top_file] = render_template("verilog/top_stream.v.j2", schedule=schedule,
                                            plan=schedule.plan, stage_names=stage_names,
                                            widths=widths, **common)
    return files


def render(schedule: UnrolledSchedule | FoldedSchedule | StreamSchedule) -> RenderedDesign:
    """The design folder's RTL files and manifest."""
    if isinstance(schedule, FoldedSchedule):
        return _render_folded(schedule)
    extra = {}
    if isinstance(schedule, StreamSchedule):
        rtl = render_stream_files(schedule)
        extra["in_beats"] = schedule.in_beats  # the top takes one pixel per beat
    else:
        rtl = render_files(schedule)
    manifest = design_manifest(schedule, BACKEND, tuple(f"rtl/{f}" for f in rtl),
                               schedule.latency, **extra)
    return RenderedDesign({f"rtl/{name}": text for name, text in rtl.items()}, manifest)
