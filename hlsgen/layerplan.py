"""The neutral numeric plan of one layer: widths, shifts, clamps, kept blocks and costs.

It comes from the reference numerics and knows no architecture and no HDL: the schedules
(`hlsgen/schedules/`) decide how the blocks become processing elements and pipeline stages,
the backends how those become text.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .blocks import BlockPlan
from .fixedpoint import QType


@dataclass(frozen=True)
class RowPlan:
    """One output neuron: which kept-block rows it sums, and its bias."""

    index: int
    terms: tuple[tuple[int, int], ...]  # (kept-block index, local row in that block)
    bias: int


@dataclass(frozen=True)
class LayerPlan:
    """A weighted layer in numeric terms.

    ``acc_width`` holds the bias, the rounding constant and every partial sum of a row in
    any summation order, and every kept block's row result; ``q_width`` is the width of the
    accumulator after the rounding shift; a clamp is None where the value range can never
    leave the output type (no saturation logic is needed there).
    """

    index: int
    name: str
    kind: str           # the layer kind ("dense")
    in_features: int
    out_features: int
    in_type: QType
    out_type: QType
    block: tuple[int, int]
    w_bits: int
    kept_blocks: tuple[BlockPlan, ...]
    rows: tuple[RowPlan, ...]
    used_inputs: tuple[int, ...]
    in_width: int       # signed width of an input inside the layer
    acc_width: int
    shift: int
    round_const: int    # 1 << (shift - 1), or 0 when shift == 0
    q_width: int        # width of the shifted accumulator
    clamp_hi: int | None  # saturate above this (None: the range never exceeds it)
    clamp_lo: int | None  # saturate below this (ReLU and/or the output type)
    relu: bool
    blocks: dict[str, int]  # pruned / unified / dense block counts
    block_multipliers: int  # what a multiplier-based realization needs (BlockPlan.multipliers)
    dense_multipliers: int  # the dense baseline: one per weight
    weight_bits: int
    dense_weight_bits: int
    # the network's per-feature input widths (first layer only; () = every column at
    # in_type.bits): column c keeps its low in_bits[c] bits (WRAP), 0 drops it
    in_bits: tuple[int, ...] = field(default=(), kw_only=True)

    @property
    def column_bits(self) -> tuple[int, ...]:
        """Every input column's kept width (``in_type.bits`` where nothing is narrowed)."""
        return self.in_bits or (self.in_type.bits,) * self.in_features

    @property
    def wrapped_columns(self) -> tuple[tuple[int, int], ...]:
        """``(column, kept bits)`` of every column narrower than the input type."""
        return tuple((c, b) for c, b in enumerate(self.column_bits) if b < self.in_type.bits)
