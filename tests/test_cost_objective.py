"""The hardware-cost objective: input conversion, the block surrogate, the budgeted
projection, per-layer widths, and the compressor end to end (short runs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from compression.budget import layer_cost, project_budget, project_budget_scaled
from compression.pipeline import CompressConfig, compress
from compression.projection import kinds_of, project_scaled, quantize_to_grid
from compression.widths import input_type
from hlsgen import artifact, cost, flow, numerics
from hlsgen.blocks import BlockKind, block_grid, block_slices
from hlsgen.datasets import DIGITS_INPUT, load_digits_split
from hlsgen.fixedpoint import QType
from hlsgen.plan import make_plan
from hlsgen.randnet import random_network
from hlsgen.schedules.unrolled import schedule_unrolled

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ numerics.convert

def test_convert_is_exact_when_the_type_holds_every_value():
    x = np.arange(17)
    q5 = QType(5, 4, False)
    assert np.array_equal(numerics.convert(x, DIGITS_INPUT, q5), x)
    finer = QType(10, 6, False)
    assert np.array_equal(numerics.convert(x, DIGITS_INPUT, finer), x * 4)


def test_convert_rounds_half_up_and_saturates():
    x = np.array([0, 1, 2, 3, 5, 15, 16])
    q = QType(3, 2, False)  # value = pixel / 16 at frac 2: pixel / 4, rounded half up
    assert numerics.convert(x, DIGITS_INPUT, q).tolist() == [0, 0, 1, 1, 1, 4, 4]
    q = QType(2, 2, False)  # saturates at 3
    assert numerics.convert(x, DIGITS_INPUT, q).tolist() == [0, 0, 1, 1, 1, 3, 3]
    signed = QType(4, 1, True)
    assert numerics.convert(np.array([-9, -8, 7, 8]), QType(8, 2, True),
                            signed).tolist() == [-4, -4, 4, 4]


def test_input_type_takes_the_finest_scale_that_holds_the_data():
    x = load_digits_split().x_train
    assert input_type(DIGITS_INPUT, x, 5) == QType(5, 4, False)
    assert input_type(DIGITS_INPUT, x, 4) == QType(4, 3, False)
    assert input_type(DIGITS_INPUT, x, 2) == QType(2, 1, False)
    assert input_type(DIGITS_INPUT, x, 8) == DIGITS_INPUT  # never finer than the data


def test_flow_feeds_digits_converted_to_the_network_input():
    net = artifact.load(ROOT / "examples" / "digits_mlp.json")
    narrow = dataclasses.replace(net, input=QType(4, 3, False))
    x, _ = flow.stimulus(narrow, "digits", 50, 0)
    split = load_digits_split()
    assert np.array_equal(x, numerics.convert(split.x_test[:50], DIGITS_INPUT, narrow.input))
    assert x.max() <= 15
    # 5 bits hold 0..16: the accuracy is exactly the 8-bit network's
    exact = dataclasses.replace(net, input=QType(5, 4, False))
    assert flow.reference_accuracy(exact, split) == flow.reference_accuracy(net, split)


# ------------------------------------------------------------------ the block surrogate

def _exact_and_surrogate(net: artifact.Network) -> list[tuple[float, float]]:
    sch = schedule_unrolled(make_plan(net))
    out = []
    for i, (layer, ul) in enumerate(zip(net.layers, sch.layers)):
        in_bits = net.layer_input(i).bits
        frac = layer.w_frac
        w = torch.tensor(layer.weight * 2.0 ** -frac)
        sur = layer_cost(w, layer.kinds, layer.block, frac, layer.w_bits, in_bits)
        out.append((float(cost.layer_features(ul)["adder_bits"]), sur))
    return out


def test_surrogate_tracks_the_exact_adder_bits_of_the_fitted_designs():
    for path in [ROOT / "examples" / "digits_mlp.json",
                 *sorted((ROOT / "benchmarks" / "artifacts").glob("*.json"))]:
        for exact, sur in _exact_and_surrogate(artifact.load(path)):
            assert 0.75 <= sur / exact <= 1.3, (path.name, exact, sur)


def test_surrogate_of_random_networks_is_within_a_factor():
    rng = np.random.default_rng(5)
    for sizes, block, w_bits, a_bits in (((64, 48, 10), (1, 16), 8, 8),
                                         ((40, 32, 10), (2, 4), 4, 5),
                                         ((64, 64, 10), (1, 8), 6, 3),
                                         ((30, 20), (1, 1), 8, 8)):
        net = random_network(rng, sizes, block, w_bits=w_bits, a_bits=a_bits)
        for exact, sur in _exact_and_surrogate(net):
            if exact > 200:  # tiny layers are dominated by rounding
                assert 0.5 <= sur / exact <= 2.0, (exact, sur)


def test_surrogate_sum_tree_bits():
    assert cost.sum_tree_bits(1, 8) == 0
    assert cost.sum_tree_bits(2, 8) == 8 + 1 + 1
    # 4 inputs: two 10-bit pairs and one 11-bit sum
    assert cost.sum_tree_bits(4, 8) == 2 * 10 + 11
    assert cost.unified_block_bits(16, 0, 8) == 0.0
    assert cost.unified_block_bits(16, 2, 8) > cost.unified_block_bits(16, 1, 8)


# ------------------------------------------------------------------ budgeted projection

@pytest.fixture
def weight() -> torch.Tensor:
    return torch.randn(24, 40, generator=torch.Generator().manual_seed(3)) * 0.2


def test_budget_projection_fits_the_budget_and_describes_its_values(weight):
    free = project_budget(weight, (1, 8), 4, 4, 8, 1e12)
    assert free.price == 0.0
    # with no binding budget every block keeps its nearest grid values
    assert torch.equal(free.projected, quantize_to_grid(weight, 4, 4))
    last = free.cost
    for budget in (0.8 * free.cost, 0.4 * free.cost, 0.1 * free.cost, 0.0):
        r = project_budget(weight, (1, 8), 4, 4, 8, budget)
        assert r.cost <= budget + 1e-9
        assert r.cost <= last
        last = r.cost
        assert r.cost == pytest.approx(layer_cost(r.projected, r.kinds, (1, 8), 4, 4, 8))
        # the kinds describe the values: pruned blocks are zero, unified share a magnitude
        seen = kinds_of(r.projected, (1, 8))
        pruned = r.kinds == BlockKind.PRUNED
        assert np.all(seen[pruned] == BlockKind.PRUNED)
        assert np.all(seen[r.kinds == BlockKind.UNIFIED] == BlockKind.UNIFIED)
    assert torch.count_nonzero(r.projected) == 0  # budget 0: everything pruned


def test_budget_projection_buys_digits_and_blocks_by_distance_per_cost():
    row = cost.row_bits(8, 4, 16)  # each kept row's bias adder
    c1 = cost.unified_block_bits(16, 1, 8) + row
    c2 = cost.unified_block_bits(16, 2, 8) + row
    w = torch.full((1, 16), 7 / 16)  # 7 = 8 - 1: two digits (4 bits: 8 is out of range)
    two = project_budget(w, (1, 16), 4, 4, 8, c2)
    assert torch.equal(two.projected, w)
    one = project_budget(w, (1, 16), 4, 4, 8, c2 - 1e-3)  # only one digit fits: 7 -> 4
    assert one.kinds.tolist() == [[BlockKind.UNIFIED]] and one.cost == pytest.approx(c1)
    assert torch.equal(one.projected, torch.full((1, 16), 4 / 16))
    none = project_budget(w, (1, 16), 4, 4, 8, c1 - 1e-3)
    assert none.kinds.tolist() == [[BlockKind.PRUNED]] and none.cost == 0.0
    # two blocks, room for one: the one whose pruning loses more is kept
    w2 = torch.cat([torch.full((1, 16), 1 / 16), torch.full((1, 16), 4 / 16)])
    r = project_budget(w2, (1, 16), 4, 4, 8, c1 + row + 1e-3)
    assert r.kinds.tolist() == [[BlockKind.PRUNED], [BlockKind.UNIFIED]]


def test_budget_projection_with_scale_search(weight):
    z, kinds, frac = project_budget_scaled(weight, (1, 8), 4, 8, 500.0, search=True)
    z0, _, f0 = project_scaled(weight, (1, 8), 0.0, 0.0, 4)
    assert f0 is not None and f0 - 1 <= frac <= f0 + 6
    assert layer_cost(z, kinds, (1, 8), frac, 4, 8) <= 500.0 + 1e-9


# ------------------------------------------------------------------ the compressor

SHORT = dict(epochs=6, admm_epochs=8, finetune_epochs=4)


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


def _estimate(net: artifact.Network) -> int:
    return cost.totals(cost.estimate(schedule_unrolled(make_plan(net))))["lut_eq"]


def test_compress_for_luts_under_a_budget(split):
    big = compress(split, CompressConfig(objective="luts", w_bits=4, **SHORT), progress=False)
    small = compress(split, CompressConfig(objective="luts", w_bits=4, max_luts=2500, **SHORT),
                     progress=False)
    assert _estimate(small.network) <= 2500 * (1 + cost.TOLERANCE + 0.1)
    assert _estimate(small.network) < _estimate(big.network)
    for r in (big, small):
        x = numerics.convert(split.x_test, split.input_type, r.network.input)
        acc = float(np.mean(numerics.predict(numerics.forward(r.network, x)) == split.y_test))
        assert acc == r.int_accuracy
    again = compress(split, CompressConfig(objective="luts", w_bits=4, max_luts=2500, **SHORT),
                     progress=False)
    assert artifact.dumps(again.network) == artifact.dumps(small.network)


def test_compress_chooses_widths(split):
    r = compress(split, CompressConfig(widths="auto", width_tol=0.02, a_bits=6, **SHORT),
                 progress=False)
    net = r.network
    assert not net.input.signed and net.input.bits < 8
    hidden = net.layers[0].output
    assert 2 <= hidden.bits <= 6
    assert net.layers[-1].output.bits == 6  # the logits keep a_bits
    assert flow.reference_accuracy(net, split) == r.int_accuracy
    fixed = compress(split, CompressConfig(in_bits=5, **SHORT), progress=False)
    assert fixed.network.input == QType(5, 4, False)


def test_compress_chooses_weight_widths_per_layer(split):
    r = compress(split, CompressConfig(widths="all", width_tol=0.03, w_bits=8, **SHORT),
                 progress=False)
    net = r.network
    bits = [layer.w_bits for layer in net.layers]
    assert all(3 <= b <= 8 for b in bits) and min(bits) < 8
    # every stored weight fits its own layer's width, and the run is exact end to end
    for layer in net.layers:
        assert np.abs(layer.weight).max() <= 2 ** (layer.w_bits - 1) - 1
    assert flow.reference_accuracy(net, split) == r.int_accuracy
    assert net.meta["config"]["widths"] == "all"


def test_weight_width_choice_follows_the_tolerance(split):
    from compression.model import accuracy, build_mlp, linear_layers
    from compression.widths import as_float, choose_weight_bits, quantized_weight
    torch.manual_seed(0)
    model = build_mlp(64, (16,), 10, 8)
    x = as_float(split.x_train, split.input_type)
    y = torch.tensor(split.y_train)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    before = [p.detach().clone() for p in model.parameters()]
    loose = choose_weight_bits(model, x, y, 8, tol=1.0)
    assert loose == [3, 3]  # any width is within a tolerance of 1
    strict = choose_weight_bits(model, x, y, 8, tol=0.0)
    assert all(s >= lo for s, lo in zip(strict, loose))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    # the chosen widths keep the accuracy within the tolerance, layers quantized together
    ref = accuracy(model, x, y)
    with torch.no_grad():
        for (_, lin, _, _), b in zip(linear_layers(model),
                                     strict):
            lin.weight.copy_(quantized_weight(lin.weight, b))
    assert accuracy(model, x, y) >= ref


def test_bad_objective_settings_are_refused():
    with pytest.raises(ValueError, match="objective"):
        CompressConfig(objective="area")
    with pytest.raises(ValueError, match="max_luts"):
        CompressConfig(objective="multipliers", max_luts=1000)  # needs objective luts
    with pytest.raises(ValueError, match="in_bits"):
        CompressConfig(in_bits=1)
    with pytest.raises(ValueError, match="widths"):
        CompressConfig(widths="learned")


def test_random_network_layer_blocks_are_covered():
    # the surrogate's edge blocks: a 5x7 matrix in 2x3 blocks (clipped at the edges)
    w = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    r = project_budget(w, (2, 3), 2, 4, 6, 1e12)
    nbr, nbc = block_grid(5, 7, (2, 3))
    assert r.kinds.shape == (nbr, nbc)
    for br in range(nbr):
        for bc in range(nbc):
            rs, cs = block_slices(br, bc, 5, 7, (2, 3))
            assert r.projected[rs, cs].shape == w[rs, cs].shape


def test_bits_objective_counts_stored_bits(weight):
    free = project_budget(weight, (1, 8), 4, 4, 8, 1e12, measure="bits")
    assert free.cost == 24 * 40 * 4  # everything dense: 4 bits per weight
    r = project_budget(weight, (1, 8), 4, 4, 8, 1500.0, measure="bits")
    assert r.cost <= 1500.0
    assert r.cost == layer_cost(r.projected, r.kinds, (1, 8), 4, 4, 8, measure="bits")
    unified = int(np.sum(r.kinds == BlockKind.UNIFIED))
    dense = int(np.sum(r.kinds == BlockKind.DENSE))
    assert r.cost == unified * (4 + 8) + dense * 8 * 4
    with pytest.raises(ValueError, match="measure"):
        project_budget(weight, (1, 8), 4, 4, 8, 1.0, measure="area")


def test_compress_for_bits(split):
    r = compress(split, CompressConfig(objective="bits", w_bits=4, **SHORT), progress=False)
    ref = compress(split, CompressConfig(w_bits=4, **SHORT), progress=False)
    bits = [layer_cost(torch.tensor(l.weight * 2.0 ** -l.w_frac), l.kinds, l.block, l.w_frac,
                       l.w_bits, 8, measure="bits") for l in r.network.layers]
    ref_bits = [layer_cost(torch.tensor(l.weight * 2.0 ** -l.w_frac), l.kinds, l.block,
                           l.w_frac, l.w_bits, 8, measure="bits") for l in ref.network.layers]
    assert sum(bits) <= sum(ref_bits) * 1.01  # the fractions' budget, allocated by distance
