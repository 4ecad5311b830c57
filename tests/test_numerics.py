"""Tests for hlsgen.numerics, the reference integer arithmetic.

Expected values are computed by hand (in comments) or by plain Python ``int`` arithmetic
written independently here (floor division, explicit loops), never by numpy."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlsgen import numerics
from hlsgen.artifact import QType
from hlsgen.numerics import (
    MAX_ACC_BITS,
    WidthError,
    check_acc_width,
    check_input,
    dense_acc,
    forward,
    forward_all,
    pack,
    quantize,
    requantize,
    signed_width,
    sum_range,
    unpack,
)

from hlsgen.randnet import random_inputs

from conftest import legal_random_network, make_layer, make_net, signed_bits

S8 = QType(8, 0, True)
WIDE = QType(16, 0, True)  # wide enough that nothing saturates in the rounding tests


def rq(acc: int, shift: int, relu: bool = False, out: QType = WIDE) -> int:
    y = requantize(np.array([acc], dtype=np.int64), shift, relu, out)
    assert y.dtype == np.int64
    return int(y[0])


# --------------------------------------------------------------------------- requantize


@pytest.mark.parametrize("acc, shift, expected", [
    (-5, 1, -2),    # -2.5 -> (-5 + 1) >> 1 = -4 >> 1 = -2 (half up, not away from zero)
    (-6, 2, -1),    # -1.5 -> (-6 + 2) >> 2 = -4 >> 2 = -1
    (-7, 2, -2),    # -1.75 -> floor((-7 + 2) / 4) = floor(-1.25) = -2
    (-5, 2, -1),    # -1.25 -> floor((-5 + 2) / 4) = floor(-0.75) = -1
    (-1, 1, 0),     # -0.5 -> 0 (half up)
    (-3, 1, -1),    # -1.5 -> -1
    (-2, 1, -1),    # exact
    (-1, 3, 0),     # -0.125 -> 0
    (-4, 3, 0),     # -0.5 -> 0
    (-5, 3, -1),    # -0.625 -> -1
    (-100, 4, -6),  # -6.25 -> floor((-100 + 8) / 16) = floor(-5.75) = -6
])
def test_requantize_negative_rounding(acc, shift, expected):
    assert rq(acc, shift) == expected


@pytest.mark.parametrize("acc, shift, expected", [
    (1, 1, 1),      # 0.5 -> 1
    (3, 1, 2),      # 1.5 -> 2
    (5, 1, 3),      # 2.5 -> 3
    (2, 2, 1),      # 0.5 -> 1
    (6, 2, 2),      # 1.5 -> 2
    (10, 2, 3),     # 2.5 -> 3
    (-2, 2, 0),     # -0.5 -> 0
    (-6, 2, -1),    # -1.5 -> -1
    (-10, 2, -2),   # -2.5 -> -2
    (24, 4, 2),     # 1.5 -> 2
    (-24, 4, -1),   # -1.5 -> -1
])
def test_requantize_half_rounds_up(acc, shift, expected):
    assert rq(acc, shift) == expected


@pytest.mark.parametrize("acc, shift, expected", [
    (1, 2, 0), (5, 2, 1), (7, 2, 2), (9, 3, 1), (11, 3, 1), (12, 3, 2), (100, 4, 6),
    (0, 5, 0),
])
def test_requantize_positive_rounding(acc, shift, expected):
    assert rq(acc, shift) == expected


@pytest.mark.parametrize("acc", [-32768, -129, -1, 0, 1, 77, 32767])
def test_requantize_shift_zero_is_identity(acc):
    assert rq(acc, 0) == acc


def test_requantize_shift_zero_adds_no_rounding_constant():
    acc = np.array([-3, -1, 0, 1, 3], dtype=np.int64)
    assert requantize(acc, 0, False, S8).tolist() == [-3, -1, 0, 1, 3]


@pytest.mark.parametrize("q, lo, hi", [
    (QType(2, 0, True), -2, 1),
    (QType(2, 0, False), 0, 3),
    (QType(8, 0, True), -128, 127),
    (QType(8, 0, False), 0, 255),
    (QType(16, 0, True), -32768, 32767),
    (QType(16, 0, False), 0, 65535),
])
def test_qtype_bounds_and_saturation(q, lo, hi):
    assert (q.lo, q.hi) == (lo, hi)
    acc = np.array([lo - 1000, lo - 1, lo, lo + 1, hi - 1, hi, hi + 1, hi + 1000],
                   dtype=np.int64)
    assert requantize(acc, 0, False, q).tolist() == [lo, lo, lo, lo + 1, hi - 1, hi, hi, hi]


@pytest.mark.parametrize("q, acc, expected", [
    # shift 2: (acc + 2) >> 2, then saturate
    (QType(2, 0, True), [5, 6, -9, -10, -11], [1, 1, -2, -2, -2]),   # 1.25->1, 1.5->2->1
    (QType(2, 0, False), [13, 14, -1, -2, -3], [3, 3, 0, 0, 0]),     # -0.25->0, -0.75->-1->0
    (QType(8, 0, True), [509, 510, -514, -515], [127, 127, -128, -128]),
    (QType(8, 0, False), [1021, 1022, -2], [255, 255, 0]),
])
def test_requantize_rounds_then_saturates(q, acc, expected):
    assert requantize(np.array(acc), 2, False, q).tolist() == expected


@pytest.mark.parametrize("out", [QType(8, 0, True), QType(8, 0, False), QType(2, 0, True),
                                 QType(16, 0, False)])
def test_requantize_relu_fused(out):
    acc = np.array([-1000, -3, -2, -1, 0, 1, 2, 3, 10, 1 << 20], dtype=np.int64)
    got = requantize(acc, 1, True, out).tolist()
    # (acc + 1) >> 1: -999>>1=-500, -2>>1=-1, -1>>1=-1, 0>>1=0, 1>>1=0, 1, 1, 2, 5, 2**19
    pre = [-500, -1, -1, 0, 0, 1, 1, 2, 5, 1 << 19]
    assert got == [min(max(v, 0), out.hi) for v in pre]
    assert min(got) == 0


def test_requantize_relu_before_saturation_on_signed_type():
    # (-13 + 1) >> 1 = -6, ReLU turns it into 0, which the 2-bit signed type holds;
    # (9 + 1) >> 1 = 5 saturates to 1
    assert requantize(np.array([-13, 9]), 1, True, QType(2, 0, True)).tolist() == [0, 1]


def test_requantize_large_values_exact():
    big = (1 << 61) - 1
    q = QType(16, 0, True)
    y = requantize(np.array([big, -big - 1], dtype=np.int64), 50, False, q)
    # (2**61 - 1 + 2**49) >> 50 = 2**11 + 0 (2**61 / 2**50 = 2048, remainder < half)
    assert y.tolist() == [2048, -2048]


def test_requantize_huge_shift_is_exact_or_refused():
    # every int64 accumulator rounds to 0 at shift 64: 0 <= acc + 2**63 < 2**64
    try:
        y = requantize(np.array([5, -5], dtype=np.int64), 64, False, S8)
    except WidthError:
        return
    assert y.tolist() == [0, 0]


@given(st.integers(-(1 << 40), 1 << 40), st.integers(0, 20), st.booleans(),
       st.sampled_from([QType(2, 0, True), QType(3, 0, False), QType(8, 0, True),
                        QType(8, 0, False), QType(16, 0, True), QType(16, 0, False)]))
@settings(max_examples=300, deadline=None)
def test_requantize_matches_floor_division(acc, shift, relu, out):
    expected = (acc + (1 << shift) // 2) // (1 << shift)   # plain ints, floor division
    if relu:
        expected = max(expected, 0)
    expected = min(max(expected, out.lo), out.hi)
    assert rq(acc, shift, relu, out) == expected


# --------------------------------------------------------------------------- widths


@pytest.mark.parametrize("lo, hi, bits", [
    (0, 0, 1), (-1, -1, 1), (-1, 0, 1), (0, 1, 2), (1, 1, 2), (-2, 1, 2), (-2, 2, 3),
    (0, 127, 8), (0, 128, 9), (-128, 0, 8), (-129, 0, 9), (-128, 127, 8), (-129, 127, 9),
    (-128, 128, 9), (0, 255, 9), (-32768, 32767, 16), (0, 1 << 40, 42),
    (-(1 << 40), 0, 41), (-(1 << 40) - 1, 0, 42), (5, 6, 4), (-6, -5, 4),
])
def test_signed_width_boundaries(lo, hi, bits):
    assert signed_width(lo, hi) == bits


@given(st.integers(-(1 << 70), 1 << 70), st.integers(-(1 << 70), 1 << 70))
@settings(max_examples=300, deadline=None)
def test_signed_width_is_minimal(a, b):
    lo, hi = min(a, b), max(a, b)
    bits = signed_width(lo, hi)
    assert bits == signed_bits(lo, hi)
    assert -(1 << (bits - 1)) <= min(lo, 0) and max(hi, 0) <= (1 << (bits - 1)) - 1
    if bits > 1:
        assert not (-(1 << (bits - 2)) <= min(lo, 0) and max(hi, 0) <= (1 << (bits - 2)) - 1)


def test_check_acc_width_limit():
    assert MAX_ACC_BITS == 62
    assert check_acc_width(62, "layer 3 ('x')") == 62
    with pytest.raises(WidthError, match=r"layer 3 \('x'\).*63 bits.*62"):
        check_acc_width(63, "layer 3 ('x')")


QTYPES = st.builds(QType, st.integers(2, 16), st.just(0), st.booleans())


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_sum_range_holds_every_partial_sum(data):
    q = data.draw(QTYPES)
    n = data.draw(st.integers(0, 12))
    coeffs = data.draw(st.lists(st.integers(-(1 << 15), 1 << 15), min_size=n, max_size=n))
    const = data.draw(st.integers(-(1 << 40), 1 << 40))
    lo, hi = sum_range(coeffs, q, const)
    # inputs: extremes are the interesting ones, plus arbitrary in-range values
    xs = data.draw(st.lists(st.one_of(st.sampled_from([q.lo, q.hi, 0]),
                                      st.integers(q.lo, q.hi)), min_size=n, max_size=n))
    terms = [c * x for c, x in zip(coeffs, xs)]
    # prefix sums without the constant, with it first and with it last
    partial = 0
    seen = [0, const]
    for t in terms:
        partial += t
        seen += [partial, const + partial]
    # any subset in any order: the most negative / most positive subset sums
    seen += [sum(t for t in terms if t < 0) + min(const, 0),
             sum(t for t in terms if t > 0) + max(const, 0)]
    for s in seen:
        assert lo <= s <= hi


@given(st.data())
@settings(max_examples=100, deadline=None)
def test_sum_range_is_tight_for_the_full_sum(data):
    """The range is attained: choose each input at the extreme that pushes the sum."""
    q = data.draw(QTYPES)
    coeffs = data.draw(st.lists(st.integers(-(1 << 15), 1 << 15), min_size=1, max_size=10))
    lo, hi = sum_range(coeffs, q, 0)
    assert hi == sum(max(c * q.lo, c * q.hi) for c in coeffs)
    assert lo == sum(min(c * q.lo, c * q.hi) for c in coeffs)


def test_sum_range_hand_example():
    # unsigned 4-bit x in [0, 15]: 3x in [0, 45], -2x in [-30, 0]; const 7 widened with 0
    assert sum_range([3, -2], QType(4, 0, False), 7) == (-30, 52)
    # signed 4-bit x in [-8, 7]: 3x in [-24, 21], -2x in [-14, 16]; const -5
    assert sum_range([3, -2], QType(4, 0, True), -5) == (-43, 37)
    assert sum_range([], QType(4, 0, True), 0) == (0, 0)


# --------------------------------------------------------------------------- quantize


def test_quantize_round_half_up_and_saturation():
    q = QType(8, 2, True)   # steps of 0.25, range [-32, 31.75]
    x = np.array([0.125, -0.125, 0.375, -0.375, 0.1, -0.1, 1.0, -1.0, 31.75, 31.9, 100.0,
                  -32.0, -32.2, -1e9, np.inf, -np.inf])
    # x * 4: 0.5->1, -0.5->0, 1.5->2, -1.5->-1, 0.4->0, -0.4->0, 4, -4, 127, 127.6->128->127,
    #        400->127, -128, -128.8->-129->-128, saturated, saturated, saturated
    assert quantize(x, q).tolist() == [1, 0, 2, -1, 0, 0, 4, -4, 127, 127, 127, -128, -128,
                                       -128, 127, -128]


def test_quantize_unsigned_and_negative_frac():
    q = QType(4, -1, False)  # steps of 2, range [0, 30]
    x = np.array([-5.0, 0.0, 0.99, 1.0, 2.9, 3.0, 29.0, 31.0, 100.0])
    # x / 2: -2.5 -> -2 -> 0, 0, 0.495 -> 0, 0.5 -> 1, 1.45 -> 1, 1.5 -> 2, 14.5 -> 15,
    #        15.5 -> 16 -> 15, 50 -> 15
    assert quantize(x, q).tolist() == [0, 0, 0, 1, 1, 2, 15, 15, 15]
    assert quantize(x, q).dtype == np.int64


def test_quantize_nan_is_refused_or_in_range():
    q = QType(8, 0, True)
    try:
        with np.errstate(invalid="ignore"):
            y = quantize(np.array([np.nan, 1.0]), q)
    except ValueError:
        return
    assert q.lo <= y.min() and y.max() <= q.hi


# --------------------------------------------------------------------------- pack / unpack


def test_pack_hand_example():
    # element 0 in the least significant bits, two's complement
    assert pack([1, -1, -8, 7], 4) == 0x78F1
    assert unpack(0x78F1, 4, 4, signed=True) == [1, -1, -8, 7]
    assert unpack(0x78F1, 4, 4, signed=False) == [1, 15, 8, 7]
    assert pack([], 8) == 0


@given(st.data())
@settings(max_examples=200, deadline=None)
def test_pack_unpack_round_trip(data):
    width = data.draw(st.integers(1, 40))
    signed = data.draw(st.booleans())
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    values = data.draw(st.lists(st.integers(lo, hi), max_size=20))
    word = pack(values, width)
    assert 0 <= word < 1 << (width * max(len(values), 1))
    assert unpack(word, len(values), width, signed) == values
    # each field sits at its own offset
    for i, v in enumerate(values):
        assert (word >> (i * width)) & ((1 << width) - 1) == v % (1 << width)


def test_pack_numpy_negative_values():
    vals = np.array([-128, 127, -1, 0], dtype=np.int64)
    word = pack(vals, 8)
    assert word == 0x00FF7F80
    assert unpack(word, 4, 8, True) == [-128, 127, -1, 0]


# --------------------------------------------------------------------------- forward


def _hand_net():
    """Two layers, hand-checked below.

    layer 0: 3 -> 2, block (1, 2) (edge block of width 1), w_frac 1, shift 0+1-0 = 1, ReLU,
             output unsigned 4-bit [0, 15]
        row 0: [3, -3 | 5]   kinds U, D   bias 4
        row 1: [0,  0 | -2]  kinds P, D   bias 7
    layer 1: 2 -> 1, block (1, 1), w_frac 0, shift 0+0-(-1) = 1, no ReLU,
             output signed 4-bit [-8, 7] with frac -1
        row 0: [2, -1]       kinds U, D   bias -3
    """
    l0 = make_layer([[3, -3, 5], [0, 0, -2]], [4, 7], block=(1, 2), kinds=["UD", "PD"],
                    w_bits=4, w_frac=1, output=QType(4, 0, False), relu=True, name="fc0")
    l1 = make_layer([[2, -1]], [-3], block=(1, 1), kinds=["UD"], w_bits=3, w_frac=0,
                    output=QType(4, -1, True), relu=False, name="fc1")
    return make_net([l0, l1], QType(4, 0, False))


HAND_X = [[1, 2, 3], [0, 15, 0], [0, 0, 0], [15, 0, 15], [2, 1, 0]]
# layer 0, row 0 / row 1 / layer 1:
#  [1,2,3]:  3-6+15+4=16 ->(17>>1)=8;  -6+7=1 ->1;    16-1-3=12 ->(13>>1)=6
#  [0,15,0]: -45+4=-41 ->-20 ->relu 0; 7 ->4;         0-4-3=-7 ->(-6>>1)=-3
#  [0,0,0]:  4 ->2;                    7 ->4;         4-4-3=-3 ->(-2>>1)=-1
#  [15,0,15]: 45+75+4=124 ->62 ->sat 15; -30+7=-23 ->-11 ->relu 0; 30-0-3=27 ->14 ->sat 7
#  [2,1,0]:  6-3+4=7 ->4;              7 ->4;         8-4-3=1 ->(2>>1)=1
HAND_L0 = [[8, 1], [0, 4], [2, 4], [15, 0], [4, 4]]
HAND_Y = [[6], [-3], [-1], [7], [1]]


def test_forward_hand_built_two_layer_net():
    net = _hand_net()
    outs = forward_all(net, np.array(HAND_X))
    assert [o.tolist() for o in outs] == [HAND_L0, HAND_Y]
    assert forward(net, np.array(HAND_X)).tolist() == HAND_Y


def _python_forward(net, xs):
    """The contract, with plain ints and floor division (no numpy, no shifts)."""
    in_q = net.input
    h = [list(map(int, x)) for x in xs]
    for layer in net.layers:
        s = in_q.frac + layer.w_frac - layer.output.frac
        w = [[int(v) for v in row] for row in layer.weight]
        b = [int(v) for v in layer.bias]
        out = []
        for x in h:
            row_out = []
            for r in range(layer.out_features):
                acc = b[r]
                for c in range(layer.in_features):
                    acc += w[r][c] * x[c]
                y = (acc + (2 ** s // 2)) // 2 ** s
                if layer.relu:
                    y = max(y, 0)
                row_out.append(min(max(y, layer.output.lo), layer.output.hi))
            out.append(row_out)
        h = out
        in_q = layer.output
    return h


def test_forward_hand_net_all_inputs_against_plain_ints():
    net = _hand_net()
    xs = np.array([[a, b, c] for a in range(0, 16, 3) for b in range(0, 16, 5)
                   for c in (0, 1, 7, 15)])
    assert forward(net, xs).tolist() == _python_forward(net, xs.tolist())


@pytest.mark.parametrize("seed", range(4))
def test_forward_random_nets_against_plain_ints(seed):
    net = legal_random_network(seed, [7, 5, 3], [(2, 3), (1, 1), (3, 2), (4, 4)][seed],
                               w_bits=[2, 5, 8, 16][seed], a_bits=[8, 3, 16, 8][seed],
                               input_signed=bool(seed % 2))
    x = random_inputs(np.random.default_rng(seed), net, 40)
    assert forward(net, x).tolist() == _python_forward(net, x.tolist())


def test_max_widths_accumulate_exactly_in_int64():
    """16-bit weights x 16-bit unsigned activations over 4096 inputs: |acc| ~ 2**43."""
    n = 4096
    w_max = (1 << 15) - 1
    rng = np.random.default_rng(7)
    weight = [[w_max] * n,                                   # all at +max
              [-w_max] * n,                                  # all at -max
              [int(v) for v in rng.integers(-w_max, w_max + 1, size=n)]]
    bias = [(1 << 47) - 1, -(1 << 47), 12345]
    layer = make_layer(weight, bias, block=(1, n), w_bits=16, w_frac=0,
                       output=QType(16, -32, True), name="wide")
    net = make_net([layer], QType(16, 0, False))
    x = np.array([[65535] * n, [int(v) for v in rng.integers(0, 65536, size=n)]])
    acc = dense_acc(layer, x)
    for i, xv in enumerate(x.tolist()):
        for r in range(3):
            expected = bias[r] + sum(a * b for a, b in zip(weight[r], xv))
            assert int(acc[i, r]) == expected
    assert int(acc[0, 0]) == (1 << 47) - 1 + n * w_max * 65535
    # shift 32: the results of the reference equal the plain-int rounding
    y = forward(net, x).tolist()
    for i, xv in enumerate(x.tolist()):
        for r in range(3):
            a = bias[r] + sum(p * q for p, q in zip(weight[r], xv))
            assert y[i][r] == min(max((a + 2 ** 31) // 2 ** 32, -32768), 32767)


# --------------------------------------------------------------------------- check_input


def test_check_input_accepts_and_converts():
    net = _hand_net()
    got = check_input(net, np.array([[0, 15, 7]], dtype=np.uint8))
    assert got.dtype == np.int64 and got.tolist() == [[0, 15, 7]]
    assert check_input(net, np.zeros((0, 3), dtype=np.int32)).shape == (0, 3)


@pytest.mark.parametrize("x, match", [
    (np.array([1, 2, 3]), r"shape \[N, 3\]"),                      # 1-D vector
    (np.array([[1, 2]]), r"shape \[N, 3\]"),                       # wrong width
    (np.array([[1, 2, 3, 4]]), r"shape \[N, 3\]"),
    (np.zeros((1, 3, 1), dtype=np.int64), r"shape \[N, 3\]"),
    (np.array([[1.0, 2.0, 3.0]]), "integers"),                     # float, even integral
    (np.array([[True, False, True]]), "integers"),
    (np.array([[0, 16, 0]]), r"\[0, 15\].*4-bit unsigned"),        # above hi
    (np.array([[0, -1, 0]]), r"\[0, 15\].*4-bit unsigned"),        # below lo
])
def test_check_input_rejects(x, match):
    with pytest.raises(ValueError, match=match):
        check_input(_hand_net(), x)
    with pytest.raises(ValueError, match=match):
        forward(_hand_net(), x)


def test_check_input_signed_range():
    net = make_net([make_layer([[1]], [0], w_bits=2)], QType(2, 0, True))
    assert check_input(net, np.array([[-2], [1]])).tolist() == [[-2], [1]]
    with pytest.raises(ValueError, match=r"\[-2, 1\].*2-bit signed"):
        check_input(net, np.array([[2]]))
    with pytest.raises(ValueError, match=r"\[-2, 1\]"):
        check_input(net, np.array([[-3]]))


def test_predict_first_maximum_wins():
    assert numerics.predict(np.array([[1, 5, 5], [-3, -4, -3], [0, 0, 9]])).tolist() == [1, 0, 2]
