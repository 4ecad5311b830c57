"""The HLS C++ backend: renders a schedule into ``hls/*.cpp|h``, a C-simulation testbench
``tb/``, a Vitis HLS Tcl script, and the manifest.

The C++ is the same shared adder graph as the Verilog (``hlsgen/addergraph.py`` through the
unrolled schedule): every node an ``ap_int`` of the node's exact width, every row
``bias +- (root << shift)`` in the plan's accumulator width, then ``hlsgen::requantize`` from
the one hand-written header (``templates/hls/hlsgen_requantize.h.j2``: the numerics'
round-shift-ReLU-saturate on ``ap_int``). This module only names things (``HlsNames``) and
hands structured data to the templates under ``templates/hls/``; widths, shifts, signs and
constants come from the plan, and no C++ text is built here.

Files of a design (``D`` its name):

- ``hls/hlsgen_requantize.h``: the requantize, shared by every layer;
- ``hls/D.h``: the stream word types, the layer and top declarations;
- ``hls/D_layerK.cpp``: one function per layer (``#pragma HLS INLINE``), per architecture;
- ``hls/D_top.cpp``: the top on ``hls::stream`` (``INTERFACE axis``, ``ap_ctrl_none``,
  ``PIPELINE II=1``), shared by every architecture;
- ``tb/D_tb.cpp``: the testbench (g++ C simulation here, ``csim_design``/``cosim_design`` in
  Vitis HLS);
- ``hls/run_hls.tcl``: the Vitis HLS script (untested here: no vendor tool).

The folded variant (``templates/hls/layer_folded.cpp.j2``) declares each layer's walk ROM as
a ``const`` array of the very words of its ROM image (``hlsgen/blockrom.py``'s ``walk_rom``,
split per PE and into 64-bit limbs: plain numbers) and walks it with a ``PIPELINE``d loop, one
word per PE per iteration, with the folded RTL's arithmetic (sign bits, the magnitude product,
dense products, the bias on ``first`` words, the output slot ``brow``) and widths (the folded
schedule's); the header, top, testbench and script are shared.

Networks with feature maps (the unrolled architecture's streaming schedule,
``hlsgen/schedules/stream.py``) get one file per layer from ``SPATIAL_TEMPLATES``: a conv
(``layer_conv.cpp.j2``) declares its adder graph on one window as a private function (the
``templates/hls/graph.j2`` macro a dense layer's function comes from) and calls it once per
output pixel from a ``PIPELINE``d loop over the padded input with line buffers; pooling keeps
one accumulator row; flatten reorders. The top still takes one whole image per call (one
stream word, PyTorch order) and holds maps pixel-major ``[H][W][C]`` (``HlsArray``,
``activations``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..blockrom import pe_layout, walk_rom
from ..blocks import block_grid
from ..fixedpoint import QType
from ..layerplan import LayerPlan
from ..schedules import Schedule
from ..schedules.folded import FoldedLayer
from ..schedules.stream import CollectStage, ConvStage, PoolStage, StreamSchedule
from ..schedules.unrolled import Operand, UnrolledLayer
from ..templating import render as render_template
from . import DesignNames, RenderedDesign, design_manifest, provenance

BACKEND = "hls"
# One layer template per architecture; the rest of the design is shared.
LAYER_TEMPLATES = {"unrolled": "hls/layer_unrolled.cpp.j2",
                   "folded": "hls/layer_folded.cpp.j2"}
# The feature-map layers of a streaming (unrolled) schedule: one template per layer kind.
SPATIAL_TEMPLATES = {"conv2d": "hls/layer_conv.cpp.j2", "maxpool2d": "hls/layer_pool.cpp.j2",
                     "avgpool2d": "hls/layer_pool.cpp.j2", "flatten": "hls/layer_flatten.cpp.j2"}
# ap_int's default widest word (ap_common.h's AP_INT_MAX_W): a folded PE word is held in one
# ap_uint of at most this; a design whose stream word is wider raises it, up to the headers'
# limit.
AP_INT_MAX_W = 1024
AP_INT_LIMIT_W = 1 << 15
# The folded walk ROM's C++ array holds each PE word as 64-bit limbs, limb 0 the lowest bits.
LIMB_BITS = 64
# The Vitis HLS script's defaults (the user edits them for a board): a Zynq-7020 at 200 MHz.
DEFAULT_PART = "xc7z020clg400-1"
DEFAULT_CLOCK_NS = 5.0
# The HLS tool's scheduler decides the latency (see its csynth report): the manifest says 0.
HLS_LATENCY = 0


@dataclass(frozen=True)
class HlsNames(DesignNames):
    """Every function, type and file name of an HLS design, in one place."""

    EXT = ".cpp"

    @property
    def header_file(self) -> str:
        return f"{self.design}.h"

    @property
    def requantize_file(self) -> str:
        return "hlsgen_requantize.h"

    @property
    def tb(self) -> str:
        return f"{self.design}_tb"

    @property
    def tb_file(self) -> str:
        return f"{self.tb}.cpp"

    @property
    def tcl_file(self) -> str:
        return "run_hls.tcl"

    @property
    def project(self) -> str:
        return f"{self.design}_prj"

    @property
    def in_beat(self) -> str:
        return f"{self.design}_in_beat"

    @property
    def out_beat(self) -> str:
        return f"{self.design}_out_beat"

    @property
    def in_elem(self) -> str:
        return f"{self.design}_in_t"

    @property
    def out_elem(self) -> str:
        return f"{self.design}_out_t"

    def macro(self, what: str) -> str:
        return f"{self.design.upper()}_{what}"

    def conv_core(self, index: int) -> str:
        """A conv layer's adder graph on one window (private to the layer's file)."""
        return f"{self.layer(index)}_window"


@dataclass(frozen=True)
class HlsArray:
    """An activation of the top: a feature map held pixel-major as ``[H][W][C]`` (one
    pixel's channels contiguous, as the stream's beats and the conv's window columns) or a
    vector ``[N]``; ``qtype`` its elements' type."""

    dims: tuple[int, ...]
    qtype: QType

    @property
    def is_map(self) -> bool:
        return len(self.dims) == 3


@dataclass(frozen=True)
class HlsRow:
    """Row ``index``'s accumulator ``bias + sign * (root << shift)`` (``root`` None: the
    bias alone); the requantize adds the rounding constant."""

    index: int
    bias: int
    root: Operand | None
    shift: int
    sign: int


def _rows(layer: UnrolledLayer) -> tuple[HlsRow, ...]:
    biases = {r.index: r.bias for r in layer.plan.rows}
    return tuple(HlsRow(r.index, biases[r.index], r.root, r.shift, r.sign) for r in layer.rows)


@dataclass(frozen=True)
class HlsLimb:
    """Limb ``index`` of a PE word: its bits ``[msb:lsb]``."""

    index: int
    msb: int
    lsb: int


def _bits(word: int, lsb: int, width: int) -> int:
    return (word >> lsb) & ((1 << width) - 1)


def _folded_context(layer: FoldedLayer) -> dict[str, object]:
    """The walk ROM's words (those of ``walk_rom``'s image, per PE, as limbs) and the PE
    word's field positions, as numbers."""
    cap = layer.capacity
    lp = layer.plan
    if cap.pe_width > AP_INT_MAX_W:
        raise ValueError(f"layer {lp.index} ({lp.name!r}): a folded PE word of {cap.pe_width} "
                         f"bits is wider than ap_int's {AP_INT_MAX_W}; use smaller blocks or "
                         "--backend verilog")
    width = cap.pe_width
    limbs = tuple(HlsLimb(i, min(width, lsb + LIMB_BITS) - 1, lsb)
                  for i, lsb in enumerate(range(0, width, LIMB_BITS)))
    image = walk_rom(layer)
    rom = tuple(tuple(tuple(_bits(word, p * width + limb.lsb, limb.msb - limb.lsb + 1)
                            for limb in limbs) for p in range(cap.pes)) for word in image.words)
    nbr, nbc = block_grid(lp.out_features, lp.in_features, lp.block)
    return {"layer": layer, "lp": lp, "cap": cap, "nbr": nbr, "nbc": nbc,
            "fields": {f.name: f for f in pe_layout(cap)}, "limbs": limbs, "rom": rom,
            "rom_image": image.name}


def _layer_context(schedule: Schedule, layer: UnrolledLayer | FoldedLayer
                   ) -> dict[str, object]:
    if isinstance(layer, FoldedLayer):
        return _folded_context(layer)
    return {"layer": layer, "lp": layer.plan, "rows": _rows(layer),
            "levels_per_stage": schedule.levels_per_stage}


def _in_array(lp: LayerPlan) -> HlsArray:
    """The activation layer ``lp`` takes: a map ``[H][W][C]`` for a feature-map layer."""
    shape = getattr(lp, "in_shape", None)
    if shape is None:
        return HlsArray((lp.in_features,), lp.in_type)
    c, h, w = shape
    return HlsArray((h, w, c), lp.in_type)


def _out_array(lp: LayerPlan) -> HlsArray:
    """The activation layer ``lp`` produces (a conv's plan counts its matrix's rows, not
    its map: the map comes from ``out_shape``)."""
    shape = getattr(lp, "out_shape", None)
    if shape is None or len(shape) != 3:
        return HlsArray((shape[0] if shape else lp.out_features,), lp.out_type)
    c, h, w = shape
    return HlsArray((h, w, c), lp.out_type)


def activations(schedule: Schedule) -> tuple[HlsArray, ...]:
    """The top's arrays: the input (in its first layer's layout) and every layer's output.
    A layer must take the layout its predecessor produces; the one case that does not (a
    feature-map layer reading a flatten's vector) is refused."""
    layers = schedule.plan.layers
    acts = [_in_array(layers[0])]
    for lp in layers:
        if _in_array(lp).dims != acts[-1].dims:
            raise ValueError(f"layer {lp.index} ({lp.name!r}) is a {lp.kind} layer reading a "
                             "flat vector, which the hls backend does not render; remove the "
                             "flatten before it or use --backend verilog")
        acts.append(_out_array(lp))
    return tuple(acts)


def _spatial_context(schedule: StreamSchedule, lp: LayerPlan) -> dict[str, object]:
    """A feature-map layer's numbers: its stage of the streaming schedule (geometry, the
    conv's adder graph) and its input and output arrays."""
    stage = next(st for st in schedule.stages
                 if isinstance(st, (ConvStage, PoolStage, CollectStage)) and st.index == lp.index)
    context: dict[str, object] = {"lp": lp, "st": stage, "x": _in_array(lp),
                                  "y": _out_array(lp)}
    if isinstance(stage, ConvStage):
        context.update(layer=stage.core, rows=_rows(stage.core),
                       levels_per_stage=schedule.levels_per_stage)
    return context


def _stream_layer_files(schedule: StreamSchedule, names: HlsNames,
                        common: dict[str, object]) -> dict[str, str]:
    files = {}
    for lp, layer in zip(schedule.plan.layers, schedule.layers):
        if lp.kind == "dense":
            context = _layer_context(schedule, layer)  # type: ignore[arg-type]
            template = LAYER_TEMPLATES["unrolled"]
        elif lp.kind in SPATIAL_TEMPLATES:
            context = _spatial_context(schedule, lp)
            template = SPATIAL_TEMPLATES[lp.kind]
        else:
            raise ValueError(f"layer {lp.index} ({lp.name!r}) is a {lp.kind} layer, which "
                             "the hls backend does not render; use --backend verilog")
        files[f"hls/{names.layer_file(lp.index)}"] = render_template(template, **context,
                                                                     **common)
    return files


def _max_word(plan_in: int, plan_out: int) -> int:
    """``AP_INT_MAX_W`` for stream words of ``plan_in`` and ``plan_out`` bits: 0 when ap_int's
    default suffices, else the widest rounded up to whole KiB of bits."""
    widest = max(plan_in, plan_out)
    if widest > AP_INT_LIMIT_W:
        raise ValueError(f"a stream word of {widest} bits is wider than ap_int's "
                         f"{AP_INT_LIMIT_W}; use --backend verilog (it streams pixels)")
    return 0 if widest <= AP_INT_MAX_W else -(-widest // 1024) * 1024


def render_files(schedule: Schedule) -> dict[str, str]:
    """Every file of the design, by path inside the design folder."""
    if schedule.arch not in LAYER_TEMPLATES:
        raise ValueError(f"the hls backend renders the {', '.join(LAYER_TEMPLATES)} "
                         f"architecture(s), not {schedule.arch!r}; use --backend verilog or "
                         f"--arch {next(iter(LAYER_TEMPLATES))}")
    if getattr(schedule, "stages", ()) and not isinstance(schedule, StreamSchedule):
        raise ValueError(f"the hls backend does not render a {schedule.arch} network with "
                         "feature maps (conv2d, pooling, flatten); use --backend verilog or "
                         "--arch unrolled")
    plan = schedule.plan
    names = HlsNames(plan.name)
    stream = isinstance(schedule, StreamSchedule)
    # the top is one II=1 pipeline for an unrolled all-dense network; a network with
    # feature maps runs its layers' pixel loops one after another, a folded one its walks
    common = {"header": provenance(schedule), "names": names, "plan": plan,
              "arch": schedule.arch, "acts": activations(schedule),
              "pipelined": schedule.arch == "unrolled" and not stream,
              "max_word": _max_word(plan.in_features * plan.in_type.bits,
                                    plan.out_features * plan.out_type.bits)}
    files = {f"hls/{names.requantize_file}":
             render_template("hls/hlsgen_requantize.h.j2", **common),
             f"hls/{names.header_file}":
             render_template("hls/design.h.j2", guard=names.macro("H"), **common)}
    if stream:
        files.update(_stream_layer_files(schedule, names, common))
    else:
        for layer in schedule.layers:
            files[f"hls/{names.layer_file(layer.plan.index)}"] = render_template(
                LAYER_TEMPLATES[schedule.arch], **_layer_context(schedule, layer), **common)
    files[f"hls/{names.top_file}"] = render_template("hls/top.cpp.j2", **common)
    files[f"tb/{names.tb_file}"] = render_template("hls/tb.cpp.j2", **common)
    sources = [p.removeprefix("hls/") for p in files if p.endswith(".cpp")
               and p.startswith("hls/")]
    files[f"hls/{names.tcl_file}"] = render_template(
        "hls/run_hls.tcl.j2", sources=sources, tb_path=f"../tb/{names.tb_file}",
        part=DEFAULT_PART, clock_ns=DEFAULT_CLOCK_NS, **common)
    return files


def sources(files: dict[str, str]) -> tuple[str, ...]:
    """The design's C++ sources and headers (not the testbench, not the script)."""
    return tuple(p for p in files if p.startswith("hls/") and p.endswith((".cpp", ".h")))


def render(schedule: Schedule) -> RenderedDesign:
    """The design folder's HLS C++ files and manifest."""
    files = render_files(schedule)
    manifest = design_manifest(schedule, BACKEND, sources(files), HLS_LATENCY)
    return RenderedDesign(files, manifest)
