"""Block kinds of the micro-structure: the tiling, and what each kept block costs and
computes, in one place.

A weight matrix ``[out, in]`` is tiled by a block shape ``(br, bc)``; every block is pruned,
unified (one shared magnitude, per-weight signs) or dense. A kept block becomes a
:class:`BlockPlan`: its constants and the widths its arithmetic needs. Every architecture
builds on these (the unrolled one gives each block its own PE; a folded one walks them).
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


def constant_product_ops(value: int) -> tuple[int, int]:
    """(multipliers, shifts) that a product by the constant ``value`` costs in hardware.

    The one rule every block kind and every backend follows: 0 is nothing, +-1 is the input
    itself (an add or a subtract where it is summed), another power of two is a shift,
    anything else is one constant multiply.
    """
    shift = power_of_two_shift(value)
    if value == 0 or shift == 0:
        return 0, 0
    return (0, 1) if shift is not None else (1, 0)


@dataclass(frozen=True)
class Term:
    """One product ``sign * magnitude * x[col]`` of a constant sum, in the structured form
    backends render: ``shift`` is ``log2(magnitude)`` for a power of two (0 for 1: the input
    itself), None for a real multiply."""

    col: int
    sign: int        # +1 or -1
    magnitude: int   # >= 1

    @property
    def shift(self) -> int | None:
        return power_of_two_shift(self.magnitude)


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

    def row_terms(self, r: int) -> tuple[Term, ...]:
        """The nonzero products of local row ``r`` (a unified block's are its signed inputs,
        magnitude 1: the shared magnitude is applied once, after the sum)."""
        if self.kind is BlockKind.UNIFIED:
            return tuple(Term(c, 1 if w > 0 else -1, 1) for c, w in enumerate(self.coeffs[r]))
        return tuple(Term(c, 1 if w > 0 else -1, abs(w))
                     for c, w in enumerate(self.coeffs[r]) if w != 0)

    @property
    def used_cols(self) -> tuple[int, ...]:
        """Local columns with a nonzero weight in some row."""
        return tuple(c for c in range(len(self.cols)) if any(row[c] for row in self.coeffs))

    @property
    def size(self) -> int:
        return len(self.rows) * len(self.cols)

    def _ops(self) -> tuple[int, int]:
        if self.kind is BlockKind.UNIFIED:
            mult, shift = constant_product_ops(self.magnitude)
            return mult * len(self.rows), shift * len(self.rows)
        ops = [constant_product_ops(c) for row in self.coeffs for c in row]
        return sum(m for m, _ in ops), sum(s for _, s in ops)

    @property
    def multipliers(self) -> int:
        """Constant multipliers this block's hardware contains (powers of two are shifts)."""
        return self._ops()[0]

    @property
    def shifts(self) -> int:
        """Constant shifts (products by powers of two above 1) this block contains."""
        return self._ops()[1]

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
               in_q: QType) -> BlockPlan:
    """Size a kept block from its weights and input type (widths from the range rules)."""
    xw = input_width(in_q)
    magnitude = abs(coeffs[0][0]) if kind is BlockKind.UNIFIED else 0
    if kind is BlockKind.UNIFIED:
        sw = max(signed_width(*sum_range([1 if c > 0 else -1 for c in row], in_q))
                 for row in coeffs)
    else:
        sw = 0
    ow = max(signed_width(*sum_range(row, in_q)) for row in coeffs)
    return BlockPlan(index=index, kind=kind, brow=brow, bcol=bcol, rows=rows, cols=cols,
                     coeffs=coeffs, magnitude=magnitude, in_width=xw,
                     sum_width=max(sw, xw) if kind is BlockKind.UNIFIED else 0,
                     out_width=max(ow, xw))
