"""Estimated hardware cost of an unrolled schedule, per layer, before any synthesis.

What a layer builds, counted from its schedule (all exact):

- ``adder_bits``: the sum of the adder-graph nodes' output widths (each two-input adder of
  ``w`` bits is a ``w``-bit carry chain: ``ceil(w / 2)`` CCU2C on ECP5) plus the row
  accumulators' widths (one constant add per row with a sum);
- ``register_bits``: the pipeline's delay registers, the accumulators and the output
  register;
- ``multipliers``: constant multipliers (``--dsp auto|always``), each one DSP block when the
  target has them.

The estimate maps those counts to ECP5 cells with coefficients fitted to Yosys
(``synth_ecp5 -nodsp -noflatten``, every layer its own module) by
``benchmarks/cost_model.py``, which also prints each layer's estimate beside its measured
figure; ``CALIBRATION`` names that run. ABC packs two adder levels into LUT4 logic where a
stage holds more than one level, so the LUT-equivalents per adder bit depend on the levels
per pipeline stage. The constants are a model, not a measurement: ``hlsgen synth`` measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .schedules.unrolled import UnrolledLayer, UnrolledSchedule

# LUT-eq (LUT4 + 2 x CCU2C) per adder bit and flip-flops per register bit, by levels per
# stage (a depth not listed uses the deepest one listed), fitted by benchmarks/cost_model.py.
LUT_EQ_PER_ADDER_BIT = {1: 1.002, 2: 1.162}
LUT_EQ_PER_OUTPUT_BIT = 0.641   # the requantize / ReLU / saturate logic per output bit
FF_PER_REGISTER_BIT = 0.948
CALIBRATION = ("fitted to Yosys 0.70 synth_ecp5 -nodsp -noflatten on 32 layers of 16 designs "
               "(benchmarks/results/cost_model.md): every layer within 13.9%, held-out half "
               "included")
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
    lut_eq: int       # estimated LUT4 + 2 x CCU2C, DSPs off except the multipliers' DSPs
    ff: int           # estimated TRELLIS_FF

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _per_bit(levels_per_stage: int) -> float:
    known = sorted(LUT_EQ_PER_ADDER_BIT)
    return LUT_EQ_PER_ADDER_BIT[max((k for k in known if k <= levels_per_stage),
                                    default=known[0])]


def layer_features(layer: UnrolledLayer) -> dict[str, int]:
    """The exact counts the model uses for one layer."""
    lp = layer.plan
    rows_with_sum = sum(r.root is not None for r in layer.rows)
    adder_bits = sum(s.node.width for s in layer.adders if s.b is not None)
    adder_bits += rows_with_sum * lp.acc_width
    output_bits = lp.out_features * lp.out_type.bits
    register_bits = sum(d.width * d.depth for d in layer.delays) \
        + lp.out_features * lp.acc_width + output_bits
    return {"adders": layer.adder_count, "adder_bits": adder_bits,
            "register_bits": register_bits, "output_bits": output_bits,
            "multipliers": layer.multiplier_count}


def estimate(schedule: UnrolledSchedule) -> tuple[LayerCost, ...]:
    """Per-layer cost estimate of an unrolled schedule."""
    k = _per_bit(schedule.levels_per_stage)
    out = []
    for layer in schedule.layers:
        f = layer_features(layer)
        out.append(LayerCost(
            name=layer.plan.name, **f,
            lut_eq=round(k * f["adder_bits"] + LUT_EQ_PER_OUTPUT_BIT * f["output_bits"]),
            ff=round(FF_PER_REGISTER_BIT * f["register_bits"])))
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
    """Estimated LUT-eq of ``bits`` adder bits (the fitted per-bit figure)."""
    return _per_bit(levels_per_stage) * bits


def adder_bits_for_lut_eq(lut_eq: float, output_bits: int, levels_per_stage: int = 1) -> float:
    """The modelled adder bits a design of ``lut_eq`` estimated LUT-eq leaves for its adders
    after the requantize logic of ``output_bits`` output bits (the inverse of the layer
    estimate; at least 0)."""
    return max(0.0, (lut_eq - LUT_EQ_PER_OUTPUT_BIT * output_bits) / _per_bit(levels_per_stage))
