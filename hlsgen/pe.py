"""Processing-element kinds: what each block kind costs and computes, in one place.

Every kind answers the same questions (multipliers, stored bits, hardware widths, the
template that realizes it). A new kind (e.g. a shift-only unified block, a conv window)
is a new entry here, not a change scattered through the generator.
"""

from __future__ import annotations

from dataclasses import dataclass

from .artifact import BlockKind, QType
from .numerics import signed_width, sum_range

KIND_MAP_BITS = 2  # bits per block in the block-kind map (pruned / unified / dense)


@dataclass(frozen=True)
class PEPlan:
    """One kept block realized as hardware: its weights and the widths it needs.

    ``coeffs[r][c]`` is the integer weight of local row ``r``, local column ``c``; for a
    unified block it is ``sign * magnitude``. ``in_width`` is the signed width inputs are
    extended to, ``sum_width`` the add/sub tree width (unified only), ``out_width`` the width
    of each row's result.
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
        m = self.magnitude
        return m.bit_length() - 1 if m > 0 and m & (m - 1) == 0 else None

    @property
    def size(self) -> int:
        return len(self.rows) * len(self.cols)

    @property
    def multipliers(self) -> int:
        return multipliers(self.kind, len(self.rows), len(self.cols))

    def stored_bits(self, w_bits: int) -> int:
        return stored_bits(self.kind, len(self.rows), len(self.cols), w_bits)


def multipliers(kind: BlockKind, rows: int, cols: int) -> int:
    """Multipliers a block needs: none pruned, one per row unified, one per weight dense."""
    return {BlockKind.PRUNED: 0, BlockKind.UNIFIED: rows, BlockKind.DENSE: rows * cols}[kind]


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
    """Signed width an activation of type ``q`` is extended to inside a PE."""
    return q.bits if q.signed else q.bits + 1


def make_pe(index: int, kind: BlockKind, brow: int, bcol: int, rows: tuple[int, ...],
            cols: tuple[int, ...], coeffs: tuple[tuple[int, ...], ...], in_q: QType) -> PEPlan:
    """Size a PE from its weights and input type (widths from the reference range rules)."""
    xw = input_width(in_q)
    magnitude = abs(coeffs[0][0]) if kind is BlockKind.UNIFIED else 0
    if kind is BlockKind.UNIFIED:
        sw = max(signed_width(*sum_range([1 if c > 0 else -1 for c in row], in_q))
                 for row in coeffs)
    else:
        sw = 0
    ow = max(signed_width(*sum_range(row, in_q)) for row in coeffs)
    return PEPlan(index=index, kind=kind, brow=brow, bcol=bcol, rows=rows, cols=cols,
                  coeffs=coeffs, magnitude=magnitude, in_width=xw,
                  sum_width=max(sw, xw) if kind is BlockKind.UNIFIED else 0,
                  out_width=max(ow, xw))
