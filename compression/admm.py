"""ADMM training towards the micro-structure, with an API shaped like ``torch.ao.pruning``.

    sparsifier = MicroStructureSparsifier(block=(4, 4), prune=0.75, unify=0.9, w_bits=8, rho=1e-3)
    sparsifier.prepare(model, config=None)        # every nn.Linear (or a list, see prepare)
    scheduler = ExponentialRhoScheduler(sparsifier, growth=1.05, max_rho=1.0)
    for epoch in range(admm_epochs):
        for x, y in batches:
            loss = criterion(model(x), y) + sparsifier.penalty()   # W-step
            ...backward, optimizer.step()
        sparsifier.step()                          # Z-step (projection), U-step
        scheduler.step()                           # every group's rho (U rescaled with it)
        torch.save(sparsifier.state_dict(), ...)   # {"state": {tensor_fqn: Z, U...}, "groups"}
    sparsifier.freeze()                            # hard projection + MicroStructure parametrization
    ...fine-tune: the structure stays frozen, unified magnitudes and dense weights train
    for sw in sparsifier.export(): sw.weight, sw.kinds, sw.w_frac ...
    sparsifier.squash_mask()   # optional, at the very end: plain nn.Linear weights, no state

The conventions are ``torch.ao.pruning``'s (the classes do not derive from it): ``groups`` is
a list of per-layer config dicts (``tensor_fqn``, ``block``, ``prune``, ``unify``, ``rho``...),
``state_dict()`` is ``{"state": {tensor_fqn: {...}}, "groups": [...]}`` (plus ``method`` and
``steps``), a scheduler constructed on the sparsifier sets each group's ``rho`` at its
``step()`` (as ``BaseScheduler`` does ``sparsity_level``), and ``squash_mask()`` removes the
parametrizations leaving the current structured weight as a plain parameter. What turns the
ADMM iterate into the frozen structure is :meth:`MicroStructureSparsifier.freeze`;
:meth:`~MicroStructureSparsifier.export` and :func:`compression.export.export_network` read
that parametrization, so they come before ``squash_mask()``.

ADMM (scaled form) for ``min loss(W) s.t. W in S``: the W-step minimizes
``loss(W) + rho/2 ||W - Z + U||^2`` by SGD/Adam, the Z-step is ``Z = project(W + U)`` onto S,
the U-step ``U += W - Z``. ``rho`` follows a scheduler (:class:`ExponentialRhoScheduler`:
geometric growth up to a cap); ``U`` is the *scaled* dual, so :meth:`set_rho
<MicroStructureSparsifier.set_rho>` rescales it by ``rho_old / rho_new`` (the dual variable
``rho * U`` is unchanged, Boyd et al. 2011, sec. 3.4.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from hlsgen.artifact import BlockKind

from .budget import csd_table, project_budget_scaled
from .projection import (block_costs, block_counts, blocked, expand_blocks, grid_round,
                         project_scaled, solve_assignment, weight_levels)

__all__ = ["BaseRhoScheduler", "ExponentialRhoScheduler", "MicroStructure",
           "MicroStructureSparsifier", "ReweightedSparsifier", "StructuredWeight",
           "demote_zero_blocks", "make_sparsifier"]

_LAYER_KEYS = ("block", "prune", "unify", "w_bits", "k_digits", "w_scale", "rho", "budget",
               "in_bits", "measure")
# the per-layer settings a checkpoint must agree on to be loaded
_CONFIG_KEYS = ("block", "prune", "unify", "w_bits", "k_digits", "w_scale")
# group entries that are neither config nor state (torch.ao's KEYS_NOT_IN_STATE_DICT)
_NOT_IN_STATE_DICT = ("module", "param")
W_SCALES = ("range", "search")


class MicroStructure(nn.Module):
    """Parametrization of a weight with a frozen block structure (and weight fake-quant).

    * pruned blocks are exactly 0;
    * unified blocks are ``signs * magnitude``: the signs are a fixed buffer, the magnitude of
      each block is a trainable parameter (``magnitudes``);
    * dense blocks are the free entries of the original weight.

    With ``w_bits`` the result is fake-quantized (straight-through estimator, saturating)
    onto the grid ``k * 2**-w_frac``, ``|k| <= 2**(w_bits-1) - 1``; ``w_frac`` is a fixed
    per-layer power-of-two scale chosen from the weights' range when the structure is frozen.
    Rounding is symmetric, so a unified block keeps one magnitude after quantization. With
    ``k_digits`` every value rounds to the nearest magnitude of at most ``k_digits`` CSD digits;
    binary (``w_bits`` 1) keeps every unified weight at ``+-2**-w_frac``.
    """

    def __init__(self, weight: torch.Tensor, kinds: np.ndarray, block: tuple[int, int],
                 w_bits: int | None, w_frac: int | None, k_digits: int | None = None,
                 digit_cap: torch.Tensor | None = None) -> None:
        super().__init__()
        shape = tuple(weight.shape)
        self.block = (int(block[0]), int(block[1]))
        self.w_bits = None if w_bits is None else int(w_bits)
        self.k_digits = None if k_digits is None else int(k_digits)
        self.q_top = None if w_bits is None else int(weight_levels(int(w_bits), k_digits)[-1])
        kinds_t = torch.as_tensor(np.asarray(kinds, dtype=np.int64))
        self.register_buffer("kinds", kinds_t)
        per_elem = expand_blocks(kinds_t, shape, self.block)
        self.register_buffer("dense_mask", (per_elem == BlockKind.DENSE).to(weight.dtype))
        unified = per_elem == BlockKind.UNIFIED
        w = weight.detach()
        self.register_buffer("signs", torch.where(w < 0, -1.0, 1.0).to(weight.dtype)
                             * unified.to(weight.dtype))
        # element -> index of its unified block (blocks in row-major order), others -> slot 0
        flat_u = (kinds_t == BlockKind.UNIFIED).flatten()
        block_id = torch.cumsum(flat_u.to(torch.int64), 0).reshape(kinds_t.shape)
        block_id = torch.where(kinds_t == BlockKind.UNIFIED, block_id, torch.zeros_like(block_id))
        self.register_buffer("block_index", expand_blocks(block_id, shape, self.block).contiguous())
        n_u = int(flat_u.sum())
        mags = torch.zeros(n_u, dtype=weight.dtype)
        if n_u:
            src = (w.abs() * unified).flatten()
            idx = self.block_index.flatten()
            sums = torch.zeros(n_u + 1, dtype=torch.float64).index_add_(0, idx, src.double())
            cnt = torch.zeros(n_u + 1, dtype=torch.float64).index_add_(
                0, idx, unified.flatten().double())
            mags = (sums[1:] / cnt[1:]).to(weight.dtype)
        self.magnitudes = nn.Parameter(mags)
        self.register_buffer("w_frac", torch.tensor(0 if w_frac is None else int(w_frac)))
        self.fake_quant = w_bits is not None
        # objective "luts": each weight keeps at most the CSD digits the budgeted projection
        # gave it (0: stays zero), so fine-tuning cannot buy back the adders it saved
        if digit_cap is not None and w_bits is None:
            raise ValueError("digit_cap needs a quantization grid (w_bits)")
        self.register_buffer("digit_cap", None if digit_cap is None
                             else torch.as_tensor(digit_cap, dtype=torch.int64).clone())

    def structured(self, original: torch.Tensor) -> torch.Tensor:
        """The structured weight before quantization."""
        padded = torch.cat([self.magnitudes.new_zeros(1), self.magnitudes])
        return original * self.dense_mask + self.signs * padded[self.block_index]

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        w = self.structured(original)
        if not self.fake_quant:
            return w
        assert self.w_bits is not None and self.q_top is not None
        scale = 2.0 ** int(self.w_frac)
        if self.w_bits == 1:  # binary: the sign of every kept weight, one grid step
            return w + (torch.sign(w) / scale - w).detach()
        if self.digit_cap is None:
            q = grid_round(w, int(self.w_frac), self.w_bits, self.k_digits) / scale
        else:
            q = torch.zeros_like(w)
            for k in torch.unique(self.digit_cap).tolist():
                if k > 0:
                    kk = k if self.k_digits is None else min(k, self.k_digits)
                    q = torch.where(self.digit_cap == k,
                                    grid_round(w, int(self.w_frac), self.w_bits, kk), q)
            q = q / scale
        inside = (w * scale).abs() <= self.q_top
        return torch.where(inside, w + (q - w).detach(), q)


@dataclass(frozen=True, eq=False)
class StructuredWeight:
    """The final structured weight of one layer, as :meth:`MicroStructureSparsifier.export` gives.

    ``weight`` is the effective (fake-quantized) float weight; ``kinds`` the block kinds (a block
    whose values all became zero is reported PRUNED); ``w_frac`` its grid (None without w_bits).
    """

    fqn: str
    module: nn.Linear
    weight: torch.Tensor
    kinds: np.ndarray
    block: tuple[int, int]
    w_bits: int | None
    w_frac: int | None

    def integers(self) -> np.ndarray:
        """The integer weights ``round(weight * 2**w_frac)`` (exact: they are on the grid)."""
        if self.w_bits is None or self.w_frac is None:
            raise ValueError(f"{self.fqn}: no quantization grid (w_bits is None)")
        k = torch.round(self.weight.detach().double() * 2.0 ** self.w_frac)
        return k.to(torch.int64).numpy()


class MicroStructureSparsifier:
    """ADMM towards block micro-structure, then a frozen structure for fine-tuning.

    Constructor arguments are the defaults for every layer; :meth:`prepare` can override them
    per layer (``rho`` included). Each group's ``rho`` stays where it is unless a scheduler
    (:class:`ExponentialRhoScheduler`) or :meth:`set_rho` changes it.
    """

    method = "admm"
    # per-layer ADMM state, checkpointed under ``state_dict()["state"][tensor_fqn]``
    _GROUP_STATE: tuple[str, ...] = ("Z", "U", "kinds", "w_frac")

    def __init__(self, block: tuple[int, int] = (4, 4), prune: float = 0.75, unify: float = 0.9,
                 w_bits: int | None = 8, rho: float = 1e-3, k_digits: int | None = None,
                 w_scale: str = "range") -> None:
        if not rho > 0:
            raise ValueError(f"need rho > 0, got {rho}")
        self.defaults: dict[str, Any] = {"block": tuple(block), "prune": float(prune),
                                         "unify": float(unify), "w_bits": w_bits,
                                         "k_digits": k_digits, "w_scale": w_scale,
                                         "rho": float(rho)}
        self.groups: list[dict[str, Any]] = []
        self.model: nn.Module | None = None
        self.frozen = False
        self.squashed = False
        self.steps = 0

    @property
    def rho(self) -> float:
        """The penalty weight: the groups' ``rho`` (the largest, should a scheduler set them
        apart), or the default before :meth:`prepare`."""
        return max((float(g["rho"]) for g in self.groups), default=self.defaults["rho"])

    # ------------------------------------------------------------------ prepare
    def prepare(self, model: nn.Module, config: Iterable[Any] | None = None) -> None:
        """Register the Linear layers to compress and initialize ``Z = project(W)``, ``U = 0``.

        ``config`` is None (every ``nn.Linear``) or a list whose items are a module, a module
        name (``"0"``), a tensor name (``"0.weight"``), or a dict with one of ``module``,
        ``module_fqn``, ``tensor_fqn`` and optional per-layer ``block``, ``prune``, ``unify``,
        ``w_bits``, ``k_digits``, ``w_scale``, ``rho``.
        """
        self.model = model
        names = {m: n for n, m in model.named_modules()}
        by_name = dict(model.named_modules())
        entries: list[dict[str, Any]] = []
        if config is None:
            entries = [{"module": m} for m in model.modules() if isinstance(m, nn.Linear)]
        else:
            for item in config:
                if isinstance(item, nn.Module):
                    entries.append({"module": item})
                elif isinstance(item, str):
                    entries.append({"tensor_fqn": item})
                elif isinstance(item, Mapping):
                    entries.append(dict(item))
                else:
                    raise TypeError(f"config entries are modules, names or dicts, got {item!r}")
        self.groups = []
        for e in entries:
            module = e.pop("module", None)
            fqn = e.pop("module_fqn", None)
            tfqn = e.pop("tensor_fqn", None)
            if module is None:
                name = fqn if fqn is not None else tfqn
                if name is None:
                    raise ValueError(f"config entry {e!r} names no module")
                if tfqn is not None and name.endswith(".weight"):
                    name = name[: -len(".weight")]
                if name not in by_name:
                    raise KeyError(f"no module named {name!r} in the model")
                module = by_name[name]
            if not isinstance(module, nn.Linear):
                raise TypeError(f"{names.get(module, module)!r} is not an nn.Linear")
            unknown = set(e) - set(_LAYER_KEYS)
            if unknown:
                raise KeyError(f"unknown config keys {sorted(unknown)}; known: {_LAYER_KEYS}")
            group = {**self.defaults, **e}
            group["block"] = (int(group["block"][0]), int(group["block"][1]))
            if group["w_scale"] not in W_SCALES:
                raise ValueError(f"w_scale must be one of {W_SCALES}, got {group['w_scale']!r}")
            if group["k_digits"] is not None and (group["w_bits"] is None
                                                  or int(group["k_digits"]) < 1):
                raise ValueError("k_digits needs w_bits and must be >= 1")
            group["rho"] = float(group["rho"])
            if not group["rho"] > 0:
                raise ValueError(f"need rho > 0, got {group['rho']}")
            group["fqn"] = names[module]
            group["tensor_fqn"] = f"{names[module]}.weight" if names[module] else "weight"
            group["module"] = module
            w = module.weight.detach()
            z, kinds, w_frac = self._project(w, group)
            group["Z"] = z
            group["U"] = torch.zeros_like(w)
            group["kinds"] = kinds
            group["w_frac"] = w_frac
            self.groups.append(group)
        self.frozen = False
        self.squashed = False
        self.steps = 0

    @staticmethod
    def _project(w: torch.Tensor, group: Mapping[str, Any]
                 ) -> tuple[torch.Tensor, np.ndarray, int | None]:
        if group.get("budget") is not None:  # objective luts / bits: compression/budget.py
            return project_budget_scaled(w, group["block"], group["w_bits"], group["in_bits"],
                                         group["budget"], group["k_digits"],
                                         search=group["w_scale"] == "search",
                                         measure=group.get("measure", "luts"))
        return project_scaled(w, group["block"], group["prune"], group["unify"],
                              group["w_bits"], group["k_digits"],
                              search=group["w_scale"] == "search")

    # ------------------------------------------------------------------ ADMM
    def penalty(self) -> torch.Tensor:
        """``sum rho/2 ||W - Z + U||^2`` over the layers (add it to the loss for the W-step)."""
        if self.frozen:
            raise RuntimeError("the structure is frozen; the ADMM penalty no longer applies")
        total = None
        for g in self.groups:
            d = g["module"].weight - g["Z"] + g["U"]
            term = 0.5 * g["rho"] * (d * d).sum()
            total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return total

    @torch.no_grad()
    def step(self) -> None:
        """Z-step (``Z = project(W + U)``) and U-step (``U += W - Z``); rho is the scheduler's."""
        if self.frozen:
            raise RuntimeError("the structure is frozen; call step() only before freeze()")
        for g in self.groups:
            w = g["module"].weight.detach()
            z, kinds, w_frac = self._project(w + g["U"], g)
            g["Z"], g["kinds"], g["w_frac"] = z, kinds, w_frac
            g["U"] = g["U"] + w - z
        self.steps += 1

    @torch.no_grad()
    def set_rho(self, index: int, rho: float) -> None:
        """Set group ``index``'s rho (what a rho scheduler calls); the scaled dual ``U`` is
        multiplied by ``rho_old / rho`` so the dual variable ``rho * U`` stays the same."""
        g = self._group_for_rho(index, rho)
        g["U"] = g["U"] * (g["rho"] / float(rho))
        g["rho"] = float(rho)

    def _group_for_rho(self, index: int, rho: float) -> dict[str, Any]:
        if self.frozen:
            raise RuntimeError("the structure is frozen; rho no longer applies")
        if not rho > 0:
            raise ValueError(f"need rho > 0, got {rho}")
        return self.groups[index]

    @torch.no_grad()
    def residuals(self) -> dict[str, float]:
        """Primal residual ``||W - Z|| / ||W||`` per layer (how far W still is from S)."""
        out = {}
        for g in self.groups:
            w = g["module"].weight.detach()
            out[g["fqn"]] = float((w - g["Z"]).norm() / w.norm().clamp_min(1e-30))
        return out

    # ------------------------------------------------------------------ freeze
    @torch.no_grad()
    def freeze(self) -> None:
        """Hard projection of every weight onto S, then the :class:`MicroStructure`
        parametrization that keeps the structure frozen during fine-tuning."""
        if self.frozen:
            return
        for g in self.groups:
            module: nn.Linear = g["module"]
            w = module.weight.detach()
            z, kinds, w_frac = self._project(w, g)
            module.weight.copy_(z)
            g["kinds"], g["w_frac"] = kinds, w_frac
            g.pop("Z", None)
            g.pop("U", None)
            cap = None
            if g.get("budget") is not None and g.get("measure", "luts") == "luts":
                cap = csd_table(g["w_bits"])[torch.round(z.abs().double()
                                                         * 2.0 ** w_frac).long()].long()
            param = MicroStructure(z, kinds, g["block"], g["w_bits"], w_frac, g["k_digits"],
                                   digit_cap=cap)
            parametrize.register_parametrization(module, "weight", param)
            g["param"] = param
        self.frozen = True

    def squash_mask(self) -> None:
        """As ``torch.ao.pruning``'s: remove every layer's weight parametrization, leaving its
        current (structured, fake-quantized) value as a plain ``nn.Parameter``, and drop the
        per-layer state (kinds, grid, the :class:`MicroStructure` module); the group configs
        stay. After :meth:`freeze`, and after :meth:`export` /
        :func:`compression.export.export_network`, which read the parametrization."""
        if not self.frozen:
            raise RuntimeError("nothing to squash: call freeze() first (it projects the weights "
                               "and registers the structure)")
        for g in self.groups:
            if parametrize.is_parametrized(g["module"], "weight"):
                parametrize.remove_parametrizations(g["module"], "weight",
                                                    leave_parametrized=True)
            for key in (*self._GROUP_STATE, "param"):
                g.pop(key, None)
        self.squashed = True

    # ------------------------------------------------------------------ export
    @torch.no_grad()
    def export(self) -> list[StructuredWeight]:
        """The structured weights, kinds and grids of every layer (after :meth:`freeze`)."""
        if not self.frozen:
            raise RuntimeError("call freeze() before export()")
        if self.squashed:
            raise RuntimeError("squash_mask() dropped the structure; call export() before it")
        out = []
        for g in self.groups:
            module = g["module"]
            w = module.weight.detach().clone()  # runs the parametrization
            kinds = np.array(g["kinds"], dtype=np.uint8)
            kinds = demote_zero_blocks(w, kinds, g["block"])
            out.append(StructuredWeight(fqn=g["fqn"], module=module, weight=w, kinds=kinds,
                                        block=g["block"], w_bits=g["w_bits"],
                                        w_frac=g["w_frac"]))
        return out

    def state(self) -> dict[str, Any]:
        """JSON-ready summary (for artifact metadata)."""
        return {"method": self.method, "rho": self.rho, "steps": self.steps,
                "layers": [{"fqn": g["fqn"], "block": list(g["block"]), "prune": g["prune"],
                            "unify": g["unify"], "w_bits": g["w_bits"],
                            "k_digits": g["k_digits"], "w_scale": g["w_scale"],
                            "w_frac": g.get("w_frac")} for g in self.groups]}

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """The training state for a checkpoint (``torch.save``-able), shaped as
        ``torch.ao.pruning``'s: ``{"state": {tensor_fqn: {"Z", "U", "kinds", "w_frac"}},
        "groups": [config with tensor_fqn and rho, ...], "method", "steps"}`` (the reweighted
        method keeps ``target`` and ``alpha`` instead of ``U``). Tensors are not copied.
        Restore it with :meth:`load_state_dict` after :meth:`prepare` on the same model and
        config. Only before :meth:`freeze` (after it, the structure lives in the model)."""
        if self.frozen:
            raise RuntimeError("the structure is frozen; checkpoint the model instead")
        skip = (*_NOT_IN_STATE_DICT, *self._GROUP_STATE)
        return {"state": {g["tensor_fqn"]: {k: g[k] for k in self._GROUP_STATE}
                          for g in self.groups},
                "groups": [{k: v for k, v in g.items() if k not in skip} for g in self.groups],
                "method": self.method, "steps": self.steps}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict`'s state and each group's ``rho`` (copies of the
        tensors); the layers and their settings must be the prepared ones."""
        if self.frozen:
            raise RuntimeError("the structure is frozen; load_state_dict() only before freeze()")
        if state.get("method") != self.method:
            raise ValueError(f"checkpoint of method {state.get('method')!r}, not {self.method!r}")
        if "state" not in state or "groups" not in state:
            raise ValueError("not a sparsifier state_dict (no 'state' and 'groups'); a "
                             "checkpoint of an older version: delete it to start over")
        saved = list(state["groups"])
        if [s.get("tensor_fqn") for s in saved] != [g["tensor_fqn"] for g in self.groups]:
            raise ValueError("the checkpoint's layers differ from the prepared model's")
        for g, s in zip(self.groups, saved):
            differ = [k for k in _CONFIG_KEYS if s.get(k) != g[k]]
            if differ:
                raise ValueError(f"layer {g['tensor_fqn']}: the checkpoint's {differ} differ "
                                 "from the prepared settings")
            per_layer = state["state"][g["tensor_fqn"]]
            for k in self._GROUP_STATE:
                v = per_layer[k]
                g[k] = v.clone() if isinstance(v, torch.Tensor) else (
                    v.copy() if isinstance(v, np.ndarray) else v)
            g["rho"] = float(s["rho"])
            # a cost objective's budget: the one the run started with
            for k in ("budget", "in_bits", "measure"):
                if s.get(k) is not None:
                    g[k] = s[k]
        self.steps = int(state["steps"])


def demote_zero_blocks(w: torch.Tensor, kinds: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """Blocks whose values are all zero are PRUNED (a unified magnitude must be >= 1)."""
    wb, _ = blocked(w.detach(), block)
    zero = (wb == 0).all(-1).numpy()
    out = kinds.copy()
    out[zero] = BlockKind.PRUNED
    return out


class ReweightedSparsifier(MicroStructureSparsifier):
    """Reweighted dynamic regularization towards the same set S, with the same API, the same
    hard projection at :meth:`freeze` and the same export as the ADMM sparsifier.

    The W-step minimizes ``loss + penalty()``, ``penalty = lam/2 sum_b alpha_b r_b(W)`` over
    the blocks of every layer, where the *target* of a block is its kind in the projection of
    the current weights onto S (so at most ``ceil(prune * N)`` blocks are pulled towards zero
    and at most the unify quota towards one magnitude: the regularization is bounded by the
    target constraint) and

    * ``r_b = ||W_b||^2`` for a block the target prunes,
    * ``r_b = ||W_b - sign(W_b) mean|W_b| ||^2`` for a block it unifies (``mean`` follows W),
    * nothing for a block it keeps dense.

    Every ``reweight_every`` :meth:`step` calls the targets are recomputed and the weights
    re-weighted from the current weights, ``alpha_b = 1 / (r_b / mean(r) + eps)``: blocks that
    are already close to their target are pushed harder (the reweighted group-lasso surrogate
    of a block count), far ones less, so the regularization concentrates where it will be
    satisfied. ``lam`` follows the ``rho`` schedule; ``alpha_b <= 1/eps`` keeps the step
    stable. There is no dual variable (:meth:`set_rho` only sets ``lam``); ``Z`` is the current
    projection, for :meth:`residuals`.
    """

    method = "reweighted"
    _GROUP_STATE = ("Z", "kinds", "w_frac", "target", "alpha")

    def __init__(self, *args: Any, eps: float = 0.5, reweight_every: int = 4,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if eps <= 0 or reweight_every < 1:
            raise ValueError("need eps > 0 and reweight_every >= 1")
        self.eps = float(eps)
        self.reweight_every = int(reweight_every)

    def prepare(self, model: nn.Module, config: Iterable[Any] | None = None) -> None:
        super().prepare(model, config)
        for g in self.groups:
            g.pop("U", None)
            self._reweight(g)

    @staticmethod
    def _residual_terms(w: torch.Tensor, block: tuple[int, int]
                        ) -> tuple[torch.Tensor, torch.Tensor]:
        """Per block ``||W_b||^2`` and ``||W_b - sign(W_b) mean|W_b| ||^2`` (differentiable)."""
        wb, valid = blocked(w, block)
        vf = valid.to(w.dtype)
        absw = wb.abs()
        mean = absw.sum(-1) / vf.sum(-1)
        return (wb * wb).sum(-1), (((absw - mean.unsqueeze(-1)) ** 2) * vf).sum(-1)

    @torch.no_grad()
    def _reweight(self, g: dict[str, Any]) -> None:
        w = g["module"].weight.detach()
        z, kinds, w_frac = self._project(w, g)
        g["Z"], g["kinds"], g["w_frac"] = z, kinds, w_frac
        # the target counts of S, assigned on the unquantized costs of the current weights
        bc = block_costs(w, g["block"])
        nbr, nbc = bc.magnitude.shape
        n_p, n_u, _ = block_counts(nbr * nbc, g["prune"],
                                   1.0 if g["w_bits"] == 1 else g["unify"])
        target = torch.from_numpy(solve_assignment(bc.cost, n_p, n_u)).reshape(nbr, nbc)
        c_p, c_u = self._residual_terms(w.to(torch.float64), g["block"])
        r = torch.where(target == 0, c_p, torch.where(target == 1, c_u, torch.zeros_like(c_p)))
        active = target != 2
        mean = float(r[active].mean()) if bool(active.any()) else 0.0
        alpha = 1.0 / (r / mean + self.eps) if mean > 0 else torch.full_like(r, 1.0 / self.eps)
        g["target"] = target
        g["alpha"] = torch.where(active, alpha, torch.zeros_like(alpha)).to(w.dtype)

    def penalty(self) -> torch.Tensor:
        """``lam/2 sum alpha_b r_b(W)`` (add it to the loss for the W-step)."""
        if self.frozen:
            raise RuntimeError("the structure is frozen; the penalty no longer applies")
        total = None
        for g in self.groups:
            c_p, c_u = self._residual_terms(g["module"].weight, g["block"])
            r = torch.where(g["target"] == 0, c_p,
                            torch.where(g["target"] == 1, c_u, torch.zeros_like(c_p)))
            term = 0.5 * g["rho"] * (g["alpha"] * r).sum()
            total = term if total is None else total + term
        if total is None:
            return torch.zeros(())
        return total

    @torch.no_grad()
    def step(self) -> None:
        """Every ``reweight_every`` steps recompute targets and weights (else only ``Z``);
        ``lam`` (``rho``) is the scheduler's."""
        if self.frozen:
            raise RuntimeError("the structure is frozen; call step() only before freeze()")
        self.steps += 1
        for g in self.groups:
            if self.steps % self.reweight_every == 0:
                self._reweight(g)
            else:
                w = g["module"].weight.detach()
                g["Z"], g["kinds"], g["w_frac"] = self._project(w, g)

    def set_rho(self, index: int, rho: float) -> None:
        """Set group ``index``'s ``lam`` (no dual variable to rescale)."""
        self._group_for_rho(index, rho)["rho"] = float(rho)

    def state(self) -> dict[str, Any]:
        return {**super().state(), "eps": self.eps, "reweight_every": self.reweight_every}


METHODS = {"admm": MicroStructureSparsifier, "reweighted": ReweightedSparsifier}


def make_sparsifier(method: str, **kwargs: Any) -> MicroStructureSparsifier:
    """The sparsifier of ``method`` (``"admm"`` or ``"reweighted"``) with these arguments;
    ``eps``/``reweight_every`` are only for the reweighted one."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {tuple(METHODS)}, got {method!r}")
    if method == "admm":
        kwargs.pop("eps", None)
        kwargs.pop("reweight_every", None)
    return METHODS[method](**kwargs)


# ---------------------------------------------------------------------- rho schedulers

class BaseRhoScheduler:
    """Base of the rho schedules, shaped like ``torch.ao.pruning``'s ``BaseScheduler`` (which
    schedules ``sparsity_level``): constructed on a prepared sparsifier, :meth:`step` (after
    ``sparsifier.step()``) sets every group's ``rho`` to :meth:`get_rho`'s values through
    :meth:`MicroStructureSparsifier.set_rho`. Subclasses implement :meth:`get_rho` from
    ``last_epoch`` (the number of steps so far, 1 in the first call), ``base_rho`` (each group's
    rho at construction) and the groups' current rho."""

    def __init__(self, sparsifier: MicroStructureSparsifier) -> None:
        if not isinstance(sparsifier, MicroStructureSparsifier):
            raise TypeError(f"{type(sparsifier).__name__} is not a MicroStructureSparsifier")
        if not sparsifier.groups:
            raise ValueError("the sparsifier has no groups: prepare() it before the scheduler")
        self.sparsifier = sparsifier
        self.base_rho = [float(g["rho"]) for g in sparsifier.groups]
        self.last_epoch = 0
        self._last_rho = list(self.base_rho)

    def get_rho(self) -> list[float]:
        """The rho of every group for step ``last_epoch``."""
        raise NotImplementedError

    def step(self) -> None:
        self.last_epoch += 1
        values = self.get_rho()
        if len(values) != len(self.sparsifier.groups):
            raise ValueError(f"get_rho() gave {len(values)} values for "
                             f"{len(self.sparsifier.groups)} groups")
        for index, rho in enumerate(values):
            self.sparsifier.set_rho(index, rho)
        self._last_rho = [float(g["rho"]) for g in self.sparsifier.groups]

    def get_last_rho(self) -> list[float]:
        """The rho of every group after the last :meth:`step`."""
        return list(self._last_rho)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the sparsifier (as ``torch.ao.pruning``'s schedulers)."""
        return {k: v for k, v in self.__dict__.items() if k != "sparsifier"}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        unknown = set(state) - set(self.state_dict())
        if unknown:
            raise ValueError(f"not a {type(self).__name__} state: unknown keys {sorted(unknown)}")
        self.__dict__.update(state)


class ExponentialRhoScheduler(BaseRhoScheduler):
    """``rho <- min(max_rho, rho * growth)`` at every :meth:`step` (chainable: from each group's
    current rho, so a rho restored from a checkpoint continues the same sequence)."""

    def __init__(self, sparsifier: MicroStructureSparsifier, growth: float,
                 max_rho: float) -> None:
        super().__init__(sparsifier)
        if growth < 1:
            raise ValueError(f"need growth >= 1, got {growth}")
        bad = [g["tensor_fqn"] for g in sparsifier.groups if float(g["rho"]) > max_rho]
        if bad:
            raise ValueError(f"need max_rho >= rho; {bad} start above {max_rho}")
        self.growth = float(growth)
        self.max_rho = float(max_rho)

    def get_rho(self) -> list[float]:
        return [min(self.max_rho, float(g["rho"]) * self.growth)
                for g in self.sparsifier.groups]
