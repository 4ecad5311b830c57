"""Block kinds of the micro-structure: the tiling, and what each kept block costs and
computes, in one place.

A weight matrix ``[out, in]`` is tiled by a block shape ``(br, bc)``; every block is pruned,
unified (one shared magnitude, per-weight signs) or dense. A kept block becomes a
:class:`BlockPlan`: its constants and the widths its arithmetic needs. Every architecture
builds on these (the unrolled one builds every block into its layer's shared adder graph;
a folded one will walk them, one block per clock).
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from .fixedpoint import QType
from .numerics import signed_width, sum_range

KIND_MAP_BITS = 2  # bits per block in the block-kind map (pruned / unified / dense)


class BlockKind(enum.IntEnum):
    """What a block of a weight matrix is; also its 2-bit code in the block-kind map."""

    PRUNED = 0
    UNIFIED = 1
    DENSE = 2

    @property
    def letter(self) -> str:
        return "PUD"[self.value]

    @classmethod
    def from_letter(cls, letter: str) -> "BlockKind":
        return cls("PUD".index(letter))


def block_grid(rows: int, cols: int, block: tuple[int, int]) -> tuple[int, int]:
    """Number of block rows and block columns tiling a ``rows x cols`` matrix."""
    return math.ceil(rows / block[0]), math.ceil(cols / block[1])


def block_slices(brow: int, bcol: int, rows: int, cols: int,
                 block: tuple[int, int]) -> tuple[slice, slice]:
    """The row and column slices of block ``(brow, bcol)``; edge blocks are clipped."""
    br, bc = block
    return (slice(brow * br, min(rows, (brow + 1) * br)),
            slice(bcol * bc, min(cols, (bcol + 1) * bc)))


def power_of_two_shift(value: int) -> int | None:
    """``log2(|value|)`` when ``|value|`` is a power of two (1 gives 0), else None."""
    m = abs(value)
    return m.bit_length() - 1 if m > 0 and m & (m - 1) == 0 else None


def is_multiplier(value: int) -> bool:
    """Whether a product by the constant ``value`` needs a multiplier in a multiplier-based
    realization: 0 is nothing, +-1 the input itself, another power of two a shift."""
    return value != 0 and power_of_two_shift(value) is None


@dataclass(frozen=True)
class BlockPlan:
    """One kept block: its weights and the widths its arithmetic needs.

    ``coeffs[r][c]`` is the integer weight of local row ``r``, local column ``c``; for a
    unified block it is ``sign * magnitude``. ``in_width`` is the signed width inputs are
    extended to, ``sum_width`` the add/sub tree width (unified only), ``out_width`` the width
    of each row's result. ``index`` numbers the kept blocks of a layer, row-major.
    """

    index: int
    kind: BlockKind
    brow: int
    bcol: int
    rows: tuple[int, ...]
    cols: tuple[int, ...]
    coeffs: tuple[tuple[int, ...], ...]
    magnitude: int
    in_width: int
    sum_width: int
    out_width: int

    @property
    def signs(self) -> tuple[tuple[int, ...], ...]:
        """Per-weight signs (+1/-1) of a unified block."""
        return tuple(tuple(1 if c > 0 else -1 for c in row) for row in self.coeffs)

    @property
    def magnitude_shift(self) -> int | None:
        """``log2(magnitude)`` when the magnitude is a power of two (a shift, no multiplier)."""
        return power_of_two_shift(self.magnitude)

    @property
    def size(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def multipliers(self) -> int:
        """Constant multipliers a multiplier-based realization of this block needs: one per
        row for a unified block (after its add/sub tree), one per dense weight; powers of
        two (shifts) and zeros excluded. The micro-structure's headline figure; the RTL
        itself is multiplier-free (``hlsgen.addergraph``)."""
        if self.kind is BlockKind.UNIFIED:
            return len(self.rows) if is_multiplier(self.magnitude) else 0
        return sum(is_multiplier(c) for row in self.coeffs for c in row)

    def stored_bits(self, w_bits: int) -> int:
        return stored_bits(self.kind, len(self.rows), len(self.cols), w_bits)


def stored_bits(kind: BlockKind, rows: int, cols: int, w_bits: int) -> int:
    """Weight bits a block stores beyond its kind-map entry.

    Unified: one magnitude of ``w_bits - 1`` bits (weights are symmetric) and a sign per
    weight; dense: every weight at ``w_bits``; pruned: nothing.
    """
    size = rows * cols
    return {BlockKind.PRUNED: 0,
            BlockKind.UNIFIED: (w_bits - 1) + size,
            BlockKind.DENSE: size * w_bits}[kind]


def input_width(q: QType) -> int:
    """Signed width an activation of type ``q`` is extended to inside a block."""
    return q.bits if q.signed else q.bits + 1


def make_block(index: int, kind: BlockKind, brow: int, bcol: int, rows: tuple[int, ...],
               cols: tuple[int, ...], coeffs: tuple[tuple[int, ...], ...],
               in_q: QType, ranges: tuple[tuple[int, int], ...] | None = None) -> BlockPlan:
    """Size a kept block from its weights and input type (widths from the range rules);
    ``ranges`` (optional) are the block's columns' value ranges (per-feature input widths)."""
    xw = input_width(in_q)
    magnitude = abs(coeffs[0][0]) if kind is BlockKind.UNIFIED else 0
    if kind is BlockKind.UNIFIED:
        sw = max(signed_width(*sum_range([1 if c > 0 else -1 for c in row], in_q, 0, ranges))
                 for row in coeffs)
    else:
        sw = 0
    ow = max(signed_width(*sum_range(row, in_q, 0, ranges)) for row in coeffs)
    return BlockPlan(index=index, kind=kind, brow=brow, bcol=bcol, rows=rows, cols=cols,
                     coeffs=coeffs, magnitude=magnitude, in_width=xw,
                     sum_width=max(sw, xw) if kind is BlockKind.UNIFIED else 0,
                     out_width=max(ow, xw))
