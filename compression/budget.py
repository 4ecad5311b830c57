"""Projection onto the micro-structure under a hardware budget (``--objective luts``).

The fraction-constrained projection (:func:`compression.projection.project`) fixes how many
blocks are pruned, unified and dense and minimizes the distance to ``W``. This one fixes what
the layer may cost instead, and lets every block choose what it buys with it:

    minimize  ||W - Z||^2   over Z in S_q,   subject to   cost(Z) <= budget

where ``S_q`` is the quantized micro-structure (every value on the layer's grid) and
``cost`` is the block-level surrogate of :mod:`hlsgen.cost` (modelled adder bits: a unified
block pays for its share of the signed-sum tree and one row-sum term per CSD digit of its
magnitude, a dense block one term per digit of each weight, a pruned block nothing; every
row with a term its bias adder, set aside from the budget for every row). Each
block picks one option among

* ``P``: pruned;
* ``U_k``: unified, its magnitude rounded to the nearest level of at most ``k`` CSD digits;
* ``D_k``: dense, every weight rounded to at most ``k`` digits (not for binary weights),

for ``k = 1 .. K`` (``K``: ``k_digits`` when set, else every digit count ``w_bits`` allows).
The cost is separable over blocks, so the Lagrangian relaxation is exact per price: at price
``lam`` every block takes the option minimizing ``dist + lam * cost``, the total cost is a
non-increasing step function of ``lam``, and a bisection on ``lam`` (in log space) finds the
smallest price whose choice fits the budget. Between two steps of that function the result is
the best trade the budget allows; it is the exact projection whenever the chosen total equals
the budget, and a point of the convex hull otherwise (the usual Lagrangian gap of a knapsack).
So the projection chooses each block's kind and digit budget by accuracy (distance) per LUT.
With ``measure="bits"`` (``--objective bits``) the cost is the stored weight bits instead (a
unified block its magnitude and one sign per weight, a dense block ``w_bits`` per weight),
the budget of a weight-memory-bound (folded, ROM-driven) design.

Ties go to the earlier option (pruned, then fewer digits, then unified before dense), so the
result is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from hlsgen import cost as hwcost
from hlsgen.artifact import BlockKind

from .projection import (blocked, csd_digits, grid_round, project_scaled, q_max, unblocked,
                         weight_frac)

__all__ = ["BudgetProjection", "csd_table", "layer_budgets", "layer_cost", "max_digits",
           "project_budget", "project_budget_scaled"]

BISECTION_STEPS = 60
MEASURES = ("luts", "bits")


def max_digits(w_bits: int) -> int:
    """The most CSD digits a magnitude of ``w_bits`` can need."""
    return max(csd_digits(m) for m in range(q_max(w_bits) + 1))


def csd_table(w_bits: int) -> torch.Tensor:
    """CSD digit count of every magnitude ``0 .. q_max(w_bits)`` (float64)."""
    return torch.tensor([csd_digits(m) for m in range(q_max(w_bits) + 1)], dtype=torch.float64)


@dataclass(frozen=True)
class BudgetProjection:
    projected: torch.Tensor
    kinds: np.ndarray       # uint8 [nbr, nbc] of BlockKind values
    cost: float             # modelled adder bits of the choice
    price: float            # the Lagrange price that fits the budget (0: budget not binding)


def _options(w: torch.Tensor, block: tuple[int, int], w_frac: int, w_bits: int,
             in_bits: int, k_digits: int | None, measure: str = "luts"):
    """Values ``[O, nbr, nbc, br*bc]``, distances and costs ``[O, N]`` and the kind of each
    option (BlockKind values)."""
    wb, valid = blocked(w.detach().to(torch.float64), block)
    vf = valid.to(torch.float64)
    br, bc = block
    nbr, nbc = wb.shape[:2]
    # valid rows / columns of each (edge) block
    vmat = valid.reshape(nbr, nbc, br, bc)
    n_rows = vmat.any(-1).sum(-1).to(torch.float64)          # [nbr, nbc]
    n_cols = vmat.any(-2).sum(-1)                             # [nbr, nbc] ints
    absw = wb.abs()
    signs = torch.where(wb < 0, -1.0, 1.0).to(torch.float64) * vf
    mean = absw.sum(-1) / vf.sum(-1)
    table = csd_table(w_bits)
    scale = 2.0 ** -w_frac
    kmax = max_digits(w_bits) if k_digits is None else min(k_digits, max_digits(w_bits))
    # per-row cost of a unified block of n columns: fixed + per_digit * digits
    ncols = sorted({int(n) for n in n_cols.flatten().tolist()})
    u_fix = torch.zeros(nbr, nbc, dtype=torch.float64)
    u_dig = torch.zeros(nbr, nbc, dtype=torch.float64)
    for n in ncols:
        one = hwcost.unified_block_bits(n, 1, in_bits)
        two = hwcost.unified_block_bits(n, 2, in_bits)
        sel = n_cols == n
        u_fix[sel] = one - (two - one)
        u_dig[sel] = two - one
    d_dig = hwcost.dense_block_bits(1, in_bits)
    if measure not in MEASURES:
        raise ValueError(f"measure must be one of {', '.join(MEASURES)}, got {measure!r}")
    stored = vf.sum(-1)  # weights of each block: signs (unified) or values (dense) stored

    values, dists, costs, kinds = [], [], [], []
    zero = torch.zeros_like(wb)
    values.append(zero)
    dists.append((wb * wb).sum(-1))
    costs.append(torch.zeros(nbr, nbc, dtype=torch.float64))
    kinds.append(int(BlockKind.PRUNED))
    for k in range(1, kmax + 1):
        if w_bits == 1:
            if k > 1:
                break
            mag_i = torch.ones(nbr, nbc, dtype=torch.float64)
        else:
            mag_i = grid_round(mean, w_frac, w_bits, k).abs()
        digits = table[mag_i.long()]
        val = signs * (mag_i * scale).unsqueeze(-1)
        values.append(val)
        dists.append(((absw - (mag_i * scale).unsqueeze(-1)) ** 2 * vf).sum(-1))
        kept = n_rows * (u_fix + u_dig * digits) if measure == "luts" else w_bits + stored
        costs.append(torch.where(digits > 0, kept, torch.zeros_like(digits)))
        kinds.append(int(BlockKind.UNIFIED))
    if w_bits > 1:
        for k in range(1, kmax + 1):
            q = grid_round(wb, w_frac, w_bits, k) * vf
            values.append(q * scale)
            dists.append(((wb - q * scale) ** 2).sum(-1))
            costs.append(d_dig * table[q.abs().long()].sum(-1) if measure == "luts"
                         else stored * w_bits)
            kinds.append(int(BlockKind.DENSE))
    return (torch.stack(values), torch.stack(dists).reshape(len(dists), -1),
            torch.stack(costs).reshape(len(costs), -1), kinds, (nbr, nbc))


def _choose(dist: torch.Tensor, cost: torch.Tensor, price: float) -> torch.Tensor:
    return torch.argmin(dist + price * cost, dim=0)  # first minimum: the earlier option


def _total(cost: torch.Tensor, pick: torch.Tensor) -> float:
    return float(cost.gather(0, pick.unsqueeze(0)).sum())


def project_budget(w: torch.Tensor, block: tuple[int, int], w_frac: int, w_bits: int,
                   in_bits: int, budget: float, k_digits: int | None = None,
                   measure: str = "luts") -> BudgetProjection:
    """The projection of ``w`` onto the quantized micro-structure whose modelled adder bits
    fit ``budget`` (see the module docstring)."""
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight matrix, got shape {tuple(w.shape)}")
    if budget < 0:
        raise ValueError(f"a cost budget must be >= 0, got {budget}")
    block = (int(block[0]), int(block[1]))
    values, dist, cost, kinds, (nbr, nbc) = _options(w, block, int(w_frac), int(w_bits),
                                                     int(in_bits), k_digits, measure)
    # every row pays its bias adder once: set aside for all rows, charged for the kept ones
    per_row = (hwcost.row_bits(int(in_bits), int(w_bits), int(w.shape[1]))
               if measure == "luts" else 0)
    budget = max(0.0, budget - per_row * int(w.shape[0]))
    pick = _choose(dist, cost, 0.0)
    price = 0.0
    if _total(cost, pick) > budget:
        positive = cost[cost > 0]
        spread = float(dist.max()) + 1e-30
        lo, hi = 0.0, spread / float(positive.min())
        # the upper end prunes (or keeps at the least cost) everything worth nothing
        for _ in range(BISECTION_STEPS):
            if _total(cost, _choose(dist, cost, hi)) <= budget:
                break
            hi *= 4.0
        for _ in range(BISECTION_STEPS):
            mid = 0.5 * (lo + hi)
            if _total(cost, _choose(dist, cost, mid)) <= budget:
                hi = mid
            else:
                lo = mid
        price = hi
        pick = _choose(dist, cost, price)
    flat_vals = values.reshape(values.shape[0], nbr * nbc, -1)
    out = flat_vals[pick, torch.arange(nbr * nbc)].reshape(nbr, nbc, -1)
    kind_of = torch.tensor(kinds, dtype=torch.int64)[pick].reshape(nbr, nbc)
    zero = (out == 0).all(-1)
    kind_of = torch.where(zero, torch.full_like(kind_of, int(BlockKind.PRUNED)), kind_of)
    projected = unblocked(out, tuple(w.shape), block).to(dtype=w.dtype, device=w.device)
    rows = int((projected != 0).any(1).sum())
    return BudgetProjection(projected=projected, kinds=kind_of.numpy().astype(np.uint8),
                            cost=_total(cost, pick) + per_row * rows, price=price)


def layer_cost(w: torch.Tensor, kinds: np.ndarray, block: tuple[int, int], w_frac: int,
               w_bits: int, in_bits: int, measure: str = "luts") -> float:
    """Modelled adder bits (``measure`` "luts") or stored weight bits ("bits": a unified
    block's magnitude and signs, a dense block's values) of a projected (on-grid,
    structured) weight matrix."""
    wb, valid = blocked(w.detach().to(torch.float64), block)
    br, bc = block
    nbr, nbc = wb.shape[:2]
    vmat = valid.reshape(nbr, nbc, br, bc)
    n_rows = vmat.any(-1).sum(-1)
    n_cols = vmat.any(-2).sum(-1)
    q = torch.round(wb * 2.0 ** w_frac).abs().long()
    table = csd_table(w_bits)
    rows = int((w != 0).any(1).sum())
    if measure == "bits":
        total = 0.0
        for r in range(nbr):
            for c in range(nbc):
                kind = BlockKind(int(kinds[r, c]))
                n = int(valid[r, c].sum())
                total += (w_bits + n if kind is BlockKind.UNIFIED else
                          n * w_bits if kind is BlockKind.DENSE else 0)
        return total
    total = float(rows * hwcost.row_bits(in_bits, w_bits, int(w.shape[1])))
    for r in range(nbr):
        for c in range(nbc):
            kind = BlockKind(int(kinds[r, c]))
            if kind is BlockKind.UNIFIED:
                digits = int(table[int(q[r, c].max())])
                total += int(n_rows[r, c]) * hwcost.unified_block_bits(int(n_cols[r, c]),
                                                                      digits, in_bits)
            elif kind is BlockKind.DENSE:
                total += hwcost.dense_block_bits(int(table[q[r, c]].sum()), in_bits)
    return total


def project_budget_scaled(w: torch.Tensor, block: tuple[int, int], w_bits: int, in_bits: int,
                          budget: float, k_digits: int | None = None, search: bool = False,
                          span: int = 6, measure: str = "luts"
                          ) -> tuple[torch.Tensor, np.ndarray, int]:
    """:func:`project_budget` with the layer's power-of-two scale chosen as
    :func:`compression.projection.project_scaled` chooses it: from the range, or (``search``)
    the candidate whose projection is nearest ``w`` (ties to the coarser scale)."""
    f0 = weight_frac(float(w.detach().abs().max()), int(w_bits))
    fracs = range(f0 - 1, f0 + span + 1) if search else (f0,)
    best: tuple[float, BudgetProjection, int] | None = None
    wd = w.detach().to(torch.float64)
    for frac in fracs:
        r = project_budget(w, block, frac, w_bits, in_bits, budget, k_digits, measure)
        err = float(((wd - r.projected.to(torch.float64)) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, r, frac)
    assert best is not None
    return best[1].projected, best[1].kinds, best[2]


def layer_budgets(weights: list[torch.Tensor], groups: list[dict[str, Any]],
                  in_bits: list[int], total: float | None = None) -> list[float]:
    """Each layer's budget (modelled adder bits): what the fraction structure of its group
    (``block``, ``prune``, ``unify``, ``w_bits``, ``k_digits``, ``w_scale``) costs for the
    weights ``weights``; with ``total`` those costs are scaled to sum to it."""
    costs = []
    for w, g, b in zip(weights, groups, in_bits):
        z, kinds, w_frac = project_scaled(w, g["block"], g["prune"], g["unify"], g["w_bits"],
                                          g.get("k_digits"), search=g.get("w_scale") == "search")
        assert w_frac is not None
        costs.append(layer_cost(z, kinds, g["block"], w_frac, g["w_bits"], b,
                                g.get("measure", "luts")))
    if total is None:
        return costs
    whole = sum(costs)
    if whole <= 0:
        return [total / len(costs)] * len(costs)
    return [total * c / whole for c in costs]


class CostPenalty:
    """The differentiable surrogate of the cost for the W-step (``CompressConfig.cost_reg``):
    ``weight * sum_b price_b * ||W_b||_2`` over every block of every layer, a group lasso
    whose per-block price is what keeping the block costs at the least (a one-digit unified
    block: its share of the signed-sum tree and one row-sum term, :mod:`hlsgen.cost`, at the
    layer's input width). Blocks of wide-input layers and long blocks are pulled towards zero
    harder, so the projection finds them cheap to prune."""

    def __init__(self, modules: list[torch.nn.Module], blocks: list[tuple[int, int]],
                 in_bits: list[int], weight: float) -> None:
        if weight < 0:
            raise ValueError(f"a cost penalty weight must be >= 0, got {weight}")
        self.weight = float(weight)
        self.terms: list[tuple[torch.nn.Module, tuple[int, int], torch.Tensor]] = []
        for m, block, b in zip(modules, blocks, in_bits):
            w = m.weight.detach()
            _, valid = blocked(w, block)
            br, bc = block
            nbr, nbc = valid.shape[:2]
            vmat = valid.reshape(nbr, nbc, br, bc)
            n_rows = vmat.any(-1).sum(-1)
            n_cols = vmat.any(-2).sum(-1)
            price = torch.tensor([[float(n_rows[r, c]) * hwcost.unified_block_bits(
                int(n_cols[r, c]), 1, int(b)) for c in range(nbc)] for r in range(nbr)],
                dtype=w.dtype)
            self.terms.append((m, (int(br), int(bc)), price))

    def __call__(self) -> torch.Tensor:
        total = torch.zeros(())
        for m, block, price in self.terms:
            wb, _ = blocked(m.weight, block)
            norms = torch.sqrt((wb * wb).sum(-1) + 1e-12)
            total = total + (price * norms).sum()
        return self.weight * total


def with_budgets(groups: list[dict[str, Any]], weights: list[torch.Tensor], in_bits: int,
                 a_bits: int, out_features: int, objective: str,
                 max_luts: int | None = None) -> list[dict[str, Any]]:
    """The sparsifier groups of a run whose ``objective`` is ``"luts"`` or ``"bits"``: each
    gains its ``measure``, its input width (``in_bits`` for the first layer, ``a_bits`` for
    the rest) and its ``budget`` (:func:`layer_budgets`; ``max_luts`` the whole design's in
    estimated LUT-eq, converted to adder bits after the requantize logic of
    ``out_features`` outputs of ``a_bits``). ``"multipliers"`` returns the groups as they
    are."""
    if objective == "multipliers":
        return groups
    widths = [int(in_bits)] + [int(a_bits)] * (len(groups) - 1)
    marked = [{**g, "measure": objective} for g in groups]
    total = None
    if max_luts is not None:
        total = hwcost.adder_bits_for_lut_eq(max_luts, out_features * a_bits)
    budgets = layer_budgets(weights, marked, widths, total)
    return [{**g, "budget": b, "in_bits": n} for g, b, n in zip(marked, budgets, widths)]
