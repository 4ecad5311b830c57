"""Tests for the ADMM micro-structure compressor (`compression/`).

Projection: the result lies in S, is the exact Euclidean projection (checked by brute force),
is idempotent and lands on the quantization grid. Sparsifier: ADMM bookkeeping, and after
freeze() training keeps the structure. Export: a tiny run gives a valid artifact that
round-trips, whose kinds match the frozen structure, whose integer model equals the
fake-quantized torch model, and which is bit-for-bit reproducible.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import hlsgen.artifact as artifact
from hlsgen.artifact import BlockKind, block_grid, block_slices
from hlsgen.datasets import DIGITS_INPUT, load_digits_split
from hlsgen.numerics import forward, forward_all
from hlsgen.plan import make_plan

from compression.admm import ExponentialRhoScheduler, MicroStructure, MicroStructureSparsifier
from compression.export import export_network, json_safe
from compression.model import (
    ActFakeQuant,
    build_mlp,
    calibrate,
    quant_enabled,
    set_quant_enabled,
)
from compression.pipeline import CompressConfig, compress, deterministic
from compression.projection import (
    block_costs,
    block_counts,
    grid_round,
    kinds_of,
    project,
    solve_assignment,
    weight_frac,
)

P, U, D = BlockKind.PRUNED, BlockKind.UNIFIED, BlockKind.DENSE
BLOCKS = [(1, 1), (2, 3), (4, 4), (8, 8)]
SHAPES = [(16, 16), (10, 13), (7, 5), (3, 9)]


def _blocks(w: torch.Tensor | np.ndarray, block: tuple[int, int]):
    """(brow, bcol, block values) for every block, row-major."""
    rows, cols = w.shape
    nbr, nbc = block_grid(rows, cols, block)
    for br in range(nbr):
        for bc in range(nbc):
            rs, cs = block_slices(br, bc, rows, cols, block)
            yield br, bc, w[rs, cs]


def assert_in_s(w: torch.Tensor, z: torch.Tensor, kinds: np.ndarray, block: tuple[int, int],
                prune: float, unify: float, grid: tuple[int, int] | None = None) -> None:
    """``z`` (projected from ``w``) with ``kinds`` lies in S and agrees with the kinds."""
    assert kinds.dtype == np.uint8
    assert kinds.shape == block_grid(*w.shape, block)
    n = kinds.size
    n_p, n_u, _ = block_counts(n, prune, unify)
    got_p = int(np.sum(kinds == P))
    got_u = int(np.sum(kinds == U))
    # a unified block whose magnitude is zero is reported pruned (pruning is unification with
    # m = 0), so the counts are "at least n_p pruned, at least n_p + n_u pruned or unified"
    assert got_p >= n_p
    assert got_p + got_u >= n_p + n_u
    for br, bc, zb in _blocks(z, block):
        wb = _blocks_at(w, block, br, bc)
        kind = BlockKind(int(kinds[br, bc]))
        if kind is P:
            assert torch.all(zb == 0)
        elif kind is U:
            mags = torch.unique(zb.abs())
            assert len(mags) == 1 and mags[0] > 0
            expected_sign = torch.where(wb < 0, -1.0, 1.0).to(zb.dtype)  # sign(0) is +
            assert torch.equal(torch.sign(zb), expected_sign)
        else:
            if grid is None:
                assert torch.equal(zb, wb)
            else:
                frac, bits = grid
                assert torch.equal(zb, grid_round(wb, frac, bits) * 2.0 ** -frac)
    if grid is not None:
        frac, bits = grid
        k = z.double() * 2.0 ** frac
        assert torch.equal(k, torch.round(k))
        assert k.abs().max() <= 2 ** (bits - 1) - 1


def _blocks_at(w, block, br, bc):
    rs, cs = block_slices(br, bc, w.shape[0], w.shape[1], block)
    return w[rs, cs]


# ----------------------------------------------------------------------------- projection

@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("quantized", [False, True])
def test_projection_lies_in_s_and_is_idempotent(shape, block, quantized):
    g = torch.Generator().manual_seed(100 * shape[0] + 10 * shape[1] + block[0] * block[1])
    w = torch.randn(*shape, generator=g)
    w[0, 0] = 0.0  # exercise sign(0) = +
    grid = (5, 8) if quantized else None
    kw = {"w_frac": grid[0], "w_bits": grid[1]} if grid else {}
    z, kinds = project(w, block, 0.5, 0.6, **kw)
    assert z.shape == w.shape and z.dtype == w.dtype
    assert_in_s(w, z, kinds, block, 0.5, 0.6, grid)
    z2, kinds2 = project(z, block, 0.5, 0.6, **kw)
    assert torch.equal(z2, z)
    assert_in_s(z, z2, kinds2, block, 0.5, 0.6, grid)
    # every block's values are what its kind says (read back from the values alone)
    read = kinds_of(z, block)
    assert np.all(read[kinds == P] == P) and np.all(read[kinds == U] == U)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_projection_idempotent_for_odd_block_sizes(dtype):
    # a unified magnitude must survive mean(|w|) over 6 or 15 equal values exactly
    g = torch.Generator().manual_seed(3)
    for block in [(2, 3), (3, 5), (5, 3)]:
        w = torch.randn(11, 17, generator=g, dtype=dtype) / 7
        z, _ = project(w, block, 0.3, 0.9)
        assert torch.equal(project(z, block, 0.3, 0.9)[0], z)


def _brute_force_cost(cost: np.ndarray, n_p: int, n_u: int) -> float:
    n = cost.shape[0]
    best = math.inf
    for assign in itertools.product(range(3), repeat=n):
        if assign.count(0) == n_p and assign.count(1) == n_u:
            best = min(best, float(sum(cost[i, a] for i, a in enumerate(assign))))
    return best


def test_projection_is_the_exact_euclidean_projection():
    rng = np.random.default_rng(0)
    for trial in range(25):
        block = [(2, 2), (1, 3), (2, 1)][trial % 3]
        rows = int(rng.integers(1, 5))
        cols = int(rng.integers(1, 6))
        w = torch.tensor(rng.standard_normal((rows, cols)) * rng.random((rows, 1)))
        nbr, nbc = block_grid(rows, cols, block)
        if nbr * nbc > 7:
            continue
        prune, unify = float(rng.random()), float(rng.random())
        grid = (3, 4) if trial % 2 else None
        kw = {"w_frac": grid[0], "w_bits": grid[1]} if grid else {}
        z, kinds = project(w, block, prune, unify, **kw)
        costs = block_costs(w, block, *(grid or (None, None))).cost.numpy()
        n_p, n_u, _ = block_counts(nbr * nbc, prune, unify)
        got = float(((w - z) ** 2).sum())
        assert got == pytest.approx(_brute_force_cost(costs, n_p, n_u), abs=1e-12)


def test_assignment_beats_the_greedy_choice():
    # block 0 is cheapest to prune but free to unify; greedy prunes it (total 2.05),
    # the optimum prunes block 1 and unifies block 0 (total 1.1)
    cost = np.array([[1.0, 0.0, 0.0], [1.1, 1.05, 0.0]])
    assert solve_assignment(cost, 1, 1).tolist() == [1, 0]


def test_assignment_random_against_brute_force():
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(1, 7))
        c = np.sort(rng.random((n, 3)), axis=1)[:, ::-1].copy()  # P >= U >= D
        n_p = int(rng.integers(0, n + 1))
        n_u = int(rng.integers(0, n - n_p + 1))
        kind = solve_assignment(c, n_p, n_u)
        assert int(np.sum(kind == 0)) == n_p and int(np.sum(kind == 1)) == n_u
        got = float(c[np.arange(n), kind].sum())
        assert got == pytest.approx(_brute_force_cost(c, n_p, n_u), abs=1e-12)


def test_ties_are_broken_deterministically_in_block_order():
    w = torch.ones(4, 8)
    z, kinds = project(w, (2, 2), 0.5, 0.5)
    # every block costs the same: the first blocks in row-major order are pruned
    assert kinds.tolist() == [[P, P, P, P], [U, U, D, D]]
    assert torch.equal(project(w, (2, 2), 0.5, 0.5)[0], z)


def test_counts_and_fractions():
    assert block_counts(256, 0.75, 0.9) == (192, 58, 6)
    assert block_counts(100, 0.7, 0.0) == (70, 0, 30)  # 0.7 * 100 is 70, not 71
    assert block_counts(10, 1.0, 1.0) == (10, 0, 0)
    assert block_counts(5, 0.0, 0.0) == (0, 0, 5)
    with pytest.raises(ValueError):
        block_counts(10, 1.5, 0.0)


def test_quantized_unified_magnitude_rounding_to_zero_prunes_the_block():
    w = torch.full((2, 4), 0.01)
    w[:, 2:] = 1.0
    z, kinds = project(w, (2, 2), 0.0, 1.0, w_frac=2, w_bits=8)  # grid 0.25: 0.01 -> 0
    assert kinds.tolist() == [[P, U]]
    assert torch.all(z[:, :2] == 0) and torch.all(z[:, 2:] == 1.0)


def test_weight_frac_uses_the_range():
    assert weight_frac(1.0, 8) == 6   # 127 / 64 >= 1
    assert weight_frac(0.4, 8) == 8   # 0.4 * 256 = 102.4 <= 127
    assert 0.4 * 2 ** weight_frac(0.4, 8) <= 127


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 12), br=st.integers(1, 5),
       bc=st.integers(1, 5), prune=st.floats(0, 1), unify=st.floats(0, 1),
       quantized=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_projection_properties(rows, cols, br, bc, prune, unify, quantized, seed):
    w = torch.randn(rows, cols, generator=torch.Generator().manual_seed(seed))
    grid = (4, 6) if quantized else None
    kw = {"w_frac": grid[0], "w_bits": grid[1]} if grid else {}
    z, kinds = project(w, (br, bc), prune, unify, **kw)
    assert_in_s(w, z, kinds, (br, bc), prune, unify, grid)
    assert torch.equal(project(z, (br, bc), prune, unify, **kw)[0], z)


# ----------------------------------------------------------------------------- sparsifier

def _toy_model(seed: int = 0) -> nn.Sequential:
    torch.manual_seed(seed)
    return build_mlp(12, (10,), 5)


def test_prepare_config_forms():
    model = _toy_model()
    sp = MicroStructureSparsifier(block=(2, 2), prune=0.5, unify=0.5)
    sp.prepare(model, ["0.weight", {"module_fqn": "3", "block": (1, 4), "prune": 0.25}])
    assert [g["fqn"] for g in sp.groups] == ["0", "3"]
    assert sp.groups[0]["block"] == (2, 2) and sp.groups[1]["block"] == (1, 4)
    assert sp.groups[1]["prune"] == 0.25 and sp.groups[1]["unify"] == 0.5
    sp.prepare(model)  # None: every Linear
    assert len(sp.groups) == 2
    with pytest.raises(KeyError):
        sp.prepare(model, [{"module_fqn": "0", "sparsity_level": 0.5}])
    with pytest.raises(TypeError):
        sp.prepare(model, ["1"])  # a ReLU
    with pytest.raises(KeyError):
        sp.prepare(model, ["nope"])


def test_admm_step_penalty_and_rho_schedule():
    model = _toy_model()
    sp = MicroStructureSparsifier(block=(2, 2), prune=0.5, unify=0.5, rho=1e-3)
    sp.prepare(model)
    sched = ExponentialRhoScheduler(sp, growth=2.0, max_rho=3e-3)
    pen = sp.penalty()
    assert pen.dim() == 0 and float(pen.detach()) > 0 and pen.requires_grad
    w = model[0].weight.detach().clone()
    sp.step()
    sched.step()
    g = sp.groups[0]
    z, _ = project(w, (2, 2), 0.5, 0.5, w_frac=weight_frac(float(w.abs().max()), 8), w_bits=8)
    assert torch.equal(g["Z"], z)  # U was 0: Z = project(W)
    # U += W - Z, then rescaled by rho_old / rho_new when rho grows
    assert torch.allclose(g["U"], (w - z) / 2.0)
    assert sp.rho == pytest.approx(2e-3)
    for _ in range(2):
        sp.step()
        sched.step()
    assert sp.rho == pytest.approx(3e-3)  # capped
    with torch.no_grad():
        expected = 0.5 * sp.rho * sum(float(((gg["module"].weight - gg["Z"] + gg["U"]) ** 2).sum())
                                      for gg in sp.groups)
        assert float(sp.penalty()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("w_bits", [None, 8])
def test_frozen_structure_survives_training(w_bits):
    model = _toy_model(1)
    sp = MicroStructureSparsifier(block=(2, 3), prune=0.4, unify=0.6, w_bits=w_bits)
    sp.prepare(model)
    sp.freeze()
    assert sp.frozen and isinstance(model[0].parametrizations.weight[0], MicroStructure)
    with pytest.raises(RuntimeError):
        sp.step()
    before = {g["fqn"]: (g["module"].weight.detach().clone(), g["kinds"].copy())
              for g in sp.groups}
    mags_before = [g["param"].magnitudes.detach().clone() for g in sp.groups]
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(64, 12, generator=gen)
    y = torch.randint(0, 5, (64,), generator=gen)
    for _ in range(30):
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    for g, m0 in zip(sp.groups, mags_before):
        w0, kinds = before[g["fqn"]]
        w1 = g["module"].weight.detach()
        assert not torch.equal(g["param"].magnitudes.detach(), m0)  # magnitudes train
        for br, bc, b1 in _blocks(w1, g["block"]):
            b0 = _blocks_at(w0, g["block"], br, bc)
            kind = BlockKind(int(kinds[br, bc]))
            if kind is P:
                assert torch.all(b1 == 0)
            elif kind is U:
                # one shared magnitude on the frozen signs (a magnitude may change sign as a
                # whole, never one weight's sign alone)
                assert len(torch.unique(b1 * torch.sign(b0))) == 1
        if w_bits is not None:
            k = w1.double() * 2.0 ** g["w_frac"]
            assert torch.equal(k, torch.round(k))
        exported = {sw.fqn: sw for sw in sp.export()}[g["fqn"]]
        # exported kinds: the frozen ones, with blocks that became all zero reported pruned
        assert np.array_equal(exported.kinds[kinds == P], kinds[kinds == P])
        assert np.all((exported.kinds == kinds) | (exported.kinds == P))


def test_act_fake_quant():
    q = ActFakeQuant(4, signed=False)
    x = torch.tensor([-1.0, 0.26, 0.5, 3.0, 100.0], requires_grad=True)
    assert torch.equal(q(x), x)  # identity until calibrated
    q.frac.fill_(2)
    q.calibrated.fill_(True)
    y = q(x)
    assert y.tolist() == [0.0, 0.25, 0.5, 3.0, 3.75]
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0]  # STE inside, zero where saturated
    s = ActFakeQuant(4, signed=True)
    s.frac.fill_(0)
    s.calibrated.fill_(True)
    assert s(torch.tensor([-9.0, -2.5, 2.5, 9.0])).tolist() == [-8.0, -2.0, 3.0, 7.0]
    model = nn.Sequential(nn.Linear(2, 2), s)
    set_quant_enabled(model, False)
    assert not quant_enabled(model) and s(torch.tensor([9.0])).item() == 9.0
    set_quant_enabled(model, True)
    assert quant_enabled(model)


# ----------------------------------------------------------------------------- export

TINY = CompressConfig(hidden=(16,), block=(2, 4), prune=0.5, unify=0.7, output_block=(1, 4),
                      output_prune=0.3, output_unify=0.5, epochs=4, admm_epochs=4,
                      finetune_epochs=2, seed=1, objective="multipliers")


def _manual_run():
    """The pipeline's steps by hand, so the test can see the sparsifier and the model."""
    split = load_digits_split()
    x_tr = torch.tensor(split.x_train / 16, dtype=torch.float32)
    y_tr = torch.tensor(split.y_train)
    with deterministic(0):
        model = build_mlp(64, (16,), 10)
        sp = MicroStructureSparsifier(block=(2, 4), prune=0.5, unify=0.7, w_bits=8)
        sp.prepare(model)
        opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for _ in range(3):
            loss = nn.functional.cross_entropy(model(x_tr), y_tr) + sp.penalty()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sp.step()
        sp.freeze()
        calibrate(model, x_tr, DIGITS_INPUT.frac)
        net = export_network(model, DIGITS_INPUT, meta={"test": True})
    return split, model, sp, net


def test_export_kinds_match_the_frozen_structure_and_numerics():
    split, model, sp, net = _manual_run()
    assert [layer.kinds.tolist() for layer in net.layers] == \
        [sw.kinds.tolist() for sw in sp.export()]
    for layer, sw in zip(net.layers, sp.export()):
        assert np.array_equal(layer.weight, sw.integers())
        assert layer.w_frac == sw.w_frac and layer.block == sw.block
    assert net.layers[0].relu and not net.layers[-1].relu
    assert not net.layers[0].output.signed and net.layers[-1].output.signed
    assert net.input == DIGITS_INPUT
    # the fake-quantized torch model computes exactly what the integer reference computes
    with torch.no_grad():
        model.eval()
        out = model(torch.tensor(split.x_test / 16, dtype=torch.float32)).double()
    ints = forward(net, split.x_test)
    assert torch.equal(out * 2.0 ** net.output.frac, torch.tensor(ints, dtype=torch.float64))
    hidden = forward_all(net, split.x_test)[0]
    assert hidden.min() >= 0 and hidden.max() <= net.layers[0].output.hi


@pytest.fixture(scope="module")
def tiny_result():
    return compress(load_digits_split(), TINY, progress=False)


def test_tiny_compress_roundtrips(tiny_result):
    net = tiny_result.network
    text = artifact.dumps(net)
    again = artifact.loads(text)
    assert artifact.dumps(again) == text
    for a, b in zip(net.layers, again.layers):
        assert np.array_equal(a.kinds, b.kinds) and np.array_equal(a.weight, b.weight)
        assert np.array_equal(a.bias, b.bias)
    for i, layer in enumerate(net.layers):
        lc = TINY.layer_config(i, len(net.layers))
        assert layer.block == lc["block"]
        n_p, n_u, _ = block_counts(layer.kinds.size, lc["prune"], lc["unify"])
        assert int(np.sum(layer.kinds == P)) >= n_p
        assert int(np.sum(layer.kinds != D)) >= n_p + n_u
        shift = net.layer_input(i).frac + layer.w_frac - layer.output.frac
        assert shift >= 0
    meta = net.meta
    assert meta["seed"] == 1 and meta["config"]["block"] == [2, 4]
    assert meta["accuracy"]["int"] == tiny_result.int_accuracy
    assert 0.0 <= tiny_result.int_accuracy <= 1.0
    assert tiny_result.int_accuracy == tiny_result.compressed_float_accuracy
    make_plan(net)  # the generator accepts it


def test_tiny_compress_is_deterministic(tiny_result):
    threads = torch.get_num_threads()
    det = torch.are_deterministic_algorithms_enabled()
    rng = torch.random.get_rng_state()
    again = compress(load_digits_split(), TINY, progress=False)
    assert artifact.dumps(again.network) == artifact.dumps(tiny_result.network)
    # global torch state is restored
    assert torch.get_num_threads() == threads
    assert torch.are_deterministic_algorithms_enabled() == det
    assert torch.equal(torch.random.get_rng_state(), rng)


def test_config_validation_and_layer_config():
    cfg = CompressConfig(block=[2, 2], hidden=[8, 8], output_block=None)
    assert cfg.block == (2, 2) and cfg.hidden == (8, 8)
    assert cfg.layer_config(0, 3)["block"] == (2, 2)
    assert cfg.layer_config(2, 3)["block"] == (2, 2)  # None: same as hidden layers
    default = CompressConfig()
    assert default.layer_config(1, 2) == {"block": (1, 4), "prune": 0.4, "unify": 0.8,
                                          "w_bits": 8}
    for bad in ({"prune": 1.5}, {"block": (0, 4)}, {"w_bits": 0}, {"hidden": ()},
                {"admm_optimizer": "lbfgs"}, {"rho_growth": 0.5}):
        with pytest.raises(ValueError):
            CompressConfig(**bad)


def test_json_safe():
    assert json_safe({"a": (1, 2), "b": np.float64(0.5), "c": torch.tensor([1])}) == \
        {"a": [1, 2], "b": 0.5, "c": [1]}
    with pytest.raises(ValueError):
        json_safe({"x": float("nan")})


# ----------------------------------------------------------------------------- the default

@pytest.mark.slow
def test_default_compression_meets_the_targets():
    """The default (--objective luts) and the fraction objective it replaced, on the same
    data: the fraction objective meets the multiplier and weight-bit targets; the cost
    objective, at the fractions' modelled cost, keeps the accuracy and the estimated LUTs."""
    from compression.pipeline import compress_digits
    from hlsgen import cost
    from hlsgen.schedules.unrolled import schedule_unrolled

    def lut_eq(net):
        return cost.totals(cost.estimate(schedule_unrolled(make_plan(net))))["lut_eq"]

    fractions = compress_digits(CompressConfig(objective="multipliers"), progress=False)
    totals = make_plan(fractions.network).totals()
    assert fractions.float_accuracy >= 0.95
    assert fractions.int_accuracy >= fractions.float_accuracy - 0.01
    assert totals["dense_multipliers"] / totals["block_multipliers"] >= 8
    assert totals["dense_weight_bits"] / totals["weight_bits"] >= 6

    result = compress_digits(progress=False)
    assert result.network.meta["config"]["objective"] == "luts"
    totals = make_plan(result.network).totals()
    assert result.int_accuracy >= result.float_accuracy - 0.01
    assert result.int_accuracy >= fractions.int_accuracy - 0.005
    assert totals["dense_multipliers"] / totals["block_multipliers"] >= 8
    assert lut_eq(result.network) <= 1.1 * lut_eq(fractions.network)
