"""Tests for the compression methods of issue 18: CSD (k-digit) weights, binary/ternary joint
quantization with the scale chosen by the projection, reweighted regularization, checkpoints,
the per-layer proposal helper, the w_bits 1 artifact in hlsgen; and (marker ``sim``) every
method's artifact generated and simulated bit-exactly with Verilator."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import hlsgen.artifact as artifact
from hlsgen.artifact import ArtifactError, BlockKind, DenseLayer, Network, QType
from hlsgen.blockrom import unpack_walk, walk_rom
from hlsgen.schedules import make_schedule
from hlsgen.datasets import load_digits_split
from hlsgen.plan import make_plan

from compression import admm as admm_mod
from compression.admm import ExponentialRhoScheduler, ReweightedSparsifier, make_sparsifier
from compression.model import build_mlp
from compression.pipeline import (LOW_BIT_LR_FACTOR, CompressConfig, admm_step_lr, compress,
                                  deterministic)
from compression.projection import (block_counts, csd_digits, grid_round, project,
                                    project_scaled, weight_frac, weight_levels)
from compression.search import hardware_cost, propose_layer

P, U, D = BlockKind.PRUNED, BlockKind.UNIFIED, BlockKind.DENSE
ROOT = Path(__file__).resolve().parents[1]


def _min_signed_digits(n: int, limit: int = 6) -> int:
    """Brute force: fewest signed powers of two summing to n (BFS over sums)."""
    powers = [1 << i for i in range(12)]
    frontier = {0}
    for d in range(limit + 1):
        if n in frontier:
            return d
        frontier = {s + sgn * p for s in frontier for p in powers for sgn in (1, -1)
                    if abs(s + sgn * p) < 4096}
    raise AssertionError(n)


# ----------------------------------------------------------------------------- CSD digits

def test_csd_digits_are_the_minimal_signed_digit_count():
    assert [csd_digits(v) for v in (0, 1, 2, 3, 7, 11, -5, 127)] == [0, 1, 1, 2, 2, 3, 2, 2]
    for n in range(0, 130):
        assert csd_digits(n) == _min_signed_digits(n), n


@pytest.mark.parametrize("w_bits,k", [(8, 1), (8, 2), (6, 3), (4, 1), (2, None), (1, None)])
def test_grid_round_to_k_digit_levels_is_nearest_and_symmetric(w_bits, k):
    levels = weight_levels(w_bits, k)
    assert levels[0] == 0 and all(csd_digits(v) <= (k or 99) for v in levels)
    x = torch.linspace(-3, 3, 1201, dtype=torch.float64)
    q = grid_round(x, 5, w_bits, k)
    assert torch.equal(grid_round(-x, 5, w_bits, k), -q)
    a = (x * 32).abs().numpy()
    dist = np.abs(a[:, None] - levels[None, :]).min(1)
    assert np.allclose(np.abs(np.abs(q.numpy()) - a), dist)
    assert set(np.abs(q.numpy()).astype(int)) <= set(levels.tolist())


@pytest.mark.parametrize("k", [1, 2])
def test_k_digit_projection_restricts_every_magnitude_and_is_idempotent(k):
    g = torch.Generator().manual_seed(k)
    w = torch.randn(12, 20, generator=g, dtype=torch.float64) * 0.3
    frac = weight_frac(float(w.abs().max()), 8)
    z, kinds = project(w, (2, 4), 0.4, 0.5, frac, 8, k)
    ints = torch.round(z * 2 ** frac).to(torch.int64)
    assert torch.equal(ints.double() * 2.0 ** -frac, z)
    assert max(csd_digits(int(v)) for v in ints.flatten()) <= k
    assert {int(v) for v in kinds.flatten()} == {0, 1, 2}
    z2, kinds2 = project(z, (2, 4), 0.4, 0.5, frac, 8, k)
    assert torch.equal(z2, z)


# ----------------------------------------------------------------------------- binary / ternary

def test_binary_projection_unifies_every_kept_block_at_one_step():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(8, 32, generator=g, dtype=torch.float64)
    z, kinds, frac = project_scaled(w, (1, 8), 0.5, 0.3, 1, search=True)
    assert not np.any(kinds == D)
    n_p, _, _ = block_counts(kinds.size, 0.5, 1.0)
    assert int(np.sum(kinds == P)) == n_p and int(np.sum(kinds == U)) == kinds.size - n_p
    vals = set(torch.unique(z * 2.0 ** frac).tolist())
    assert vals <= {-1.0, 0.0, 1.0}
    # the searched scale is at least as close as the scale from the range
    z_r, _, f_r = project_scaled(w, (1, 8), 0.5, 0.3, 1, search=False)
    assert ((w - z) ** 2).sum() <= ((w - z_r) ** 2).sum()
    assert frac != f_r  # at one bit the range's scale (the largest weight) is far too coarse


@pytest.mark.parametrize("w_bits", [2, 4, 8])
def test_scale_search_is_never_worse_than_the_range(w_bits):
    g = torch.Generator().manual_seed(w_bits)
    w = torch.randn(16, 24, generator=g, dtype=torch.float64) * 0.2
    z_s, k_s, f_s = project_scaled(w, (2, 4), 0.5, 0.6, w_bits, search=True)
    z_r, k_r, f_r = project_scaled(w, (2, 4), 0.5, 0.6, w_bits, search=False)
    assert ((w - z_s) ** 2).sum() <= ((w - z_r) ** 2).sum()
    top = weight_levels(w_bits)[-1]
    assert (z_s * 2.0 ** f_s).abs().max() <= top


def _binary_net(kinds_letter: str = "U") -> Network:
    w = np.array([[1, -1, 1, 1], [-1, -1, 1, -1], [0, 0, 0, 0]], dtype=np.int64)
    kinds = np.array([[U], [U], [P]], dtype=np.uint8)
    if kinds_letter == "D":
        kinds[0, 0] = D
    layer = DenseLayer(name="fc0", in_features=4, out_features=3, block=(1, 4), kinds=kinds,
                       weight=w, bias=np.array([1, -2, 3]), w_bits=1, w_frac=2,
                       output=QType(8, 2, True), relu=False)
    return Network(name="binary", input_features=4, input=QType(8, 0, False), layers=(layer,))


def test_hlsgen_accepts_binary_layers():
    net = _binary_net()
    artifact.validate(net)
    again = artifact.loads(artifact.dumps(net))
    assert np.array_equal(again.layers[0].weight, net.layers[0].weight)
    plan = make_plan(net)
    assert plan.totals()["weight_bits"] == 2 * 3 + 2 * 4  # kind map + signs only
    # the folded walk ROM stores the binary magnitude 1 in a 1-bit field, then the signs
    layer = make_schedule(plan, "folded").layers[0]
    assert layer.capacity.mag_bits == 1
    words = [f for pe in unpack_walk(walk_rom(layer).words, layer.capacity) for f in pe
             if f["valid"]]
    unified = sorted((f["brow"], f["payload"]) for f in words if f["payload"])
    assert unified == [(0, 1 | 0b0010 << 1), (1, 1 | 0b1011 << 1)]
    with pytest.raises(ArtifactError, match="binary"):
        artifact.validate(_binary_net("D"))
    bad = _binary_net()
    object.__setattr__(bad.layers[0], "weight", bad.layers[0].weight * 2)
    with pytest.raises(ArtifactError):
        artifact.validate(bad)


# ----------------------------------------------------------------------------- reweighted

def test_reweighted_targets_are_bounded_and_weights_stable():
    with deterministic(0):
        model = build_mlp(64, (16,), 10)
        sp = ReweightedSparsifier(block=(2, 4), prune=0.5, unify=0.5, w_bits=8, rho=1e-2,
                                  eps=0.5, reweight_every=2)
        sp.prepare(model)
        sched = ExponentialRhoScheduler(sp, growth=2.0, max_rho=0.05)
        for g in sp.groups:
            n_p, n_u, _ = block_counts(g["target"].numel(), 0.5, 0.5)
            assert int((g["target"] == 0).sum()) == n_p and int((g["target"] == 1).sum()) == n_u
            assert float(g["alpha"].max()) <= 1 / 0.5 + 1e-9
            assert float(g["alpha"][g["target"] == 2].abs().sum()) == 0.0
        pen = sp.penalty()
        assert pen.requires_grad and float(pen.detach()) > 0
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        before = sum(sp.residuals().values())
        for _ in range(40):  # the penalty alone drives the weights towards S
            opt.zero_grad()
            sp.penalty().backward()
            opt.step()
            sp.step()
            sched.step()
        assert sum(sp.residuals().values()) < before
        assert sp.rho == 0.05 and sp.steps == 40
        sp.freeze()
        assert all(np.sum(sw.kinds == P) >= block_counts(sw.kinds.size, 0.5, 0.5)[0]
                   for sw in sp.export())


def test_make_sparsifier_and_state_dict_roundtrip():
    with pytest.raises(ValueError):
        make_sparsifier("lasso")
    for method in ("admm", "reweighted"):
        with deterministic(0):
            model = build_mlp(64, (8,), 10)
            sp = make_sparsifier(method, block=(1, 4), prune=0.5, unify=0.5, eps=0.5)
            sp.prepare(model)
            sp.step()
            ExponentialRhoScheduler(sp, growth=2.0, max_rho=1.0).step()
            state = sp.state_dict()
            other = make_sparsifier(method, block=(1, 4), prune=0.5, unify=0.5)
            other.prepare(model)
            other.load_state_dict(state)
            assert other.steps == 1 and other.rho == sp.rho == 2e-3
            for a, b in zip(sp.groups, other.groups):
                assert torch.equal(a["Z"], b["Z"]) and np.array_equal(a["kinds"], b["kinds"])
        assert sp.state()["method"] == method
    with pytest.raises(ValueError, match="method"):
        make_sparsifier("admm").load_state_dict({"method": "reweighted", "groups": []})


# ----------------------------------------------------------------------------- pipeline

TINY = dict(hidden=(16,), block=(2, 4), prune=0.5, unify=0.7, output_block=(1, 4),
            output_prune=0.3, output_unify=0.5, epochs=3, admm_epochs=4, finetune_epochs=2,
            seed=1)
METHODS = {
    "reweighted": dict(method="reweighted", rw_every=2),
    "ternary": dict(w_bits=2, w_scale="search"),
    "binary": dict(w_bits=1, w_scale="search"),
    "k2digits": dict(k_digits=2, w_scale="search"),
    # the reweighted method with the joint quantization and the subword weights
    "reweighted-ternary": dict(method="reweighted", rw_every=2, w_bits=2, w_scale="search"),
    "reweighted-binary": dict(method="reweighted", rw_every=2, w_bits=1, w_scale="search"),
    "reweighted-k2digits": dict(method="reweighted", rw_every=2, k_digits=2, w_scale="search"),
}


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


@pytest.fixture(scope="module")
def results(split):
    return {name: compress(split, CompressConfig(**TINY, **extra), progress=False)
            for name, extra in METHODS.items()}


def test_every_method_exports_a_valid_artifact(results):
    for name, res in results.items():
        net = res.network
        artifact.loads(artifact.dumps(net))
        assert res.int_accuracy == res.compressed_float_accuracy, name
        assert res.int_accuracy > 0.3, name  # far above chance after a few epochs
        make_plan(net)
        hist = net.meta["digits"]["histogram"]
        assert sum(hist.values()) > 0
    for prefix in ("", "reweighted-"):
        for layer in results[prefix + "binary"].network.layers:
            assert layer.w_bits == 1 and not np.any(layer.kinds == D)
            assert set(np.unique(np.abs(layer.weight))) <= {0, 1}
        for layer in results[prefix + "ternary"].network.layers:
            assert layer.w_bits == 2 and set(np.unique(np.abs(layer.weight))) <= {0, 1}
        k2 = results[prefix + "k2digits"].network
        assert max(csd_digits(int(v)) for layer in k2.layers for v in layer.weight.flat) <= 2
        assert set(k2.meta["digits"]["histogram"]) <= {"1", "2"}
        assert k2.meta["digits"]["k_digits"] == 2
    for name, res in results.items():
        method = "reweighted" if name.startswith("reweighted") else "admm"
        assert res.network.meta["admm"]["method"] == method, name


def test_ternary_and_binary_w_step_uses_the_low_bit_learning_rate(results):
    assert admm_step_lr(CompressConfig()) == CompressConfig().admm_lr == 0.4
    assert admm_step_lr(CompressConfig(w_bits=4, w_scale="search")) == 0.4
    for w_bits in (2, 1):
        cfg = CompressConfig(w_bits=w_bits, admm_lr=0.2)
        assert admm_step_lr(cfg) == 0.2 * LOW_BIT_LR_FACTOR < 0.2
    # the artifact records the W-step rate where it is not the configured admm_lr
    for name, res in results.items():
        low = res.network.layers[0].w_bits <= 2
        assert res.network.meta.get("admm_step_lr") == (
            0.4 * LOW_BIT_LR_FACTOR if low else None), name


def test_methods_are_deterministic(results, split):
    again = compress(split, CompressConfig(**TINY, **METHODS["reweighted"]), progress=False)
    assert artifact.dumps(again.network) == artifact.dumps(results["reweighted"].network)


@pytest.mark.parametrize("method", ["admm", "reweighted"])
def test_checkpoint_resume_gives_the_same_artifact(method, split, tmp_path, monkeypatch):
    cfg = CompressConfig(**TINY, method=method, rw_every=2)
    whole = compress(split, cfg, progress=False)
    ckpt = tmp_path / "run.pt"
    cls = admm_mod.METHODS[method]
    original = cls.step
    calls = {"n": 0}

    def interrupted(self):
        calls["n"] += 1
        if calls["n"] == 4:
            raise KeyboardInterrupt  # a long run killed during ADMM epoch 4
        original(self)

    monkeypatch.setattr(cls, "step", interrupted)
    with pytest.raises(KeyboardInterrupt):
        compress(split, cfg, progress=False, checkpoint=ckpt, checkpoint_every=1)
    monkeypatch.setattr(cls, "step", original)
    saved = torch.load(ckpt, weights_only=False)
    assert saved["admm_epoch"] == 3
    assert saved["rho_scheduler"]["last_epoch"] == 3
    assert list(saved["sparsifier"]["state"]) == ["0.weight", "3.weight"]
    rho = cfg.rho
    for _ in range(3):
        rho = min(cfg.rho_max, rho * cfg.rho_growth)
    assert [g["rho"] for g in saved["sparsifier"]["groups"]] == [rho, rho]
    resumed = compress(split, cfg, progress=False, checkpoint=ckpt, checkpoint_every=1)
    assert artifact.dumps(resumed.network) == artifact.dumps(whole.network)
    with pytest.raises(ValueError, match="another configuration"):
        compress(split, CompressConfig(**{**TINY, "seed": 2}), progress=False, checkpoint=ckpt)


def test_config_validation_of_the_new_options():
    CompressConfig(w_bits=1)
    for bad in ({"method": "lasso"}, {"w_scale": "max"}, {"k_digits": 0}, {"w_bits": 0},
                {"k_digits": 9, "w_bits": 8}, {"rw_eps": 0.0}, {"rw_every": 0}):
        with pytest.raises(ValueError):
            CompressConfig(**bad)
    lc = CompressConfig(k_digits=2, w_scale="search").layer_config(0, 2)
    assert lc["k_digits"] == 2 and lc["w_scale"] == "search"


def test_cli_rejects_bad_method_settings_without_writing(tmp_path):
    out = tmp_path / "a.json"
    for args, needle in ((["--k-digits", "0"], "k_digits"), (["--method", "lasso"], "invalid choice"),
                         (["--checkpoint-every", "0"], "checkpoint_every")):
        r = subprocess.run([sys.executable, "-m", "hlsgen.cli", "compress", "--out", str(out),
                            "--no-progress", *args], capture_output=True, text=True, cwd=ROOT)
        assert r.returncode == 2, r.stderr
        assert needle in r.stderr
        assert not out.exists()


# ----------------------------------------------------------------------------- proposal helper

def test_propose_layer_prefers_cheap_settings_within_the_budget():
    g = torch.Generator().manual_seed(0)
    # rows of one magnitude with random signs: unify-friendly in wide row blocks
    mags = torch.rand(16, 1, generator=g, dtype=torch.float64) + 0.5
    signs = torch.where(torch.rand(16, 32, generator=g) < 0.5, -1.0, 1.0).double()
    w = mags * signs
    w[:, 16:] *= 0.01  # the right half is nearly zero: prunable
    prop = propose_layer(w, blocks=((1, 4), (1, 16), (4, 4)), prunes=(0.25, 0.5, 0.75),
                         budget=0.01)
    assert prop.sensitivity <= 0.01
    assert prop.block == (1, 16) and prop.prune == 0.5
    assert all(c.sensitivity > 0.01 or c.weight_bits >= prop.weight_bits
               for c in prop.candidates)
    z, kinds, frac = project_scaled(w, prop.block, prop.prune, 1.0, 8, search=True)
    ints = np.rint(z.numpy() * 2.0 ** frac).astype(np.int64)
    assert hardware_cost(ints, kinds, prop.block, 8) == (prop.weight_bits, prop.multipliers)


# ----------------------------------------------------------------------------- simulation

@pytest.fixture(scope="module")
def verilator():
    from rtl_tests.conftest import _require

    return _require("verilator")


@pytest.mark.sim
@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_artifact_simulates_bit_exactly(name, results, split, verilator, tmp_path):
    from rtl_tests.conftest import check_design

    check_design(results[name].network, split.x_test[:48], tmp_path)
