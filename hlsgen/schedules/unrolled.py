"""The unrolled (latency-optimized) architecture: every kept block is its own processing
element with its weights as constants, pruned blocks are no hardware, and the whole network
is one stall-all pipeline taking one input vector per clock (II = 1).

Per layer three registered stages: the PEs, the row accumulators (bias and rounding constant
folded in), the requantize/ReLU/saturate register. The output skid buffer adds one more.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..layerplan import LayerPlan
from ..plan import DesignPlan

LAYER_LATENCY = 3   # PE register, row accumulator register, requantize register
OUTPUT_LATENCY = 1  # the output skid buffer's register


@dataclass(frozen=True)
class UnrolledLayer:
    """One layer of the unrolled schedule: PE ``i`` realizes kept block ``i``."""

    plan: LayerPlan
    latency: int = LAYER_LATENCY

    @property
    def pes(self):
        return self.plan.kept_blocks


@dataclass(frozen=True)
class UnrolledSchedule:
    """The whole network as one pipeline."""

    plan: DesignPlan
    layers: tuple[UnrolledLayer, ...]
    arch: str = "unrolled"
    initiation_interval: int = 1

    @property
    def pe_count(self) -> int:
        """Processing elements (kept blocks) in the whole design."""
        return sum(len(layer.pes) for layer in self.layers)

    @property
    def pipeline_depth(self) -> int:
        """Registered datapath stages between the input and the output skid buffer."""
        return sum(layer.latency for layer in self.layers)

    @property
    def latency(self) -> int:
        """Cycles from an accepted input beat to its result on the output (no stalls)."""
        return self.pipeline_depth + OUTPUT_LATENCY


def schedule_unrolled(plan: DesignPlan) -> UnrolledSchedule:
    return UnrolledSchedule(plan=plan, layers=tuple(UnrolledLayer(lp) for lp in plan.layers))
