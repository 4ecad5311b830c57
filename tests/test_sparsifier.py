"""The sparsifier's ``torch.ao.pruning`` conventions (`compression/admm.py`).

``state_dict()`` / ``load_state_dict()`` shaped ``{"state": {tensor_fqn: ...}, "groups": [...]}``
restore Z, U (or the reweighted targets and block weights), the grid and every group's rho
exactly, through ``torch.save``, and the restored sparsifier continues identically; the rho
scheduler gives the exact geometric sequence with its cap and rescales the scaled dual U;
``squash_mask()`` removes the parametrizations, leaving the structured weight as a plain
parameter, and drops the per-layer state. (Checkpoint/resume of the whole pipeline giving the
same artifact is ``tests/test_methods.py::test_checkpoint_resume_gives_the_same_artifact``.)
"""

from __future__ import annotations

import copy
import io

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from compression.admm import (BaseRhoScheduler, ExponentialRhoScheduler, MicroStructure,
                              MicroStructureSparsifier, make_sparsifier)
from compression.model import build_mlp
from compression.pipeline import deterministic

STATE_KEYS = {"admm": ("Z", "U", "kinds", "w_frac"),
              "reweighted": ("Z", "kinds", "w_frac", "target", "alpha")}


def _data(n: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(3)
    return torch.rand(n, 12, generator=gen), torch.randint(0, 5, (n,), generator=gen)


def _train(model: nn.Module, sp: MicroStructureSparsifier, sched: BaseRhoScheduler,
           opt: torch.optim.Optimizer, epochs: int) -> None:
    x, y = _data()
    for _ in range(epochs):
        loss = nn.functional.cross_entropy(model(x), y) + sp.penalty()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sp.step()
        sched.step()


def _setup(method: str, model: nn.Module
           ) -> tuple[MicroStructureSparsifier, ExponentialRhoScheduler, torch.optim.Optimizer]:
    sp = make_sparsifier(method, block=(2, 2), prune=0.5, unify=0.5, rho=1e-2, eps=0.5,
                         reweight_every=2)
    sp.prepare(model, ["0.weight", {"module_fqn": "3", "block": (1, 4), "rho": 2e-2}])
    sched = ExponentialRhoScheduler(sp, growth=1.5, max_rho=0.04)
    return sp, sched, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _same_value(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("method", ["admm", "reweighted"])
def test_state_dict_round_trip_is_exact_and_continues_identically(method):
    with deterministic(0):
        model = build_mlp(12, (10,), 5)
        sp, sched, opt = _setup(method, model)
        _train(model, sp, sched, opt, 3)
        state = sp.state_dict()
        # shaped like torch.ao.pruning's BaseSparsifier.state_dict
        assert set(state) == {"state", "groups", "method", "steps"}
        assert list(state["state"]) == ["0.weight", "3.weight"]
        for per_layer in state["state"].values():
            assert tuple(per_layer) == STATE_KEYS[method]
        for group in state["groups"]:
            assert "module" not in group and "param" not in group
            assert not set(group) & set(STATE_KEYS[method])
        assert [g["tensor_fqn"] for g in state["groups"]] == ["0.weight", "3.weight"]
        # the two groups' rho grew from 1e-2 and 2e-2 three times by 1.5, each capped at 0.04
        assert [g["rho"] for g in state["groups"]] == sched.get_last_rho()
        assert sched.get_last_rho()[1] == 0.04 and sched.get_last_rho()[0] < 0.04

        buf = io.BytesIO()  # through a real checkpoint file format
        torch.save({"sparsifier": state, "sched": sched.state_dict(),
                    "model": model.state_dict(), "opt": opt.state_dict()}, buf)
        buf.seek(0)
        saved = torch.load(buf, weights_only=False)

        twin = build_mlp(12, (10,), 5)
        twin.load_state_dict(saved["model"])
        sp2, sched2, opt2 = _setup(method, twin)
        assert sp2.groups[0]["rho"] == 1e-2  # before loading: a fresh start
        sp2.load_state_dict(saved["sparsifier"])
        sched2.load_state_dict(saved["sched"])
        opt2.load_state_dict(saved["opt"])
        assert sp2.steps == sp.steps == 3 and sched2.last_epoch == 3
        assert sp2.rho == sp.rho
        for g, g2 in zip(sp.groups, sp2.groups):
            assert g2["rho"] == g["rho"]
            for key in STATE_KEYS[method]:
                assert _same_value(g[key], g2[key]), key
            if "U" in g:  # a copy, not the same tensor
                assert g2["U"] is not g["U"]
        assert torch.equal(sp.penalty(), sp2.penalty())

        # both go on the same way: same weights, same Z/U, same rho
        _train(model, sp, sched, opt, 3)
        _train(twin, sp2, sched2, opt2, 3)
        for g, g2 in zip(sp.groups, sp2.groups):
            assert torch.equal(g["module"].weight, g2["module"].weight)
            assert g2["rho"] == g["rho"]
            for key in STATE_KEYS[method]:
                assert _same_value(g[key], g2[key]), key


def test_load_state_dict_rejects_what_does_not_fit():
    with deterministic(0):
        model = build_mlp(12, (10,), 5)
        sp, sched, opt = _setup("admm", model)
        _train(model, sp, sched, opt, 1)
        state = sp.state_dict()
        other = MicroStructureSparsifier(block=(2, 4), prune=0.5, unify=0.5)
        other.prepare(model, ["0.weight", {"module_fqn": "3", "block": (1, 4)}])
        with pytest.raises(ValueError, match=r"0\.weight.*block"):
            other.load_state_dict(state)
        only_one = MicroStructureSparsifier(block=(2, 2), prune=0.5, unify=0.5)
        only_one.prepare(model, ["0.weight"])
        with pytest.raises(ValueError, match="layers differ"):
            only_one.load_state_dict(state)
        old_format = {"method": "admm", "rho": 1e-3, "steps": 1, "groups": []}
        with pytest.raises(ValueError, match="older version"):
            sp.load_state_dict(old_format)
        sp.freeze()
        with pytest.raises(RuntimeError):
            sp.state_dict()
        with pytest.raises(RuntimeError):
            sp.load_state_dict(state)


def test_exponential_rho_schedule_is_exact_and_rescales_the_dual():
    with deterministic(0):
        model = build_mlp(12, (10,), 5)
        sp = MicroStructureSparsifier(block=(2, 2), prune=0.5, unify=0.5, rho=1e-3)
        sp.prepare(model, ["0.weight", {"module_fqn": "3", "rho": 3e-3}])
        sched = ExponentialRhoScheduler(sp, growth=2.0, max_rho=5e-3)
        assert sched.base_rho == [1e-3, 3e-3] and sched.last_epoch == 0
        seen = []
        for _ in range(4):
            sp.step()
            assert [g["rho"] for g in sp.groups] == (seen[-1] if seen else [1e-3, 3e-3])
            u = [g["U"].clone() for g in sp.groups]
            old = [g["rho"] for g in sp.groups]
            sched.step()
            new = [g["rho"] for g in sp.groups]
            seen.append(new)
            for g, u0, r0, r1 in zip(sp.groups, u, old, new):
                # U is the scaled dual: rho * U stays the same
                assert torch.equal(g["U"], u0 * (r0 / r1))
        # doubling is exact in binary floating point, then the cap
        assert seen == [[2e-3, 5e-3], [4e-3, 5e-3], [5e-3, 5e-3], [5e-3, 5e-3]]
        assert sched.get_last_rho() == [5e-3, 5e-3] and sp.rho == 5e-3
        assert sched.last_epoch == 4

    # the pipeline's default schedule: the chained product, not rho0 * growth**n
    with deterministic(0):
        model = build_mlp(12, (10,), 5)
        sp = make_sparsifier("reweighted", rho=3e-4)
        sp.prepare(model)
        sched = ExponentialRhoScheduler(sp, growth=1.05, max_rho=1.0)
        expected, rho = [], 3e-4
        for _ in range(200):
            rho = min(1.0, rho * 1.05)
            expected.append(rho)
        got = []
        for _ in range(200):
            sched.step()
            got.append(sp.rho)
        assert got == expected
        capped = got.index(1.0)  # the cap is reached and then held
        assert 0 < capped < 199 and all(r < 1.0 for r in got[:capped])
        assert set(got[capped:]) == {1.0}


def test_sparsifier_step_no_longer_changes_rho_and_scheduler_checks():
    model = build_mlp(12, (10,), 5)
    sp = MicroStructureSparsifier(block=(2, 2), prune=0.5, unify=0.5, rho=1e-3)
    with pytest.raises(ValueError, match="prepare"):
        ExponentialRhoScheduler(sp, growth=1.1, max_rho=1.0)
    assert sp.rho == 1e-3  # the default before prepare
    sp.prepare(model)
    for _ in range(3):
        sp.step()
    assert sp.rho == 1e-3 and sp.steps == 3
    with pytest.raises(ValueError, match="growth"):
        ExponentialRhoScheduler(sp, growth=0.9, max_rho=1.0)
    with pytest.raises(ValueError, match="max_rho"):
        ExponentialRhoScheduler(sp, growth=1.1, max_rho=1e-4)
    with pytest.raises(TypeError):
        ExponentialRhoScheduler(object(), growth=1.1, max_rho=1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MicroStructureSparsifier(rho_growth=1.1)  # type: ignore[call-arg]
    sched = ExponentialRhoScheduler(sp, growth=1.5, max_rho=1.0)
    with pytest.raises(ValueError, match="rho > 0"):
        sp.set_rho(0, 0.0)
    copy_state = copy.deepcopy(sched.state_dict())
    sched.step()
    assert sp.rho == 1.5e-3
    other = ExponentialRhoScheduler(sp, growth=1.5, max_rho=1.0)
    other.load_state_dict(copy_state)
    assert other.last_epoch == 0 and other.base_rho == [1e-3, 1e-3]
    with pytest.raises(ValueError, match="unknown keys"):
        other.load_state_dict({"gamma": 2.0})
    sp.freeze()
    with pytest.raises(RuntimeError):
        sched.step()


@pytest.mark.parametrize("method", ["admm", "reweighted"])
def test_squash_mask_leaves_the_structured_weight_as_a_plain_parameter(method):
    with deterministic(0):
        model = build_mlp(12, (10,), 5)
        sp, sched, opt = _setup(method, model)
        with pytest.raises(RuntimeError, match="freeze"):
            sp.squash_mask()
        _train(model, sp, sched, opt, 3)
        sp.freeze()
        x, y = _data()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(5):  # fine-tune the frozen structure (the magnitudes move)
            loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        exported = sp.export()
        model.eval()
        with torch.no_grad():
            before = model(x)
        modules = [g["module"] for g in sp.groups]
        assert all(isinstance(m.parametrizations.weight[0], MicroStructure) for m in modules)
        sp.squash_mask()
        for m, sw in zip(modules, exported):
            assert not parametrize.is_parametrized(m)
            assert type(m.weight) is nn.Parameter
            assert torch.equal(m.weight.detach(), sw.weight)  # the structured, quantized weight
            k = m.weight.detach().double() * 2.0 ** sw.w_frac
            assert torch.equal(k, torch.round(k))
        names = set(model.state_dict())
        assert not any("parametrizations" in n for n in names)
        assert {"0.weight", "0.bias", "3.weight", "3.bias"} <= names
        with torch.no_grad():
            assert torch.equal(model(x), before)
        for g in sp.groups:  # the per-layer state is gone, the config stays
            assert not set(g) & {"Z", "U", "kinds", "w_frac", "target", "alpha", "param"}
            assert g["tensor_fqn"] in ("0.weight", "3.weight") and "block" in g
        with pytest.raises(RuntimeError, match="export"):
            sp.export()
        sp.squash_mask()  # again: nothing left to do
        assert sp.state()["layers"][0]["w_frac"] is None
