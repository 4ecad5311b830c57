"""The unrolled (latency-optimized) architecture: every layer is its shared adder graph
(``hlsgen/addergraph.py``) with the weights as constants, pruned blocks are no hardware, and
the whole network is one free-running pipeline taking one input vector per clock (II = 1).

Per layer: the adder graph cut into stages of ``levels_per_stage`` adder levels, each stage
ending in registers (a value needed later is carried by a chain of delay registers, so every
path through the layer has the same latency); then the row accumulators (``bias + rounding
constant +- row sum``, one register); then the requantize/ReLU/saturate register. A layer's
latency is ``stages + 2``. No register has a clock enable (a stall-all enable fans out to
every register and limits the clock): backpressure is absorbed by an output FIFO deep
enough for every result in flight, and an input is accepted only while one is free
(credits). The FIFO adds one cycle.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..addergraph import AdderGraph, Node, build_adder_graph
from ..layerplan import LayerPlan
from ..plan import DesignPlan

LEVELS_PER_STAGE = 1  # adder levels between pipeline registers (the clock-rate knob)
OUTPUT_LATENCY = 1    # the output FIFO's write
FIFO_ADDERS = 2       # an hlsgen_axis_fifo: its write and read pointers
CREDIT_ADDERS = 2     # a credit / in-use count: its add and subtract
CONTROL_ADDERS = FIFO_ADDERS + CREDIT_ADDERS  # an unrolled top: the output FIFO, the credits


@dataclass(frozen=True)
class Operand:
    """A node's value as seen ``delay`` registers after the stage that computes it."""

    node: int
    delay: int
    width: int


@dataclass(frozen=True)
class StagedNode:
    """An adder (or, under a DSP policy, a constant multiplier: ``b`` None) of the graph in its
    pipeline stage, with its operands' delays."""

    node: Node
    stage: int
    a: Operand
    b: Operand | None


@dataclass(frozen=True)
class DelayChain:
    """Registers carrying node ``node`` (``width`` bits) ``depth`` stages on."""

    node: int
    width: int
    depth: int


@dataclass(frozen=True)
class StagedRow:
    """Row ``index``'s accumulator: ``const + sign * (root << shift)`` (``root`` None: const)."""

    index: int
    const: int
    root: Operand | None
    shift: int
    sign: int


@dataclass(frozen=True)
class UnrolledLayer:
    """One layer of the unrolled schedule."""

    plan: LayerPlan
    graph: AdderGraph
    inputs: tuple[Node, ...]
    adders: tuple[StagedNode, ...]
    delays: tuple[DelayChain, ...]
    rows: tuple[StagedRow, ...]
    stages: int          # registered adder-graph stages

    @property
    def latency(self) -> int:
        return self.stages + 2  # + row accumulators + requantize

    @property
    def adder_count(self) -> int:
        """The graph's adders plus one constant add per row that has a sum."""
        return self.graph.adders + sum(r.root is not None for r in self.rows)

    @property
    def multiplier_count(self) -> int:
        """Constant multipliers (none unless the DSP policy asks for them)."""
        return self.graph.multipliers


@dataclass(frozen=True)
class UnrolledSchedule:
    """The whole network as one pipeline."""

    plan: DesignPlan
    layers: tuple[UnrolledLayer, ...]
    levels_per_stage: int = LEVELS_PER_STAGE
    dsp: str = "never"
    arch: str = "unrolled"
    initiation_interval: int = 1

    @property
    def datapath_adders(self) -> int:
        """Two-input adders and subtractors of the datapath: the graphs' nodes plus one
        constant add per row that has a sum."""
        return sum(layer.adder_count for layer in self.layers)

    @property
    def adders(self) -> int:
        """Every adder and subtractor the RTL contains: the datapath's and the stream
        control's (output FIFO pointers, credit count)."""
        return self.datapath_adders + CONTROL_ADDERS

    @property
    def multipliers(self) -> int:
        """Multipliers in the datapath: none under the default DSP policy ``never`` (constants
        are shift-and-add); else the graphs' constant multipliers."""
        return sum(layer.multiplier_count for layer in self.layers)

    @property
    def pipeline_depth(self) -> int:
        """Registered datapath stages between the input and the output FIFO."""
        return sum(layer.latency for layer in self.layers)

    @property
    def latency(self) -> int:
        """Cycles from an accepted input beat to its result on the output (no stalls)."""
        return self.pipeline_depth + OUTPUT_LATENCY

    @property
    def fifo_address_bits(self) -> int:
        """The output FIFO holds ``2**bits >= pipeline_depth + 2`` results: every result in
        flight (``pipeline_depth + 1`` at full rate) and one more, so a sink that is always
        ready never throttles the input."""
        return max(1, (self.pipeline_depth + 1).bit_length())


def _stage_layer(lp: LayerPlan, levels_per_stage: int, dsp: str) -> UnrolledLayer:
    graph = build_adder_graph(lp, dsp)
    birth = [0 if n.is_input else (n.level - 1) // levels_per_stage for n in graph.nodes]
    stages = max((b + 1 for n, b in zip(graph.nodes, birth) if not n.is_input), default=0)
    need = [0] * len(graph.nodes)

    def operand(u: int, stage: int) -> Operand:
        delay = stage - birth[u]
        need[u] = max(need[u], delay)
        return Operand(u, delay, graph.nodes[u].width)

    adders = tuple(sorted((StagedNode(n, birth[n.index], operand(n.a, birth[n.index]),
                                      None if n.b is None else operand(n.b, birth[n.index]))
                           for n in graph.nodes if not n.is_input),
                          key=lambda s: (s.stage, s.node.index)))  # stays topological
    rows = []
    for r, rs in zip(lp.rows, graph.rows):
        const = r.bias + lp.round_const
        root = operand(rs.node, stages) if rs.node is not None else None
        rows.append(StagedRow(r.index, const, root, rs.shift, rs.sign))
    delays = tuple(DelayChain(n.index, n.width, need[n.index]) for n in graph.nodes
                   if need[n.index] > 0)
    return UnrolledLayer(lp, graph, tuple(n for n in graph.nodes if n.is_input), adders,
                         delays, tuple(rows), stages)


def schedule_unrolled(plan: DesignPlan, levels_per_stage: int = LEVELS_PER_STAGE,
                      dsp: str = "never") -> UnrolledSchedule:
    if levels_per_stage < 1:
        raise ValueError(f"levels per pipeline stage must be >= 1, got {levels_per_stage}")
    return UnrolledSchedule(plan=plan,
                            layers=tuple(_stage_layer(lp, levels_per_stage, dsp)
                                         for lp in plan.layers),
                            levels_per_stage=levels_per_stage, dsp=dsp)
