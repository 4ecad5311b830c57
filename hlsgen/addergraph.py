"""Multiplier-free realization of a layer's constant matrix: a shared adder graph.

Every row of a weighted layer is ``acc_r = C_r + sum_c W[r, c] * x_c``. The graph computes
``sum_c W[r, c] * x_c`` for all rows with two-input adders only, sharing what rows have in
common, and exploiting the micro-structure:

* **unified blocks** contribute ``m * (sum of +-x over the block's columns)``. The signed sum
  is built as a balanced tree over the block column, and every sub-sum is memoized by its
  (columns, sign pattern) up to a global sign: rows that keep the same block column share
  every pair, quad, ... whose pattern they have in common. For a 16-wide column kept by R
  rows that is about 48 + 3R adders instead of 15R. The shared magnitude is then applied
  once per row in canonical signed-digit (CSD) form: shifts are wiring, each further nonzero
  digit one adder;
* **dense blocks** contribute each weight in CSD form, one term per nonzero digit;
* **pruned blocks** contribute nothing.

A row's terms are summed by a tree that always joins the two shallowest terms (shortest
critical path); a term's shift stays outside the adder (``a + (b << k)`` keeps the low bits
of ``a`` as they are). Each node's width comes from its exact value range: the node is a
linear form ``sum_c k_c * x_c`` of the inputs (tracked exactly), whose range over inputs of
the layer's input type is exact, so nothing ever wraps and no bit is wasted. A sum can be
narrower than an operand (``3x = 4x - x``); the operand's low bits then hold all it needs.

With a DSP policy other than ``never`` (``--dsp``), a product whose odd constant would cost
adders may instead be one multiplier node ``node * c`` (``c`` odd, the power of two stays a
shift), built once per (node, constant) and shared by every row that scales the same value by
the same factor: ``always`` makes every such product (odd part above 1) a multiplier,
``auto`` only those whose CSD form needs at least ``AUTO_MIN_DIGITS`` nonzero digits (two or
more adders). A power of two is never a multiplier.

The graph is arithmetic only (no HDL, no architecture); the unrolled schedule pipelines it
and the backends render it. :meth:`AdderGraph.evaluate` runs it on integers so tests can hold
it against the reference numerics.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from .blocks import BlockKind
from .fixedpoint import QType
from .layerplan import LayerPlan
from .numerics import input_ranges, signed_width


def csd_digits(value: int) -> tuple[tuple[int, int], ...]:
    """Canonical signed-digit form of ``value``: ``((shift, +-1), ...)`` with
    ``value == sum(d << k)``, no two adjacent nonzero digits (the fewest nonzero digits)."""
    digits = []
    v, k = value, 0
    while v:
        if v & 1:
            d = 2 - (v & 3)          # +1 when v = 1 (mod 4), -1 when v = 3 (mod 4)
            digits.append((k, d))
            v -= d
        v >>= 1
        k += 1
    return tuple(digits)


DSP_POLICIES = ("never", "auto", "always")
AUTO_MIN_DIGITS = 3  # ``auto``: a constant of this many CSD digits (2+ adders) gets a multiplier
MUL_LEVELS = 2       # a multiplier's delay counted in adder levels (for pipeline cuts)


def wants_multiplier(odd: int, policy: str) -> bool:
    """Whether policy ``policy`` realizes a product by the odd constant ``odd`` with a
    multiplier (True) or with shift-and-add in CSD form (False)."""
    if policy not in DSP_POLICIES:
        raise ValueError(f"unknown DSP policy {policy!r}; choose one of {', '.join(DSP_POLICIES)}")
    if odd <= 1 or policy == "never":
        return False
    return policy == "always" or len(csd_digits(odd)) >= AUTO_MIN_DIGITS


@dataclass(frozen=True)
class Node:
    """``value = a + sign * (b << shift)``; input ``col`` when ``a`` is None; or, when
    ``const`` is nonzero, the multiplier ``value = a * const`` (``b`` None).

    ``lo``/``hi`` is the exact value range, ``width`` the signed width that holds it,
    ``level`` the number of adders on the longest path from an input."""

    index: int
    a: int | None
    b: int | None
    shift: int
    sign: int
    col: int | None
    lo: int
    hi: int
    width: int
    level: int
    const: int = 0

    @property
    def is_input(self) -> bool:
        return self.a is None

    @property
    def is_multiplier(self) -> bool:
        return self.const != 0

    @property
    def is_adder(self) -> bool:
        return self.a is not None and not self.const


@dataclass(frozen=True)
class RowSum:
    """A row's weighted sum: ``sign * (node << shift)``, or zero when ``node`` is None."""

    node: int | None
    shift: int = 0
    sign: int = 1


@dataclass(frozen=True)
class AdderGraph:
    """The shared adder graph of one layer: input nodes first, then adders in topological
    order, and one :class:`RowSum` per output row."""

    nodes: tuple[Node, ...]
    rows: tuple[RowSum, ...]

    @property
    def adders(self) -> int:
        return sum(1 for n in self.nodes if n.is_adder)

    @property
    def multipliers(self) -> int:
        return sum(1 for n in self.nodes if n.is_multiplier)

    @property
    def depth(self) -> int:
        return max((n.level for n in self.nodes), default=0)

    def node_values(self, x: np.ndarray) -> list[np.ndarray]:
        """Every node's value for integer inputs ``x`` of shape ``[N, in]``."""
        x = np.asarray(x, dtype=np.int64)
        vals: list[np.ndarray] = []
        for n in self.nodes:
            if n.is_input:
                vals.append(x[:, n.col])
            elif n.is_multiplier:
                vals.append(vals[n.a] * n.const)
            else:
                vals.append(vals[n.a] + n.sign * (vals[n.b] << n.shift))
        return vals

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """``[N, rows]`` row sums for integer inputs ``x`` of shape ``[N, in]``."""
        vals = self.node_values(x)
        zero = np.zeros(len(np.asarray(x)), dtype=np.int64)
        return np.stack([zero if r.node is None else r.sign * (vals[r.node] << r.shift)
                         for r in self.rows], axis=1) if self.rows else zero[:, None][:, :0]


class _Builder:
    """Builds nodes with memoization: an identical adder is never built twice."""

    def __init__(self, in_q: QType, dsp: str = "never",
                 ranges: tuple[tuple[int, int], ...] | None = None) -> None:
        wants_multiplier(3, dsp)  # validates the policy
        self.dsp = dsp
        self.nodes: list[Node] = []
        self.memo: dict[tuple[int, int, int, int], int] = {}
        self.inputs: dict[int, int] = {}
        self.in_q = in_q
        self.ranges = ranges  # per-column value ranges (per-feature input widths), or None
        self.sums: dict[tuple[tuple[int, ...], tuple[int, ...]], int] = {}
        self.forms: list[dict[int, int]] = []  # each node as {input column: coefficient}
        self.muls: dict[tuple[int, int], int] = {}

    def input(self, col: int) -> int:
        if col not in self.inputs:
            lo, hi = self._col_range(col)
            self.inputs[col] = self._add(Node(len(self.nodes), None, None, 0, 1, col, lo, hi,
                                              signed_width(lo, hi), 0), {col: 1})
        return self.inputs[col]

    def _add(self, node: Node, form: dict[int, int]) -> int:
        self.nodes.append(node)
        self.forms.append(form)
        return node.index

    def _col_range(self, col: int) -> tuple[int, int]:
        return (self.in_q.lo, self.in_q.hi) if self.ranges is None else self.ranges[col]

    def _range(self, form: dict[int, int]) -> tuple[int, int]:
        lo = hi = 0
        for col, k in form.items():
            c_lo, c_hi = self._col_range(col)
            lo += min(k * c_lo, k * c_hi)
            hi += max(k * c_lo, k * c_hi)
        return lo, hi

    def adder(self, a: int, b: int, shift: int, sign: int) -> int:
        key = (a, b, shift, sign)
        if key not in self.memo:
            na, nb = self.nodes[a], self.nodes[b]
            form = dict(self.forms[a])
            for col, k in self.forms[b].items():
                form[col] = form.get(col, 0) + sign * (k << shift)
            form = {col: k for col, k in form.items() if k}
            lo, hi = self._range(form)
            self.memo[key] = self._add(Node(len(self.nodes), a, b, shift, sign, None, lo, hi,
                                            signed_width(lo, hi), max(na.level, nb.level) + 1),
                                       form)
        return self.memo[key]

    def multiplier(self, a: int, const: int) -> int:
        """``a * const`` as one multiplier node, built once per (node, constant)."""
        key = (a, const)
        if key not in self.muls:
            form = {col: k * const for col, k in self.forms[a].items()}
            lo, hi = self._range(form)
            self.muls[key] = self._add(Node(len(self.nodes), a, None, 0, 1, None, lo, hi,
                                            signed_width(lo, hi),
                                            self.nodes[a].level + MUL_LEVELS, const), form)
        return self.muls[key]

    def scaled(self, node: int, sign: int, value: int) -> list[tuple[int, int, int]]:
        """Row terms ``(node, shift, sign)`` of ``sign * value * node``: one term per CSD digit
        (shift-and-add), or a shared multiplier of the odd part when the DSP policy wants one."""
        if value == 0:
            return []
        mag = abs(value)
        shift = (mag & -mag).bit_length() - 1
        odd = mag >> shift
        s = sign if value > 0 else -sign
        if wants_multiplier(odd, self.dsp):
            return [(self.multiplier(node, odd), shift, s)]
        return [(node, k, s * d) for k, d in csd_digits(mag)]

    def signed_sum(self, cols: tuple[int, ...], signs: tuple[int, ...]) -> tuple[int, int]:
        """``sum(signs[i] * x[cols[i]])`` as ``(node, global sign)``; the node's own pattern
        starts with +, so a pattern and its negation share one node."""
        g = signs[0]
        norm = tuple(s * g for s in signs)
        key = (cols, norm)
        if key not in self.sums:
            if len(cols) == 1:
                node = self.input(cols[0])
            else:
                half = (len(cols) + 1) // 2
                left, _ = self.signed_sum(cols[:half], norm[:half])
                right, rsign = self.signed_sum(cols[half:], norm[half:])
                node = self.adder(left, right, 0, rsign)
            self.sums[key] = node
        return self.sums[key], g

    def row_sum(self, terms: list[tuple[int, int, int]]) -> RowSum:
        """Sum terms ``(node, shift, sign)``, always joining the two shallowest."""
        if not terms:
            return RowSum(None)
        heap = [(self.nodes[n].level, s, i, n, g) for i, (n, s, g) in enumerate(terms)]
        heapq.heapify(heap)
        tick = len(heap)
        while len(heap) > 1:
            _, s1, _, n1, g1 = heapq.heappop(heap)
            _, s2, _, n2, g2 = heapq.heappop(heap)
            if s2 < s1:
                s1, n1, g1, s2, n2, g2 = s2, n2, g2, s1, n1, g1
            # g1 * n1 + g2 * (n2 << d) == g1 * (n1 + g1 * g2 * (n2 << d))
            node = self.adder(n1, n2, s2 - s1, g1 * g2)
            heapq.heappush(heap, (self.nodes[node].level, s1, tick, node, g1))
            tick += 1
        _, s, _, n, g = heap[0]
        return RowSum(n, s, g)


def build_adder_graph(layer: LayerPlan, dsp: str = "never") -> AdderGraph:
    """The shared adder graph of a planned layer's kept blocks: multiplier-free under the DSP
    policy ``never`` (the default), with multiplier nodes where ``auto``/``always`` want
    them.

    With per-feature input widths (``layer.in_bits``, the first layer), every input's range
    is its column's kept width, and a dropped column (0 bits) is no input node and no term:
    a unified block's signed sum skips it, a dense weight on it is nothing."""
    bits = layer.column_bits
    ranges = input_ranges(layer.in_type, layer.in_bits, layer.in_features) \
        if layer.in_bits else None
    b = _Builder(layer.in_type, dsp, ranges)
    terms: list[list[tuple[int, int, int]]] = [[] for _ in range(layer.out_features)]
    for blk in layer.kept_blocks:
        live = [j for j, col in enumerate(blk.cols) if bits[col] > 0]
        if not live:
            continue
        cols = tuple(blk.cols[j] for j in live)
        for local, row in enumerate(blk.rows):
            coeffs = tuple(blk.coeffs[local][j] for j in live)
            if blk.kind is BlockKind.UNIFIED:
                node, g = b.signed_sum(cols, tuple(1 if c > 0 else -1 for c in coeffs))
                terms[row] += b.scaled(node, g, blk.magnitude)
            else:
                for col, w in zip(cols, coeffs):
                    if w:
                        terms[row] += b.scaled(b.input(col), 1, int(w))
    rows = tuple(b.row_sum(t) for t in terms)
    return AdderGraph(tuple(b.nodes), rows)
