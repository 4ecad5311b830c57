"""Tests for hlsgen.plan, the unrolled schedule and the block sizing in hlsgen.blocks.

Widths are checked against extremes found by brute force over the input extremes with plain
Python ints, and a bit-level model of the planned datapath (wrap every register to its planned
width, slice, clamp) must reproduce the reference numerics exactly."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hlsgen
from hlsgen.artifact import ArtifactError, BlockKind, QType, digest
from hlsgen.numerics import MAX_ACC_BITS, WidthError, forward, forward_all
from hlsgen.plan import make_plan
from hlsgen.schedules import ARCHITECTURES, make_schedule
from hlsgen.schedules.unrolled import OUTPUT_LATENCY
from hlsgen.randnet import random_inputs

from conftest import blocks_of, legal_random_network, make_layer, make_net, signed_bits


def fits(v: int, width: int) -> bool:
    return -(1 << (width - 1)) <= v < (1 << (width - 1))


def wrap(v: int, width: int, signed: bool = True) -> int:
    """The value of the low ``width`` bits of ``v`` (two's complement when signed)."""
    v &= (1 << width) - 1
    if signed and v >> (width - 1):
        v -= 1 << width
    return v


def row_extremes(coeffs, q: QType) -> tuple[int, int]:
    """min/max of sum(c * x) over x in {lo, hi} per term, by brute force when small."""
    coeffs = [int(c) for c in coeffs]
    if len(coeffs) <= 8:
        sums = [sum(c * x for c, x in zip(coeffs, xs))
                for xs in itertools.product((q.lo, q.hi), repeat=len(coeffs))]
        return min(sums), max(sums)
    # terms are independent, so the extremes are the sums of per-term extremes
    return (sum(min(c * q.lo, c * q.hi) for c in coeffs),
            sum(max(c * q.lo, c * q.hi) for c in coeffs))


NETS = st.builds(
    legal_random_network,
    seed=st.integers(0, 2**32 - 1),
    sizes=st.lists(st.integers(1, 10), min_size=2, max_size=4),
    block=st.sampled_from([(1, 1), (2, 2), (3, 2), (2, 5), (4, 4), (1, 6), (5, 1)]),
    w_bits=st.sampled_from([2, 3, 5, 8, 16]),
    a_bits=st.sampled_from([2, 4, 8, 16]),
    kind_probs=st.sampled_from([(0.5, 0.3, 0.2), (1.0, 0.0, 0.0), (0.0, 1.0, 0.0),
                                (0.0, 0.0, 1.0), (0.2, 0.4, 0.4)]),
    input_signed=st.booleans(),
    bias_scale=st.sampled_from([0.0, 0.05, 1.0, 4.0]),
)


# --------------------------------------------------------------------------- widths


def check_layer_widths(net, i, lp) -> None:
    layer = net.layers[i]
    in_q = net.layer_input(i)
    assert lp.in_type == in_q
    assert lp.shift == in_q.frac + layer.w_frac - layer.output.frac
    assert lp.round_const == (1 << (lp.shift - 1) if lp.shift else 0)
    assert lp.in_width == in_q.bits + (0 if in_q.signed else 1)

    # PEs: exactly the kept blocks, in row-major block order, with their weights
    kept = [(brow, bcol, rr, cc) for brow, bcol, rr, cc in
            blocks_of(layer.out_features, layer.in_features, layer.block)
            if layer.kinds[brow, bcol] != BlockKind.PRUNED]
    assert len(lp.kept_blocks) == len(kept)
    pe_row_ranges = {}
    for pe, (brow, bcol, rr, cc) in zip(lp.kept_blocks, kept):
        assert (pe.brow, pe.bcol, pe.rows, pe.cols) == (brow, bcol, tuple(rr), tuple(cc))
        assert pe.kind == BlockKind(int(layer.kinds[brow, bcol]))
        assert pe.coeffs == tuple(tuple(int(layer.weight[r, c]) for c in cc) for r in rr)
        assert pe.in_width == lp.in_width
        for local, row in enumerate(pe.coeffs):
            lo, hi = row_extremes(row, in_q)
            pe_row_ranges[pe.index, local] = (lo, hi)
            assert fits(lo, pe.out_width) and fits(hi, pe.out_width)
            # every prefix of the emitted add chain fits as well
            for k in range(1, len(row) + 1):
                plo, phi = row_extremes(row[:k], in_q)
                assert fits(plo, pe.out_width) and fits(phi, pe.out_width)
        needed = max(signed_bits(*pe_row_ranges[pe.index, r]) for r in range(len(pe.rows)))
        assert pe.out_width >= pe.in_width                  # inputs are sign-extended to it
        assert pe.out_width <= max(needed, pe.in_width)     # and no wider than necessary
        if pe.kind is BlockKind.UNIFIED:
            m = abs(pe.coeffs[0][0])
            assert pe.magnitude == m and all(abs(c) == m for row in pe.coeffs for c in row)
            assert pe.multipliers == (0 if m & (m - 1) == 0 else len(pe.rows))
            for row in pe.coeffs:
                slo, shi = row_extremes([1 if c > 0 else -1 for c in row], in_q)
                assert fits(slo, pe.sum_width) and fits(shi, pe.sum_width)
            assert pe.in_width <= pe.sum_width <= pe.out_width
            assert pe.magnitude_shift == (m.bit_length() - 1 if m & (m - 1) == 0 else None)
        else:
            assert pe.magnitude == 0 and pe.sum_width == 0
            weights = [abs(c) for row in pe.coeffs for c in row]
            assert pe.multipliers == sum(1 for w in weights if w & (w - 1))

    # rows: bias, and one term per kept block of the row's block row
    q_lo = q_hi = None
    for r, row in enumerate(lp.rows):
        assert row.index == r and row.bias == int(layer.bias[r])
        expect_terms = [(pe.index, pe.rows.index(r)) for pe in lp.kept_blocks if r in pe.rows]
        assert list(row.terms) == expect_terms
        # the accumulator register holds bias + round + PE outputs, added in that order
        acc_lo = acc_hi = row.bias + lp.round_const
        assert fits(acc_lo, lp.acc_width)
        for pe_index, local in row.terms:
            lo, hi = pe_row_ranges[pe_index, local]
            acc_lo, acc_hi = acc_lo + lo, acc_hi + hi
            assert fits(acc_lo, lp.acc_width) and fits(acc_hi, lp.acc_width)
        # the exact accumulator range, from the whole row at once
        lo, hi = row_extremes(layer.weight[r], in_q)
        assert (acc_lo, acc_hi) == (row.bias + lp.round_const + lo, row.bias + lp.round_const + hi)
        # shifted accumulator (floor division: an arithmetic shift)
        r_q_lo, r_q_hi = acc_lo // (1 << lp.shift), acc_hi // (1 << lp.shift)
        if lp.clamp_hi is None and lp.clamp_lo is None:
            # no saturation: the q slice is the output word itself
            assert lp.out_type.lo <= r_q_lo and r_q_hi <= lp.out_type.hi
            assert lp.q_width <= lp.out_type.bits
        else:
            assert fits(r_q_lo, lp.q_width) and fits(r_q_hi, lp.q_width)
        q_lo = r_q_lo if q_lo is None else min(q_lo, r_q_lo)
        q_hi = r_q_hi if q_hi is None else max(q_hi, r_q_hi)
    assert all(lp.acc_width >= pe.out_width for pe in lp.kept_blocks)
    assert lp.acc_width <= MAX_ACC_BITS

    # clamps: present whenever the range leaves the output type (ReLU raises the floor)
    out = layer.output
    lo_bound = 0 if layer.relu else out.lo
    lo_bound = max(lo_bound, out.lo)
    if q_hi > out.hi:
        assert lp.clamp_hi == out.hi
    if lp.clamp_hi is None:
        assert q_hi <= out.hi
    else:
        assert lp.clamp_hi == out.hi
    if q_lo < lo_bound:
        assert lp.clamp_lo == lo_bound
    if lp.clamp_lo is None:
        assert q_lo >= lo_bound
    else:
        assert lp.clamp_lo == lo_bound

    used = sorted({c for pe in lp.kept_blocks for c in pe.cols})
    assert list(lp.used_inputs) == used


@given(NETS)
@settings(max_examples=60, deadline=None)
def test_plan_widths_hold_exact_extremes(net):
    plan = make_plan(net)
    assert len(plan.layers) == len(net.layers)
    for i, lp in enumerate(plan.layers):
        check_layer_widths(net, i, lp)


# --------------------------------------------------------------------------- datapath model


def hardware_layer(lp, xs):
    """Bit-level model of one planned layer: every value wrapped to its planned width."""
    ys = []
    for x in xs:
        pe_out = {}
        for pe in lp.kept_blocks:
            vals = []
            for row in pe.coeffs:
                xe = [wrap(x[c], pe.in_width) for c in pe.cols]       # sign-extended inputs
                if pe.kind is BlockKind.UNIFIED:
                    s = wrap(sum(xv if w > 0 else -xv for w, xv in zip(row, xe)), pe.sum_width)
                    v = wrap(s * pe.magnitude, pe.out_width)
                else:
                    v = wrap(sum(w * xv for w, xv in zip(row, xe)), pe.out_width)
                vals.append(v)
            pe_out[pe.index] = vals
        y = []
        for row in lp.rows:
            acc = wrap(row.bias + lp.round_const
                       + sum(pe_out[p][local] for p, local in row.terms), lp.acc_width)
            q = wrap(acc >> lp.shift, lp.q_width)
            if lp.clamp_hi is not None and q > lp.clamp_hi:
                v = lp.clamp_hi
            elif lp.clamp_lo is not None and q < lp.clamp_lo:
                v = lp.clamp_lo
            else:
                v = q
            y.append(wrap(v, lp.out_type.bits, lp.out_type.signed))  # the output bits
        ys.append(y)
    return ys


def extreme_inputs(net):
    """Per output row of layer 0: the input vectors reaching its max and its min."""
    q, w = net.input, net.layers[0].weight
    vecs = []
    for row in w:
        vecs.append([q.hi if c > 0 else q.lo for c in row])
        vecs.append([q.lo if c > 0 else q.hi for c in row])
    return np.array(vecs, dtype=np.int64)


@given(NETS, st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_planned_datapath_matches_reference(net, seed):
    plan = make_plan(net)
    x = np.concatenate([random_inputs(np.random.default_rng(seed), net, 24),
                        extreme_inputs(net)])
    expected = forward_all(net, x)
    h = x.tolist()
    for lp, ref in zip(plan.layers, expected):
        h = hardware_layer(lp, h)
        assert h == ref.tolist(), f"layer {lp.index}"


FIXED = [
    # (sizes, block, kind probs, w_bits, a_bits, signed input, bias scale)
    ([12, 10, 6], (4, 4), (0.4, 0.3, 0.3), 8, 8, False, 1.0),
    ([11, 9, 7, 3], (3, 2), (0.2, 0.4, 0.4), 8, 8, True, 1.0),
    ([10, 8], (1, 1), (0.3, 0.4, 0.3), 16, 16, True, 4.0),
    ([9, 7, 5], (2, 4), (0.0, 0.0, 1.0), 2, 2, False, 0.05),
    ([8, 8, 8], (8, 8), (0.0, 1.0, 0.0), 2, 16, True, 0.0),
    ([7, 6, 4], (5, 3), (1.0, 0.0, 0.0), 4, 4, False, 1.0),
    ([16, 12], (2, 8), (0.2, 0.4, 0.4), 12, 6, False, 1.0),
]


@pytest.mark.parametrize("i", range(len(FIXED)))
def test_fixed_configs_widths_and_datapath(i):
    sizes, block, probs, w_bits, a_bits, signed, bias_scale = FIXED[i]
    net = legal_random_network(100 + i, sizes, block, w_bits=w_bits, a_bits=a_bits,
                               kind_probs=probs, input_signed=signed, bias_scale=bias_scale)
    plan = make_plan(net)
    for j, lp in enumerate(plan.layers):
        check_layer_widths(net, j, lp)
    x = np.concatenate([random_inputs(np.random.default_rng(i), net, 64),
                        extreme_inputs(net)])
    h = x.tolist()
    for lp, ref in zip(plan.layers, forward_all(net, x)):
        h = hardware_layer(lp, h)
        assert h == ref.tolist(), f"layer {lp.index}"


# --------------------------------------------------------------------------- hand cases


def test_hand_plan_exact_values():
    """4-bit unsigned inputs [0, 15]; block (1, 2).

    row 0: [3, -3 | 5]  U(3), D   bias 4   -> extremes 3x0-3x1: [-45, 45], 5x2: [0, 75]
    row 1: [0, 0 | -2]  P, D      bias 7   -> -2x2: [-30, 0]
    w_frac 1 -> shift 1, round 1; ReLU; unsigned 4-bit output [0, 15].
    """
    layer = make_layer([[3, -3, 5], [0, 0, -2]], [4, 7], block=(1, 2), kinds=["UD", "PD"],
                       w_bits=4, w_frac=1, output=QType(4, 0, False), relu=True, name="fc0")
    net = make_net([layer], QType(4, 0, False), name="Hand Net")
    plan = make_plan(net)
    schedule = make_schedule(plan, "unrolled")
    assert plan.name == "hand_net" and schedule.arch == "unrolled"
    lp = plan.layers[0]
    assert [(pe.kind, pe.brow, pe.bcol) for pe in lp.kept_blocks] == [
        (BlockKind.UNIFIED, 0, 0), (BlockKind.DENSE, 0, 1), (BlockKind.DENSE, 1, 1)]
    u, d0, d1 = lp.kept_blocks
    assert u.in_width == 5
    assert u.sum_width == 5                 # x0 - x1 in [-15, 15]
    assert u.out_width == 7                 # 3 * [-15, 15] = [-45, 45]
    assert u.magnitude == 3 and u.magnitude_shift is None
    assert d0.out_width == 8                # 5 * [0, 15] = [0, 75]
    assert d1.out_width == 6                # -2 * [0, 15] = [-30, 0]
    assert [r.terms for r in lp.rows] == [((0, 0), (1, 0)), ((2, 0),)]
    assert lp.shift == 1 and lp.round_const == 1
    # range of every partial sum (constant widened with 0): row 0 with bias + round 5:
    # [0 - 45 + 0, 5 + 45 + 75] = [-45, 125]; row 1 with 8: [-30, 8] -> 8 bits
    assert lp.acc_width == 8
    # q = acc >> 1: row 0 [-23, 62], row 1 [-15, 4] -> [-23, 62]: 7 bits
    assert lp.q_width == 7
    assert lp.clamp_hi == 15 and lp.clamp_lo == 0
    assert lp.used_inputs == (0, 1, 2)
    assert schedule.layers[0].latency == schedule.layers[0].stages + 2
    totals = plan.totals()
    assert totals["block_multipliers"] == 1 + 1 + 0    # U row (3), dense 5; dense -2 is a shift
    assert totals["dense_multipliers"] == 6
    # 4 blocks * 2 + unified (3 + 2 signs) + 2 dense weights * 4 bits
    assert totals["weight_bits"] == 8 + 5 + 8
    assert totals["dense_weight_bits"] == 24
    assert totals["blocks"] == {"pruned": 1, "unified": 1, "dense": 2}
    assert schedule.pipeline_depth == schedule.layers[0].latency
    assert schedule.latency == schedule.pipeline_depth + OUTPUT_LATENCY
    assert schedule.initiation_interval == 1


def test_power_of_two_magnitude_is_a_shift():
    layer = make_layer([[4, -4], [-4, 4]], [0, 0], block=(2, 2), w_bits=8)
    pe = make_plan(make_net([layer])).layers[0].kept_blocks[0]
    assert pe.kind is BlockKind.UNIFIED and pe.magnitude_shift == 2
    assert pe.signs == ((1, -1), (-1, 1))
    assert pe.multipliers == 0                   # a shift per row, no multiplier


def test_all_pruned_layer_has_no_pes():
    dead = make_layer([[0, 0, 0], [0, 0, 0]], [300, -300], block=(1, 2),
                      output=QType(8, 0, False), relu=True, name="dead")
    tail = make_layer([[1, -1]], [0], name="tail")
    plan = make_plan(make_net([dead, tail]))
    lp = plan.layers[0]
    assert lp.kept_blocks == () and lp.used_inputs == ()
    assert lp.block_multipliers == 0
    assert lp.weight_bits == 2 * 4               # only the kind map
    assert lp.blocks == {"pruned": 4}
    assert [r.terms for r in lp.rows] == [(), ()]
    assert [r.bias for r in lp.rows] == [300, -300]
    # acc = bias (shift 0): [-300, 300] -> 10 bits; ReLU floor 0 and 255 ceiling both needed
    assert lp.acc_width == 10
    assert lp.clamp_hi == 255 and lp.clamp_lo == 0
    assert plan.totals()["blocks"] == {"pruned": 4, "unified": 2, "dense": 0}


@pytest.mark.parametrize("seed", range(6))
def test_totals_formulas(seed):
    net = legal_random_network(seed, [9, 7, 5, 3], [(2, 3), (1, 1), (4, 4), (3, 1), (2, 2),
                                                    (5, 5)][seed],
                               w_bits=[2, 4, 8, 16, 3, 8][seed],
                               kind_probs=(0.3, 0.4, 0.3))
    plan = make_plan(net)
    mult = weight_bits = dense_mult = dense_bits = 0
    counts = {"pruned": 0, "unified": 0, "dense": 0}
    for layer, lp in zip(net.layers, plan.layers):
        l_mult = l_bits = 0
        for brow, bcol, rr, cc in blocks_of(layer.out_features, layer.in_features,
                                            layer.block):
            kind = int(layer.kinds[brow, bcol])
            size = len(rr) * len(cc)
            l_bits += 2
            if kind == BlockKind.UNIFIED:
                counts["unified"] += 1
                m = abs(int(layer.weight[rr[0], cc[0]]))
                pow2 = m & (m - 1) == 0
                l_mult += 0 if pow2 else len(rr)
                l_bits += (layer.w_bits - 1) + size
            elif kind == BlockKind.DENSE:
                counts["dense"] += 1
                for r in rr:
                    for c in cc:
                        w = abs(int(layer.weight[r, c]))
                        l_mult += bool(w & (w - 1))
                l_bits += size * layer.w_bits
            else:
                counts["pruned"] += 1
        assert lp.block_multipliers == l_mult
        assert lp.weight_bits == l_bits
        assert lp.dense_multipliers == layer.in_features * layer.out_features
        assert lp.dense_weight_bits == layer.in_features * layer.out_features * layer.w_bits
        mult += l_mult
        weight_bits += l_bits
        dense_mult += lp.dense_multipliers
        dense_bits += lp.dense_weight_bits
    totals = plan.totals()
    assert totals == {"block_multipliers": mult, "dense_multipliers": dense_mult,
                      "weight_bits": weight_bits, "dense_weight_bits": dense_bits,
                      "blocks": counts}
    schedule = make_schedule(plan)
    assert schedule.pipeline_depth == sum(layer.stages + 2 for layer in schedule.layers)
    assert schedule.latency == schedule.pipeline_depth + OUTPUT_LATENCY


def test_plan_metadata():
    net = legal_random_network(3, [4, 3], (2, 2), name="My-Net 2")
    plan = make_plan(net)
    assert plan.name == "my_net_2"
    assert plan.generator == hlsgen.__version__
    assert plan.artifact_hash == digest(net)
    assert plan.provenance("unrolled") == (f"generated by hlsgen {hlsgen.__version__} "
                                           f"(unrolled) from artifact sha256:{digest(net)[:16]}")
    assert plan.provenance() == (f"generated by hlsgen {hlsgen.__version__} from "
                                 f"artifact sha256:{digest(net)[:16]}")
    assert (plan.in_features, plan.out_features) == (4, 3)
    assert (plan.in_type, plan.out_type) == (net.input, net.output)
    assert make_plan(dataclasses.replace(net, name="9lives")).name == "n_9lives"
    assert make_plan(dataclasses.replace(net, name="_")).name == "net"


@pytest.mark.parametrize("name", ["Größe", "x²", "réseau"])
def test_non_ascii_network_name_is_refused(name):
    """Names reach file names, HDL identifiers and comments: the artifact refuses others."""
    net = legal_random_network(3, [4, 3], (2, 2), name=name)
    with pytest.raises(ArtifactError, match="must be 1-64 characters of letters, digits, spaces"):
        make_plan(net)


def test_unknown_architecture():
    net = legal_random_network(0, [4, 3], (2, 2))
    assert list(ARCHITECTURES) == ["unrolled", "folded"]
    with pytest.raises(ValueError, match=r"unknown architecture 'systolic'; choose one of "
                                         "unrolled"):
        make_schedule(make_plan(net), "systolic")


# --------------------------------------------------------------------------- accumulator limit


def deep_shift_net(shift: int, position: int = 0):
    """A legal network whose layer ``position`` ("deep") requantizes by ``shift``.

    Fracs lie in [-32, 32], so a shift can reach 32 + 32 + 32 = 96. That rounding constant
    1 << (shift - 1) is the only way a legal artifact needs more than 62 accumulator bits:
    by magnitude the widest legal sum is < 2**49 (16-bit x 16-bit x 65536 inputs + a bias
    below 2**48)."""
    w_frac = min(32, shift - 32)
    out_frac = 32 + w_frac - shift
    deep = make_layer([[1, -1]], [0], w_bits=8, w_frac=w_frac,
                      output=QType(8, out_frac, True), name="deep")
    if position == 0:
        return make_net([deep], QType(8, 32, True))
    # a first layer keeping frac 32 (shift 0), so the second can shift by 32 + w_frac - out
    first = make_layer([[1], [2]], [0, 0], w_bits=8, w_frac=0, output=QType(8, 32, True),
                       name="first")
    return make_net([first, deep], QType(8, 32, True))


def test_shift_61_fits_62_bit_accumulator():
    net = deep_shift_net(61)
    lp = make_plan(net).layers[0]
    assert lp.shift == 61 and lp.round_const == 1 << 60
    assert lp.acc_width == 62                    # [-255, 2**60 + 255]
    # the reference agrees: everything rounds to 0 at this scale
    assert forward(net, np.array([[127, -128], [-128, 127]])).tolist() == [[0], [0]]


@pytest.mark.parametrize("shift, position", [(62, 0), (62, 1), (64, 0), (96, 1)])
def test_accumulator_wider_than_62_bits_raises(shift, position):
    net = deep_shift_net(shift, position)
    assert net.layers[position].name == "deep"
    with pytest.raises(WidthError, match=rf"layer {position} \('deep'\): the accumulator "
                                         rf"needs \d+ bits, more than the 62"):
        make_plan(net)


# --------------------------------------------------------------------------- plan bugs


def negative_bias_big_shift_net():
    """2-bit unsigned x in [0, 3], weight 1, bias -7, shift 4 (round 8).

    acc register = x - 7 + 8 in [1, 4]; the bias-only range [-7, 3] makes acc_width 4;
    q = acc >> 4 = 0 needs 1 bit, above every bit of the 4-bit register."""
    layer = make_layer([[1]], [-7], w_bits=2, w_frac=0, output=QType(4, -4, True), name="l")
    return make_net([layer], QType(2, 0, False))


def test_negative_bias_big_shift_values():
    lp = make_plan(negative_bias_big_shift_net()).layers[0]
    # the values need 4 bits; the plan does not pad the register for a backend's part-select
    assert (lp.shift, lp.round_const, lp.acc_width, lp.q_width) == (4, 8, 4, 1)


def test_q_of_a_shift_past_the_accumulator_is_its_sign():
    """acc >> 4 of a 4-bit acc is its sign: the Verilog reads acc0[3], never acc0[4:4]."""
    from hlsgen.generate import design
    _, rendered = design(negative_bias_big_shift_net())
    layer = rendered.files["rtl/handnet_layer0.v"]
    assert "wire signed [0:0] q0 = acc0[3];" in layer
