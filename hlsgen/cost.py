"""Estimated hardware cost of an unrolled schedule, per layer, before any synthesis.

What a layer builds, counted from its schedule (all exact):

- ``adder_bits``: the sum of the adder-graph nodes' output widths plus the row accumulators'
  widths (one constant add per row with a sum): the size the compressor's block surrogate
  predicts;
- ``register_bits``: the pipeline's delay registers, the accumulators and the output
  register, at their declared widths;
- ``multipliers``: constant multipliers (``--dsp auto|always``), each one DSP block when the
  target has them.

and what the estimate maps to cells, the same adders and registers at the widths a
synthesizer can prove (exact too: from each node's value range and its constant-zero low
bits, see :func:`layer_features`):

- ``carry_bits``: the LUT-eq of the carry chains, ``2 * ceil(w / 2)`` (``w / 2`` CCU2C) for
  each adder ``w`` > 4 bits wide once its sign bit (a value that is never negative) and the
  low bits that only pass an operand through (``a + (b << s)``: ``b``'s ``s`` zero bits) are
  taken off;
- ``narrow_adders``: the adders of at most 4 such bits, which Yosys builds from LUTs (its
  ECP5 carry map skips them) and ABC maps worse than a carry chain: ``narrow_adders_4``
  those of exactly 4 bits (a 6-input function per upper bit), the rest of 2-3;
- ``clamp_bits``: the requantize logic, the shifted accumulator's bits (``q_width``) times
  the clamps (saturate high, ReLU / saturate low) of every row with a sum; a row without a
  clamp is wiring;
- ``live_register_bits``: the register bits left once the provably constant ones are gone
  (a never-negative value's sign bit, constant-zero low bits, the accumulator bits the
  rounding shift drops, the registers of rows without a sum).

The estimate maps those counts to ECP5 cells with coefficients fitted to Yosys
(``synth_ecp5 -nodsp -noflatten``, every layer its own module) by
``benchmarks/cost_model.py``, which also prints each layer's estimate beside its measured
figure; ``CALIBRATION`` names that run. ABC packs two adder levels into LUT4 logic where a
stage holds more than one level, so the LUT-equivalents per carry bit depend on the levels
per pipeline stage. The constants are a model, not a measurement: ``hlsgen synth`` measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .addergraph import Node
from .schedules.unrolled import UnrolledLayer, UnrolledSchedule

# LUT-eq (LUT4 + 2 x CCU2C) per carry bit by levels per stage (a depth not listed uses the
# deepest one listed), per narrow adder (4 bits, 2-3 bits), per clamp bit, and flip-flops per
# live register bit: fitted by benchmarks/cost_model.py.
LUT_EQ_PER_CARRY_BIT = {1: 1.043, 2: 1.159}
LUT_EQ_PER_NARROW_ADDER = {4: 6.118, 3: 2.873}
LUT_EQ_PER_CLAMP_BIT = -0.063  # fitted: the clamps cost next to nothing (noise)
FF_PER_LIVE_REGISTER_BIT = 0.981
# The budget conversion (adder_bits_for_lut_eq): LUT-eq per schedule adder bit, the carry
# chains and narrow adders together (the compressor counts adder bits, not widths per
# adder), and per output bit. These are the first calibration's figures (32 layers, 4- to
# 16-bit), kept so that a ``--max-luts N`` compression stays the compression it was when
# its results were recorded; the refit of the same two-term form on today's 60 layers
# (benchmarks/cost_model.py prints it, ``budget``) gives 1.048 / 1.146 and 0.604, within 5%.
LUT_EQ_PER_ADDER_BIT = {1: 1.002, 2: 1.162}
LUT_EQ_PER_OUTPUT_BIT = 0.641  # per output bit, for the budget conversion
CALIBRATION = ("fitted to Yosys 0.70 synth_ecp5 -nodsp -noflatten on 60 layers of 16 designs "
               "(2- to 16-bit, benchmarks/results/cost_model.md): held-out layers within "
               "10.7% LUT-eq and 2.9% FF; fit layers within 22.8% LUT-eq (the narrow last "
               "layers of two 64-128-64-10 designs) and 4.0% FF")
TOLERANCE = 0.15  # the per-layer error the synth-tier test allows


@dataclass(frozen=True)
class LayerCost:
    """One layer's counts (exact) and its estimated ECP5 cells (model)."""

    name: str
    adders: int
    adder_bits: int
    register_bits: int
    output_bits: int
    multipliers: int
    carry_bits: int
    narrow_adders_4: int
    narrow_adders: int
    clamp_bits: int
    live_register_bits: int
    lut_eq: int       # estimated LUT4 + 2 x CCU2C, DSPs off except the multipliers' DSPs
    ff: int           # estimated TRELLIS_FF

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _by_depth(table: dict[int, float], levels_per_stage: int) -> float:
    known = sorted(table)
    return table[max((k for k in known if k <= levels_per_stage), default=known[0])]


def _per_bit(levels_per_stage: int) -> float:
    return _by_depth(LUT_EQ_PER_ADDER_BIT, levels_per_stage)


def _trailing_zeros(v: int) -> int:
    return (v & -v).bit_length() - 1 if v else 0


def _value_bits(node: Node) -> int:
    """The bits a node's values need: its signed width, less the sign bit when it is never
    negative."""
    return node.hi.bit_length() if node.lo >= 0 else node.width


def layer_features(layer: UnrolledLayer) -> dict[str, int]:
    """The exact counts the model uses for one layer.

    A node's *live* width is its signed width less the sign bit when it is never negative
    and less its constant-zero low bits (an input has none; ``a + (b << s)`` has those both
    operands share); an adder's *carry* width is its live width less the low bits where an
    operand is a constant zero (those pass the other operand through; a subtrahend's only)."""
    lp = layer.plan
    nodes = layer.graph.nodes
    tz = [0] * len(nodes)      # constant-zero low bits of each node
    for n in nodes:            # topological
        if n.is_adder and n.b is not None:
            tz[n.index] = min(tz[n.a], tz[n.b] + n.shift)

    def live(i: int) -> int:
        return max(0, _value_bits(nodes[i]) - tz[i])

    carry = []  # the carry width of every adder: graph adders, then row accumulators
    for s in layer.adders:
        n = s.node
        if s.b is None:
            continue
        zb = tz[n.b] + n.shift
        through = max(tz[n.a], zb) if n.sign > 0 else zb
        carry.append(max(0, _value_bits(n) - through))
    rows = [r for r in layer.rows if r.root is not None]
    for r in rows:
        zr = tz[r.root.node] + r.shift
        if r.const == 0 and r.sign > 0:
            continue  # the accumulator is the row sum: no adder
        through = max(_trailing_zeros(r.const) if r.const else 0, zr) if r.sign > 0 else zr
        carry.append(lp.acc_width - through)
    adder_bits = sum(s.node.width for s in layer.adders if s.b is not None)
    adder_bits += len(rows) * lp.acc_width
    output_bits = lp.out_features * lp.out_type.bits
    register_bits = sum(d.width * d.depth for d in layer.delays) \
        + lp.out_features * lp.acc_width + output_bits
    clamps = (lp.clamp_hi is not None) + (lp.clamp_lo is not None)
    live_regs = (sum(live(d.node) * d.depth for d in layer.delays)
                 + len(rows) * (min(lp.acc_width - lp.shift, lp.q_width) + lp.out_type.bits))
    return {"adders": layer.adder_count, "adder_bits": adder_bits,
            "register_bits": register_bits, "output_bits": output_bits,
            "multipliers": layer.multiplier_count,
            "carry_bits": sum(2 * ((w + 1) // 2) for w in carry if w > 4),
            "narrow_adders_4": sum(w == 4 for w in carry),
            "narrow_adders": sum(1 < w < 4 for w in carry),
            "clamp_bits": len(rows) * lp.q_width * clamps,
            "live_register_bits": live_regs}


def lut_eq_of(f: dict[str, int], levels_per_stage: int) -> float:
    """The model's LUT-eq of one layer's features (unrounded)."""
    return (_by_depth(LUT_EQ_PER_CARRY_BIT, levels_per_stage) * f["carry_bits"]
            + LUT_EQ_PER_NARROW_ADDER[4] * f["narrow_adders_4"]
            + LUT_EQ_PER_NARROW_ADDER[3] * f["narrow_adders"]
            + LUT_EQ_PER_CLAMP_BIT * f["clamp_bits"])


def estimate(schedule: UnrolledSchedule) -> tuple[LayerCost, ...]:
    """Per-layer cost estimate of an unrolled schedule."""
    out = []
    for layer in schedule.layers:
        f = layer_features(layer)
        out.append(LayerCost(
            name=layer.plan.name, **f,
            lut_eq=round(lut_eq_of(f, schedule.levels_per_stage)),
            ff=round(FF_PER_LIVE_REGISTER_BIT * f["live_register_bits"])))
    return tuple(out)


def totals(costs: tuple[LayerCost, ...]) -> dict[str, int]:
    return {"lut_eq": sum(c.lut_eq for c in costs), "ff": sum(c.ff for c in costs),
            "dsp": sum(c.multipliers for c in costs)}


# ------------------------------------------------------------------------------------------
# The block-level surrogate: what one block of a layer adds, from its kind, its input width
# and its digits alone (no schedule). The compressor prices blocks with it while it chooses
# their kinds (``--objective luts``); the schedule-based estimate above stays the figure a
# report shows.
#
# A kept unified block of ``n`` columns is one signed sum of its inputs (a balanced tree of
# ``n - 1`` adders, ``in_bits + level + 1`` bits wide) times the magnitude, one row-sum term
# per nonzero CSD digit, each term about ``in_bits + bitlen(n - 1) + 1`` bits wide; a dense
# block is one term per nonzero digit of each weight, about ``in_bits`` wide (a term's shift
# stays outside its adder), plus a constant; every row with a term adds its bias once, an
# adder of about the accumulator's width (:func:`row_bits`). The adder graph shares the sums
# of rows that keep a block column with the same signs, so a tree costs only a share of its
# unshared size. The four scales are a least-squares fit (relative error) to the exact adder
# bits of the unrolled schedules of 23 layers: examples/digits_mlp.json,
# benchmarks/artifacts/*.json, four compressor runs at 2- to 5-bit widths (not committed)
# and four random networks (3- to 8-bit inputs): every layer within 0.87-1.24 of its exact
# figure, the 21 layers of benchmarks/lut_pareto.py's designs within 0.91-1.11;
# tests/test_cost_objective.py holds the committed designs and further random networks to
# it.
UNIFIED_TREE_SHARE = 0.235
UNIFIED_TERM_SCALE = 1.418
DENSE_TERM_SCALE = 0.781
DENSE_TERM_OFFSET = 2.721


def sum_tree_bits(n: int, in_bits: int) -> int:
    """Adder bits of a balanced signed-sum tree over ``n`` inputs of ``in_bits`` bits."""
    if n <= 1:
        return 0
    half = (n + 1) // 2
    return (sum_tree_bits(half, in_bits) + sum_tree_bits(n - half, in_bits)
            + in_bits + (n - 1).bit_length() + 1)


def unified_block_bits(n: int, digits: int, in_bits: int) -> float:
    """Modelled adder bits of one row of a unified block: ``n`` columns, ``digits`` CSD
    digits in its magnitude (0: the block is pruned)."""
    if digits == 0 or n == 0:
        return 0.0
    return (UNIFIED_TREE_SHARE * sum_tree_bits(n, in_bits)
            + UNIFIED_TERM_SCALE * digits * (in_bits + (n - 1).bit_length() + 1))


def dense_block_bits(digits: int, in_bits: int) -> float:
    """Modelled adder bits of dense weights with ``digits`` CSD digits in all."""
    return digits * (DENSE_TERM_SCALE * in_bits + DENSE_TERM_OFFSET)


def row_bits(in_bits: int, w_bits: int, in_features: int) -> int:
    """Modelled width of a row's bias adder (about its accumulator's)."""
    return in_bits + w_bits + max(0, in_features - 1).bit_length() + 1


def adder_bits_lut_eq(bits: float, levels_per_stage: int = 1) -> float:
    """Estimated LUT-eq of ``bits`` adder bits: the budget conversion's per-bit figure
    (``LUT_EQ_PER_ADDER_BIT``), fitted in the same calibration as the layer estimate to the
    same measurements, on the schedule's adder bits (what the block surrogate predicts), so
    the narrow adders' LUT logic and the carry chains' width reductions are averaged into
    it (the compressor knows no widths per adder)."""
    return _per_bit(levels_per_stage) * bits


def adder_bits_for_lut_eq(lut_eq: float, output_bits: int, levels_per_stage: int = 1) -> float:
    """The modelled adder bits a design of ``lut_eq`` estimated LUT-eq leaves for its adders
    after ``LUT_EQ_PER_OUTPUT_BIT`` per output bit (the inverse of the budget conversion's
    ``b x adder bits + bo x output bits``, which benchmarks/cost_model.py fits beside the
    layer estimate and reports as ``budget_lut_eq_err``; at least 0)."""
    return max(0.0, (lut_eq - LUT_EQ_PER_OUTPUT_BIT * output_bits) / _per_bit(levels_per_stage))
