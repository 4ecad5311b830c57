"""The shared adder graph (hlsgen.addergraph) and its pipelining (hlsgen.schedules.unrolled):
exact against the matrix product, every node wide enough, sub-sums shared, stages balanced."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hlsgen.addergraph import build_adder_graph, csd_digits
from hlsgen.artifact import QType
from hlsgen.plan import make_plan
from hlsgen.randnet import random_inputs
from hlsgen.schedules import make_schedule
from hlsgen.schedules.unrolled import schedule_unrolled

from conftest import legal_random_network, make_layer, make_net


@given(st.integers(-(1 << 20), 1 << 20))
def test_csd_is_exact_canonical_and_minimal(value):
    digits = csd_digits(value)
    assert sum(d << k for k, d in digits) == value
    assert all(d in (-1, 1) for _, d in digits)
    shifts = [k for k, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))   # no adjacent nonzero digits
    # the fewest nonzero digits: never more than the binary form's ones
    assert len(digits) <= bin(abs(value)).count("1")


def test_csd_examples():
    assert csd_digits(0) == ()
    assert csd_digits(7) == ((0, -1), (3, 1))          # 8 - 1
    assert csd_digits(-3) == ((0, 1), (2, -1))         # 1 - 4
    assert csd_digits(22) == ((1, -1), (3, -1), (5, 1))  # 32 - 8 - 2


def _extreme_inputs(net, rng, count=64):
    x = random_inputs(rng, net, count)
    return x


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), block=st.sampled_from([(1, 1), (1, 4), (2, 3), (4, 4),
                                                           (1, 16), (3, 5)]),
       w_bits=st.sampled_from([2, 3, 8, 12, 16]), signed=st.booleans())
def test_graph_is_the_matrix_product_and_no_node_overflows(seed, block, w_bits, signed):
    net = legal_random_network(seed, [17, 11, 6], block, w_bits=w_bits,
                               kind_probs=(0.3, 0.45, 0.25), input_signed=signed)
    rng = np.random.default_rng(seed)
    h = _extreme_inputs(net, rng)
    for lp, layer in zip(make_plan(net).layers, net.layers):
        graph = build_adder_graph(lp)
        assert np.array_equal(graph.evaluate(h), h @ layer.weight.T)
        for node, vals in zip(graph.nodes, graph.node_values(h)):
            assert node.lo <= vals.min() and vals.max() <= node.hi
            lim = 1 << (node.width - 1)
            assert -lim <= node.lo and node.hi < lim
        h = layer.execute(h, lp.in_type)


def test_unified_rows_share_their_signed_sums():
    """Rows of one 8-wide unified block column with the same signs (or negated ones) share
    one signed sum S of 7 adders; a row differing in its last sign reuses the left quad and
    the pair (x4 + x5): 3 more adders. Magnitudes in CSD: 3 S = 4 S - S and 6 S = 2 (4 S - S)
    are the same adder; 5 S = 4 S + S one more; the fourth row's 3 S' one more."""
    signs = [1, -1, 1, 1, -1, -1, 1, 1]
    rows = [[3 * s for s in signs], [5 * s for s in signs], [-6 * s for s in signs],
            [3 * s for s in signs[:7]] + [-3]]
    layer = make_layer(rows, [0, 0, 0, 0], block=(1, 8), w_bits=8)
    lp = make_plan(make_net([layer])).layers[0]
    graph = build_adder_graph(lp)
    assert graph.adders == 7 + 3 + 3
    x = np.random.default_rng(0).integers(0, 256, size=(20, 8))
    assert np.array_equal(graph.evaluate(x), x @ np.array(rows).T)


def test_pruned_layer_has_no_adders_and_dense_power_of_two_is_wiring():
    layer = make_layer([[0, 0, 4, -8], [0, 0, 0, 0]], [1, 2], block=(1, 2), w_bits=5)
    lp = make_plan(make_net([layer])).layers[0]
    graph = build_adder_graph(lp)
    assert graph.adders == 1                   # 4 x2 - 8 x3: one subtract, shifts are wiring
    assert graph.rows[1].node is None


@pytest.mark.parametrize("levels", [1, 2, 3, 5])
def test_stages_are_balanced(levels):
    net = legal_random_network(3, [20, 12, 5], (1, 4), kind_probs=(0.2, 0.6, 0.2))
    schedule = schedule_unrolled(make_plan(net), levels)
    for layer in schedule.layers:
        birth = {n.index: 0 for n in layer.inputs}
        for s in layer.adders:
            birth[s.node.index] = s.stage
            assert s.stage == (s.node.level - 1) // levels
            for op in (s.a, s.b):
                assert op.delay == s.stage - birth[op.node] >= 0
        chains = {d.node: d.depth for d in layer.delays}
        used = [op for s in layer.adders for op in (s.a, s.b)] + \
               [r.root for r in layer.rows if r.root is not None]
        for op in used:
            assert op.delay <= chains.get(op.node, 0)
        for r in layer.rows:
            if r.root is not None:
                assert r.root.delay == layer.stages - birth[r.root.node]
        assert layer.stages == -(-layer.graph.depth // levels)
        assert layer.latency == layer.stages + 2


def test_levels_per_stage_must_be_positive():
    with pytest.raises(ValueError, match="levels per pipeline stage must be >= 1"):
        schedule_unrolled(make_plan(legal_random_network(0, [4, 3], (2, 2))), 0)


def test_report_counts_adders_of_graph_and_rows():
    layer = make_layer([[3, -3, 5], [0, 0, -2]], [4, 7], block=(1, 2), kinds=["UD", "PD"],
                       w_bits=4, w_frac=1, output=QType(4, 0, False), relu=True)
    schedule = make_schedule(make_plan(make_net([layer], QType(4, 0, False))))
    graph = schedule.layers[0].graph
    assert schedule.datapath_adders == graph.adders + 2 and schedule.multipliers == 0
    assert schedule.adders == schedule.datapath_adders + 4     # FIFO pointers, credit count
