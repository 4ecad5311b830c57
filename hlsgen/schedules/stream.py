"""The streaming schedule of a network with feature-map layers (conv2d, pooling, flatten),
for the unrolled architecture.

A feature map travels as a stream of pixels (all channels of one pixel per beat, channel 0
in the least significant bits) in raster order. The design is a chain of stages, each with a
valid/ready stream in and out:

* **input** (:class:`PixelInput`): the top's AXI4-Stream input carries the image itself, one
  pixel per beat in raster order (``in_beats = H*W`` beats per network input vector; beat
  ``p`` holds features ``c*H*W + p`` of the PyTorch-order vector, channel 0 in the least
  significant bits). The top counts pixels to frame images (``TLAST`` on an image's last
  pixel is carried to that image's result beat; a ``TLAST`` on any other pixel is ignored)
  and feeds the pixels straight to the first stage;
* **conv2d**: walks the zero-padded input raster (``Hp x Wp`` positions; a padding position
  takes no beat), keeping ``Kh-1`` line buffers of ``Wp`` pixels and a ``Kh x Kw`` window
  register; at every position where a stride-aligned window ends it feeds the window
  (``hlsgen.numerics.im2col`` order: pixels in raster order, channels contiguous) to the
  layer's shared adder graph (``hlsgen/addergraph.py`` on the conv's ``[O, Kh*Kw*C]``
  matrix, pipelined exactly as an unrolled dense layer: one graph, evaluated once per output
  pixel, one window per clock at most). Results enter a FIFO of ``2**aw`` entries; a window
  is issued only while a slot is free (credits), so the free-running graph never stalls;
* **maxpool2d / avgpool2d**: one accumulator row of ``W/Kw`` pixels; each pixel updates its
  window's running max or sum, and the window's last pixel emits the max, or the sum
  requantized by ``log2(Kh*Kw)`` bits (round half up);
* **collect** (a flatten, and after a last feature-map layer): gathers a map's pixels and
  emits them as one vector in PyTorch order;
* **dense**: consecutive dense layers as the unrolled architecture builds them (adder
  graphs, free-running, credits and an output FIFO).

The output is one beat per image: the network's output vector (a map in PyTorch order).
The top holds an image's last pixel while ``2**TLAST_AW`` whole images are in flight, and
carries the ``tlast`` of each image's last pixel in a small FIFO to its output beat.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence, Union

from ..layerplan import LayerPlan
from ..plan import DesignPlan
from .unrolled import CREDIT_ADDERS, FIFO_ADDERS, UnrolledLayer, _stage_layer

TLAST_AW = 2  # up to 4 images in flight
# The stream top's own adders: the in-flight credit count (add, subtract), the input pixel
# counter, the output FIFO's pointers.
TOP_ADDERS = CREDIT_ADDERS + 1 + FIFO_ADDERS


def _bits(n: int) -> int:
    """Bits of a counter holding ``0 .. n``."""
    return max(1, n.bit_length())


@dataclass(frozen=True)
class PassLayer:
    """A layer without an adder graph (pooling, flatten), in the report's terms."""

    adder_count: int = 0
    multiplier_count: int = 0
    stages: int = 0
    latency: int = 1


@dataclass(frozen=True)
class PixelInput:
    """The top's input stream: one pixel of ``channels`` x ``bits`` per beat, ``pixels`` =
    ``height * width`` beats (raster order) per image; ``count_bits`` for the top's pixel
    counter."""

    channels: int
    height: int
    width: int
    bits: int
    pixels: int
    count_bits: int
    # (pixel, channel, the feature of the input vector (PyTorch order)), pixel-major
    order: tuple[tuple[int, int, int], ...]


@dataclass(frozen=True, kw_only=True)
class ConvWindow:
    """The window walk of a conv stage, shared by both architectures' conv stages: the input
    map (``channels`` x ``bits``, ``height`` x ``width``), the kernel, the padded raster
    ``hp`` x ``wp`` the line buffers walk (``row_bits`` / ``col_bits`` for its counters) and
    the output pixel (``out_channels`` x ``out_bits``)."""

    channels: int
    bits: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    hp: int
    wp: int
    row_bits: int
    col_bits: int
    out_channels: int
    out_bits: int

    @property
    def walk_adders(self) -> int:
        """The walk's counters: row and column, and a phase counter per strided axis."""
        return 2 + (self.stride[0] > 1) + (self.stride[1] > 1)


def conv_window(lp: LayerPlan) -> dict[str, Any]:
    """The :class:`ConvWindow` fields of a conv2d layer plan."""
    ci, hi, wi = lp.in_shape
    hp, wp = hi + 2 * lp.padding[0], wi + 2 * lp.padding[1]
    return dict(channels=ci, bits=lp.in_type.bits, height=hi, width=wi, kernel=lp.kernel,
                stride=lp.stride, padding=lp.padding, hp=hp, wp=wp, row_bits=_bits(hp - 1),
                col_bits=_bits(wp - 1), out_channels=lp.out_features, out_bits=lp.out_type.bits)


@dataclass(frozen=True)
class ConvStage(ConvWindow):
    kind = "conv2d"
    index: int
    plan: LayerPlan
    core: UnrolledLayer
    fifo_aw: int

    @property
    def depth(self) -> int:
        """Window register + the core's pipeline."""
        return self.core.latency + 1

    @property
    def control_adders(self) -> int:
        """The walk's counters, the in-use count, the output FIFO's pointers."""
        return self.walk_adders + CREDIT_ADDERS + FIFO_ADDERS

    @property
    def cycles(self) -> int:
        return self.hp * self.wp


@dataclass(frozen=True)
class PoolStage:
    index: int
    plan: LayerPlan
    kind: str
    channels: int
    bits: int
    signed: bool
    height: int
    width: int
    kernel: tuple[int, int]
    log_kernel: tuple[int, int]
    out_hw: tuple[int, int]
    row_bits: int
    col_bits: int
    slot_bits: int   # bits of the accumulator-row index (0: one slot)
    acc_width: int
    in_width: int
    shift: int
    round_const: int

    @property
    def cycles(self) -> int:
        return self.height * self.width

    @property
    def datapath_adders(self) -> int:
        """Average pooling, per channel: the running sum and the rounding constant's add."""
        return 2 * self.channels if self.kind == "avgpool2d" else 0

    @property
    def control_adders(self) -> int:
        """The row and column counters."""
        return 2


@dataclass(frozen=True)
class CollectStage:
    index: int           # the flatten layer's index, or -1 after the last map
    channels: int
    bits: int
    pixels: int
    count_bits: int
    # (feature in PyTorch order, position in the pixel-major buffer)
    order: tuple[tuple[int, int], ...]

    @property
    def cycles(self) -> int:
        return self.pixels + 1

    @property
    def control_adders(self) -> int:
        """The pixel counter."""
        return 1


@dataclass(frozen=True)
class DenseStage:
    index: int           # index of its first layer
    layers: tuple[UnrolledLayer, ...]
    fifo_aw: int

    @property
    def depth(self) -> int:
        return sum(layer.latency for layer in self.layers)

    @property
    def control_adders(self) -> int:
        """The in-use count, the output FIFO's pointers."""
        return CREDIT_ADDERS + FIFO_ADDERS


Stage = Union[ConvStage, PoolStage, CollectStage, DenseStage]


@dataclass(frozen=True)
class StreamSchedule:
    """A network with feature maps as a chain of streaming stages (unrolled architecture)."""

    plan: DesignPlan
    pixel_in: PixelInput
    stages: tuple[Stage, ...]
    layers: tuple[object, ...]   # per plan layer: its UnrolledLayer or a PassLayer
    levels_per_stage: int
    dsp: str = "never"
    arch: str = "unrolled"
    tlast_aw: int = TLAST_AW

    @property
    def in_beats(self) -> int:
        """AXI4-Stream input beats per network input vector: one per pixel."""
        return self.pixel_in.pixels

    @property
    def initiation_interval(self) -> int:
        """Cycles per image at full rate: the input's pixels or the slowest stage's walk."""
        return max([self.pixel_in.pixels] + [getattr(s, "cycles", 1) for s in self.stages])

    @property
    def latency(self) -> int:
        """A bound on the cycles from an image's first accepted pixel to its result beat
        (no stalls): every stage's walk and pipeline in turn (they overlap in hardware)."""
        total = 1
        for s in self.stages:
            total += getattr(s, "cycles", 0) + getattr(s, "depth", 1) + 1
        return total

    @property
    def datapath_adders(self) -> int:
        return sum(getattr(layer, "adder_count", 0) for layer in self.layers)

    @property
    def adders(self) -> int:
        """Every adder and subtractor the RTL contains: the layers' datapaths, each stage's
        control (walk counters, in-use counts, FIFO pointers) and the top's."""
        return self.datapath_adders + control_adders(self.stages)

    @property
    def multipliers(self) -> int:
        return sum(getattr(layer, "multiplier_count", 0) for layer in self.layers)


def control_adders(stages: Sequence[object]) -> int:
    """The stream control's adders of a chain of stages and its top (``TOP_ADDERS``)."""
    return TOP_ADDERS + sum(getattr(st, "control_adders", 0) for st in stages)


def _fifo_aw(depth: int) -> int:
    return max(1, (depth + 1).bit_length())


def collect_stage(index: int, shape: tuple[int, int, int], bits: int) -> CollectStage:
    """The collector of a flatten (``index``) or after a last feature map (-1)."""
    c, h, w = shape
    hw = h * w
    order = tuple((ch * hw + p, p * c + ch) for ch in range(c) for p in range(hw))
    return CollectStage(index, c, bits, hw, _bits(hw - 1), order)


def stage_chain(plan: DesignPlan, arch: str, core: Callable[[LayerPlan], Any],
                conv_stage: Callable[[LayerPlan, Any], Any],
                dense_stage: Callable[[tuple[Any, ...]], Any]
                ) -> tuple[tuple[object, ...], tuple[Any, ...]]:
    """The chain of stages of a network with feature maps, as both architectures build it:
    ``core(lp)`` is a conv or dense layer's core in the ``arch`` architecture,
    ``conv_stage(lp, core)`` its conv stage and ``dense_stage(cores)`` the stage of the dense
    tail; pooling, flatten and a last map's collector are the streaming stages. Returns each
    plan layer's entry (its core, or a :class:`PassLayer`) and the stages."""
    stages: list[Any] = []
    per_layer: list[object] = []
    dense: list[Any] = []
    for lp in plan.layers:
        if lp.kind == "dense":
            dense.append(core(lp))
            per_layer.append(dense[-1])
            continue
        if dense:
            raise ValueError(f"layer {lp.index} ({lp.name!r}): a {lp.kind} layer after dense "
                             "layers is not supported")
        if lp.kind == "conv2d":
            per_layer.append(core(lp))
            stages.append(conv_stage(lp, per_layer[-1]))
        elif lp.kind in ("maxpool2d", "avgpool2d"):
            stages.append(pool_stage(lp))
            per_layer.append(PassLayer(adder_count=stages[-1].datapath_adders))
        elif lp.kind == "flatten":
            per_layer.append(PassLayer())
            stages.append(collect_stage(lp.index, lp.in_shape, lp.in_type.bits))
        else:
            raise ValueError(f"layer {lp.index} ({lp.name!r}): the {arch} architecture "
                             f"has no {lp.kind} stage")
    if dense:
        stages.append(dense_stage(tuple(dense)))
    elif len(getattr(plan.layers[-1], "out_shape", ())) == 3:
        last = plan.layers[-1]
        stages.append(collect_stage(-1, last.out_shape, last.out_type.bits))
    return tuple(per_layer), tuple(stages)


def schedule_stream(plan: DesignPlan, levels_per_stage: int, dsp: str) -> StreamSchedule:
    """The streaming schedule of ``plan`` (its first layer takes a feature map)."""
    per_layer, stages = stage_chain(
        plan, "streaming", lambda lp: _stage_layer(lp, levels_per_stage, dsp),
        lambda lp, core: ConvStage(lp.index, lp, core, _fifo_aw(core.latency + 1),
                                   **conv_window(lp)),
        lambda dense: DenseStage(dense[0].plan.index, dense,
                                 _fifo_aw(sum(layer.latency for layer in dense))))
    return StreamSchedule(plan, pixel_input(plan), stages, per_layer, levels_per_stage, dsp)


# ------------------------------------------------------- shared with the folded architecture

def pixel_input(plan: DesignPlan) -> PixelInput:
    """The top's pixel stream for ``plan`` (its first layer takes a feature map)."""
    first = plan.layers[0]
    if not hasattr(first, "in_shape"):
        raise ValueError(f"layer 0 ({first.name!r}) is a {first.kind} layer: the streaming "
                         "architecture needs a feature-map layer first")
    c, h, w = first.in_shape
    hw = h * w
    return PixelInput(c, h, w, plan.in_type.bits, hw, _bits(hw - 1),
                      tuple((p, ch, ch * hw + p) for p in range(hw) for ch in range(c)))


def pool_stage(lp: LayerPlan) -> PoolStage:
    """The streaming stage of a max/avg pooling layer (as ``schedule_stream`` builds it)."""
    ci, hi, wi = lp.in_shape
    lk = (lp.kernel[0].bit_length() - 1, lp.kernel[1].bit_length() - 1)
    wo = wi // lp.kernel[1]
    avg = lp.kind == "avgpool2d"
    return PoolStage(
        lp.index, lp, lp.kind, ci, lp.in_type.bits, lp.in_type.signed, hi, wi,
        lp.kernel, lk, (hi // lp.kernel[0], wo), _bits(hi - 1), _bits(wi - 1),
        (wo - 1).bit_length(), lp.acc_width if avg else lp.in_width, lp.in_width,
        lp.shift, lp.round_const)

