"""The fully connected layer with micro-structured integer weights.

In the artifact, the weight matrix ``[out, in]`` is stored by blocks of shape ``(br, bc)``
(edge blocks are smaller when a size is not a multiple of the block shape):

* ``block_kinds``: one string per block row, one character per block: ``P`` pruned,
  ``U`` unified, ``D`` dense;
* ``unified``: for the unified blocks in row-major block order, ``magnitudes`` (one integer
  ``m >= 1`` each) and ``signs`` (one string of ``+``/``-`` per block, row-major inside it);
* ``dense``: for the dense blocks in row-major block order, their integer weights, row-major.

Weights are symmetric ``w_bits`` integers in ``[-(2**(w_bits-1)-1), 2**(w_bits-1)-1]`` with
``w_frac`` fractional bits; the bias is at accumulator scale (``frac = in.frac + w_frac``).
``w_bits`` 1 is binary: a weight is only its sign, so every kept block is unified with
magnitude 1 (the value ``+-2**-w_frac``) and no block is dense; ``w_bits`` 2 is ternary.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..blocks import (KIND_MAP_BITS, BlockKind, BlockPlan, block_grid, block_slices,
                      input_width, make_block)
from ..fixedpoint import QType
from ..layerplan import LayerPlan, RowPlan
from ..numerics import (check_acc_width, dense_acc, input_ranges, layer_shift, requantize,
                        signed_width, sum_range, value_range)
from ..validation import (MAX_BITS, check_int, check_name, check_qtype, fail, get,
                          qtype_from_json)
from .base import LayerKind, Shape

MAX_FEATURES = 1 << 16


@dataclass(frozen=True, eq=False)
class DenseLayer(LayerKind):
    """A fully connected layer ``y = requant(W x + b)`` with micro-structured integer weights."""

    kind: ClassVar[str] = "dense"

    name: str
    in_features: int
    out_features: int
    block: tuple[int, int]
    kinds: np.ndarray        # uint8 [n_block_rows, n_block_cols] of BlockKind values
    weight: np.ndarray       # int64 [out_features, in_features], consistent with kinds
    bias: np.ndarray         # int64 [out_features], at accumulator scale
    w_bits: int
    w_frac: int
    output: QType
    relu: bool
    type: str = field(default="dense", init=False)

    @property
    def w_max(self) -> int:
        return weight_max(self.w_bits)

    @property
    def in_shape(self) -> Shape:
        return (self.in_features,)

    @property
    def out_shape(self) -> Shape:
        return (self.out_features,)

    # ------------------------------------------------------------------------- validation

    def validate(self, index: int, in_shape: Shape, in_q: QType) -> None:
        where = f"layer {index} ({self.name!r})"
        check_name(f"layer {index}", self.name)
        if in_shape != (self.in_features,):
            fail(where, f"in_features {self.in_features} does not match the "
                 f"{_shape_text(in_shape)} the previous layer produces")
        check_int(f"{where}.out_features", self.out_features, 1, MAX_FEATURES)
        check_int(f"{where}.w_bits", self.w_bits, 1, MAX_BITS)
        check_int(f"{where}.w_frac", self.w_frac, -32, 32)
        check_qtype(f"{where}.output", self.output)
        br, bc = self.block
        check_int(f"{where}.block rows", br, 1, MAX_FEATURES)
        check_int(f"{where}.block cols", bc, 1, MAX_FEATURES)
        shift = layer_shift(in_q, self)
        if shift < 0:
            fail(where, f"output frac {self.output.frac} exceeds accumulator frac "
                 f"{in_q.frac + self.w_frac} (negative requantize shift)")
        nbr, nbc = block_grid(self.out_features, self.in_features, self.block)
        if self.kinds.shape != (nbr, nbc):
            fail(where, f"block-kind map is {self.kinds.shape}, expected {(nbr, nbc)}")
        if self.weight.shape != (self.out_features, self.in_features):
            fail(where, f"weight shape {self.weight.shape} != "
                 f"{(self.out_features, self.in_features)}")
        if self.bias.shape != (self.out_features,):
            fail(where, f"bias has {self.bias.shape} entries, expected {self.out_features}")
        if np.abs(self.weight).max(initial=0) > self.w_max:
            fail(where, f"a weight magnitude exceeds {self.w_max}, the {self.w_bits}-bit limit")
        if np.abs(self.bias).max(initial=0) >= 1 << 48:
            fail(where, "a bias exceeds 48 bits; the accumulator scale is implausible")
        if self.w_bits == 1 and np.any(self.kinds == BlockKind.DENSE):
            fail(where, "w_bits 1 (binary) stores only signs: its blocks must be pruned or "
                 "unified, not dense")
        for brow in range(nbr):
            for bcol in range(nbc):
                rs, cs = block_slices(brow, bcol, self.out_features, self.in_features,
                                      self.block)
                w = self.weight[rs, cs]
                kind = BlockKind(int(self.kinds[brow, bcol]))
                bw = f"{where} block ({brow}, {bcol})"
                if kind is BlockKind.PRUNED and np.any(w != 0):
                    fail(bw, "is marked pruned but holds nonzero weights")
                if kind is BlockKind.UNIFIED:
                    mags = np.unique(np.abs(w))
                    if len(mags) != 1 or mags[0] == 0:
                        fail(bw, "is marked unified but its weights do not share one "
                             "nonzero magnitude")

    # ------------------------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        nbr, nbc = self.kinds.shape
        mags: list[int] = []
        signs: list[str] = []
        dense: list[list[int]] = []
        for brow in range(nbr):
            for bcol in range(nbc):
                rs, cs = block_slices(brow, bcol, self.out_features, self.in_features,
                                      self.block)
                w = self.weight[rs, cs].ravel()
                kind = BlockKind(int(self.kinds[brow, bcol]))
                if kind is BlockKind.UNIFIED:
                    mags.append(int(abs(w[0])))
                    signs.append("".join("-" if v < 0 else "+" for v in w))
                elif kind is BlockKind.DENSE:
                    dense.append([int(v) for v in w])
        return {
            "type": "dense",
            "name": self.name,
            "in_features": self.in_features,
            "out_features": self.out_features,
            "block": list(self.block),
            "w_bits": self.w_bits,
            "w_frac": self.w_frac,
            "relu": self.relu,
            "output": self.output.to_json(),
            "bias": [int(b) for b in self.bias],
            "block_kinds": ["".join(BlockKind(int(k)).letter for k in row) for row in self.kinds],
            "unified": {"magnitudes": mags, "signs": signs},
            "dense": dense,
        }

    @classmethod
    def from_json(cls, obj: Any, index: int, in_shape: Shape) -> "DenseLayer":
        where = f"layer {index}"
        name = get(obj, "name", str, where)
        where = f"layer {index} ({name!r})"
        n_in = check_int(f"{where}.in_features", get(obj, "in_features", int, where), 1,
                         MAX_FEATURES)
        if in_shape != (n_in,):
            # the shape chain first: every later field is sized by it
            fail(f"{where}.in_features", f"{n_in} does not match the {_shape_text(in_shape)} "
                 "the previous layer produces (or the network input)")
        n_out = check_int(f"{where}.out_features", get(obj, "out_features", int, where), 1,
                          MAX_FEATURES)
        block = get(obj, "block", list, where)
        if len(block) != 2 or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1
                                      for b in block):
            fail(f"{where}.block", f"expected two positive integers, got {block!r}")
        block_t = (block[0], block[1])
        nbr, nbc = block_grid(n_out, n_in, block_t)
        rows = get(obj, "block_kinds", list, where)
        if len(rows) != nbr or any(not isinstance(r, str) or len(r) != nbc for r in rows):
            fail(f"{where}.block_kinds", f"expected {nbr} strings of {nbc} characters "
                 f"({n_out}x{n_in} weights in {block_t[0]}x{block_t[1]} blocks)")
        if any(ch not in "PUD" for r in rows for ch in r):
            fail(f"{where}.block_kinds", "block kinds must be the letters P, U or D")
        kinds = np.array([[BlockKind.from_letter(ch) for ch in r] for r in rows], dtype=np.uint8)
        w_bits = check_int(f"{where}.w_bits", get(obj, "w_bits", int, where), 1, MAX_BITS)
        weight = _weights_from_json(obj, where, kinds, n_out, n_in, block_t, w_bits)
        bias = get(obj, "bias", list, where)
        if len(bias) != n_out:
            fail(f"{where}.bias", f"{len(bias)} entries for {n_out} outputs")
        for b in bias:
            check_int(f"{where}.bias", b, -(1 << 48), 1 << 48)
        return cls(
            name=name, in_features=n_in, out_features=n_out, block=block_t, kinds=kinds,
            weight=weight, bias=np.array(bias, dtype=np.int64), w_bits=w_bits,
            w_frac=get(obj, "w_frac", int, where),
            output=qtype_from_json(get(obj, "output", dict, where), f"{where}.output"),
            relu=get(obj, "relu", bool, where),
        )

    # -------------------------------------------------------------------------- execution

    def execute(self, x: np.ndarray, in_q: QType) -> np.ndarray:
        return requantize(dense_acc(self, x), layer_shift(in_q, self), self.relu, self.output)

    # ------------------------------------------------------------------------------- plan

    def plan(self, index: int, in_q: QType, in_bits: tuple[int, ...] | None = None
             ) -> LayerPlan:
        """``in_bits`` (the network's per-feature input widths, first layer only): every
        range follows each column's kept width; a dropped column (0 bits) reads nothing."""
        where = f"layer {index} ({self.name!r})"
        ranges = None if in_bits is None else input_ranges(in_q, in_bits, self.in_features)
        nbr, nbc = block_grid(self.out_features, self.in_features, self.block)
        kept: list[BlockPlan] = []
        terms: list[list[tuple[int, int]]] = [[] for _ in range(self.out_features)]
        counts: Counter[str] = Counter()
        weight_bits = KIND_MAP_BITS * nbr * nbc
        for brow in range(nbr):
            for bcol in range(nbc):
                kind = BlockKind(int(self.kinds[brow, bcol]))
                counts[kind.name.lower()] += 1
                rs, cs = block_slices(brow, bcol, self.out_features, self.in_features,
                                      self.block)
                rows, cols = tuple(range(rs.start, rs.stop)), tuple(range(cs.start, cs.stop))
                if kind is BlockKind.PRUNED:
                    continue
                coeffs = tuple(tuple(int(v) for v in self.weight[r, cs]) for r in rows)
                blk = make_block(len(kept), kind, brow, bcol, rows, cols, coeffs, in_q,
                                 None if ranges is None else ranges[cs])
                weight_bits += blk.stored_bits(self.w_bits)
                for local, r in enumerate(rows):
                    terms[r].append((blk.index, local))
                kept.append(blk)
        shift = layer_shift(in_q, self)
        round_const = 1 << (shift - 1) if shift > 0 else 0
        acc_lo = acc_hi = 0            # every partial sum, with and without rounding (widths)
        values = []                    # exact range of each row's acc + rounding (saturation)
        for r in range(self.out_features):
            bias = int(self.bias[r])
            a_lo, a_hi = sum_range(self.weight[r], in_q, bias, ranges)
            r_lo, r_hi = sum_range(self.weight[r], in_q, bias + round_const, ranges)
            acc_lo, acc_hi = min(acc_lo, a_lo, r_lo), max(acc_hi, a_hi, r_hi)
            values.append(value_range(self.weight[r], in_q, bias + round_const, ranges))
        # a floor shift keeps order, so the shifted range is the shifted extremes
        q_lo = min(lo for lo, _ in values) >> shift
        q_hi = max(hi for _, hi in values) >> shift
        out = self.output
        lo_bound = max(out.lo, 0) if self.relu else out.lo
        clamp_hi = out.hi if q_hi > out.hi else None
        clamp_lo = lo_bound if q_lo < lo_bound else None
        q_width = signed_width(q_lo, q_hi)
        if clamp_hi is None and clamp_lo is None:
            q_width = min(q_width, out.bits)  # the value already fits the output: read only that
        # holds every partial sum of a row and every kept block's row result
        acc_width = check_acc_width(max(signed_width(acc_lo, acc_hi),
                                        max((b.out_width for b in kept), default=1)), where)
        return LayerPlan(
            index=index, name=self.name, kind=self.kind, in_features=self.in_features,
            out_features=self.out_features, in_type=in_q, out_type=out, block=self.block,
            w_bits=self.w_bits, kept_blocks=tuple(kept),
            rows=tuple(RowPlan(r, tuple(terms[r]), int(self.bias[r]))
                       for r in range(self.out_features)),
            used_inputs=tuple(sorted({c for b in kept for c in b.cols
                                      if in_bits is None or in_bits[c] > 0})),
            in_width=input_width(in_q), acc_width=acc_width,
            shift=shift, round_const=round_const, q_width=q_width,
            clamp_hi=clamp_hi, clamp_lo=clamp_lo, relu=self.relu, blocks=dict(counts),
            block_multipliers=sum(b.multipliers for b in kept),
            dense_multipliers=self.in_features * self.out_features,
            weight_bits=weight_bits,
            dense_weight_bits=self.in_features * self.out_features * self.w_bits,
            in_bits=() if in_bits is None else tuple(int(b) for b in in_bits),
        )


def weight_max(w_bits: int) -> int:
    """Largest weight magnitude of ``w_bits`` symmetric integers; 1 for binary (``w_bits`` 1:
    the sign alone, magnitude 1)."""
    return 1 if w_bits == 1 else (1 << (w_bits - 1)) - 1


def _shape_text(shape: Shape) -> str:
    return f"{shape[0]} features" if len(shape) == 1 else "x".join(map(str, shape)) + " tensor"


def _weights_from_json(obj: Any, where: str, kinds: np.ndarray, n_out: int, n_in: int,
                       block: tuple[int, int], w_bits: int) -> np.ndarray:
    """The weight matrix from the unified and dense block lists, checked against the map."""
    w_max = weight_max(w_bits)
    unified = get(obj, "unified", dict, where)
    mags = get(unified, "magnitudes", list, f"{where}.unified")
    signs = get(unified, "signs", list, f"{where}.unified")
    dense = get(obj, "dense", list, where)
    n_unified = int(np.sum(kinds == BlockKind.UNIFIED))
    n_dense = int(np.sum(kinds == BlockKind.DENSE))
    if len(mags) != n_unified or len(signs) != n_unified:
        fail(f"{where}.unified", f"{len(mags)} magnitudes and {len(signs)} sign strings "
             f"for {n_unified} unified blocks")
    if len(dense) != n_dense:
        fail(f"{where}.dense", f"{len(dense)} weight lists for {n_dense} dense blocks")
    weight = np.zeros((n_out, n_in), dtype=np.int64)
    iu = idn = 0
    nbr, nbc = kinds.shape
    for brow in range(nbr):
        for bcol in range(nbc):
            rs, cs = block_slices(brow, bcol, n_out, n_in, block)
            shape = (rs.stop - rs.start, cs.stop - cs.start)
            size = shape[0] * shape[1]
            bw = f"{where} block ({brow}, {bcol})"
            kind = BlockKind(int(kinds[brow, bcol]))
            if kind is BlockKind.UNIFIED:
                m = check_int(f"{bw} magnitude", mags[iu], 1, w_max)
                s = signs[iu]
                if not isinstance(s, str) or len(s) != size or set(s) - {"+", "-"}:
                    fail(f"{bw} signs", f"expected {size} characters of '+'/'-'")
                weight[rs, cs] = np.array([m if c == "+" else -m for c in s]).reshape(shape)
                iu += 1
            elif kind is BlockKind.DENSE:
                vals = dense[idn]
                if not isinstance(vals, list) or len(vals) != size:
                    fail(f"{bw} weights", f"expected a list of {size} integers")
                for v in vals:
                    check_int(f"{bw} weight", v, -w_max, w_max)
                weight[rs, cs] = np.array(vals, dtype=np.int64).reshape(shape)
                idn += 1
    return weight
