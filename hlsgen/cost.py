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
