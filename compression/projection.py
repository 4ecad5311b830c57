"""Euclidean projection of a weight matrix onto the micro-structure set S.

A 2-D weight ``[out, in]`` is tiled by blocks ``(br, bc)`` (edge blocks are clipped, exactly
as :func:`hlsgen.artifact.block_slices` does). Every block becomes one of

* PRUNED  -- all zero; cost ``||W_b||^2``;
* UNIFIED -- ``sign(W_b) * m`` with one magnitude ``m``; the best ``m`` is ``mean|W_b|``, so the
  cost is ``||W_b - sign(W_b) mean|W_b| ||^2`` (``sign(0)`` counts as ``+``);
* DENSE   -- unchanged; cost 0.

S = {at least ``ceil(prune * N)`` blocks pruned, at least ``ceil(unify * (N - n_pruned))`` of
the remaining blocks unified, the rest dense}; optionally every value also lies on the
fixed-point grid ``k * 2**-w_frac`` with ``|k| <= 2**(w_bits-1) - 1`` (then the unified
magnitude is rounded to the grid, dense weights are rounded to the grid, and the costs are
the costs of those rounded blocks).

Since a unified block can always take ``m = 0`` and a dense block can always take the unified
values, ``cost(P) >= cost(U) >= cost(D)`` per block, so an optimum uses exactly the minimum
counts. Choosing which blocks get which kind is a small transportation problem (N blocks into
three bins of fixed sizes). The greedy choice -- the ``n_p`` blocks cheapest to prune, then of
the rest the ``n_u`` cheapest to unify -- is the starting point, but it is *not* always optimal
(a block that is cheap to prune may be even cheaper to unify, freeing a prune slot for a block
whose unify cost is high). It is then improved by cancelling negative exchange cycles between
the three bins (a block moved P->U and another U->P, or a rotation P->U->D->P ...); with only
three bins, "no negative 2- or 3-cycle" is exactly the optimality condition of the
transportation problem, so the result is the exact Euclidean projection for these counts.

All tie-breaking is deterministic (stable sorts, first index wins), so the same input gives
the same output bit for bit, and projecting a projected matrix returns the same values (the
kinds can differ only where two kinds give identical values, e.g. 1x1 unified vs dense).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from hlsgen.artifact import BlockKind, block_grid

__all__ = [
    "BlockCosts",
    "block_costs",
    "block_counts",
    "blocked",
    "expand_blocks",
    "grid_round",
    "kinds_of",
    "project",
    "quantize_to_grid",
    "solve_assignment",
    "unblocked",
    "weight_frac",
]

_KINDS = (BlockKind.PRUNED, BlockKind.UNIFIED, BlockKind.DENSE)


def _ceil_frac(fraction: float, n: int) -> int:
    """``ceil(fraction * n)`` robust to float noise (0.7 * 100 is 70, not 71)."""
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"a block fraction must lie in [0, 1], got {fraction}")
    return min(n, max(0, math.ceil(fraction * n - 1e-9)))


def block_counts(n_blocks: int, prune: float, unify: float) -> tuple[int, int, int]:
    """``(n_pruned, n_unified, n_dense)`` for ``n_blocks`` blocks and the two fractions."""
    n_p = _ceil_frac(prune, n_blocks)
    n_u = _ceil_frac(unify, n_blocks - n_p)
    return n_p, n_u, n_blocks - n_p - n_u


def weight_frac(max_abs: float, w_bits: int) -> int:
    """Power-of-two weight scale: the largest ``frac`` for which ``max_abs`` fits ``w_bits``."""
    from hlsgen.numerics import frac_for_range

    return frac_for_range(float(max_abs), w_bits, signed=True)


def grid_round(x: torch.Tensor, w_frac: int, w_bits: int) -> torch.Tensor:
    """Integers ``k`` (as a float tensor) of the nearest grid values ``k * 2**-w_frac``.

    Rounding is symmetric (half to even), so ``grid_round(-x) == -grid_round(x)`` and a
    unified block keeps one magnitude; ``|k|`` saturates at ``2**(w_bits-1) - 1``.
    """
    q_max = (1 << (w_bits - 1)) - 1
    return torch.clamp(torch.round(x * (2.0 ** w_frac)), -q_max, q_max)


def quantize_to_grid(x: torch.Tensor, w_frac: int, w_bits: int) -> torch.Tensor:
    """Values of ``x`` rounded onto the grid (same dtype as ``x``)."""
    return grid_round(x, w_frac, w_bits) * (2.0 ** -w_frac)


def blocked(w: torch.Tensor, block: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """``w`` zero-padded and viewed as ``[nbr, nbc, br*bc]``, plus the validity mask."""
    rows, cols = w.shape
    br, bc = block
    nbr, nbc = block_grid(rows, cols, block)
    pad = (0, nbc * bc - cols, 0, nbr * br - rows)
    wp = torch.nn.functional.pad(w, pad)
    valid = torch.nn.functional.pad(torch.ones_like(w, dtype=torch.bool), pad)

    def view(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(nbr, br, nbc, bc).permute(0, 2, 1, 3).reshape(nbr, nbc, br * bc)

    return view(wp), view(valid)


def unblocked(t: torch.Tensor, shape: tuple[int, int], block: tuple[int, int]) -> torch.Tensor:
    """Inverse of :func:`blocked` (drops the padding)."""
    rows, cols = shape
    br, bc = block
    nbr, nbc = t.shape[:2]
    full = t.reshape(nbr, nbc, br, bc).permute(0, 2, 1, 3).reshape(nbr * br, nbc * bc)
    return full[:rows, :cols]


@dataclass(frozen=True)
class BlockCosts:
    """Per-block costs and the values each kind would give, in float64.

    ``cost`` is ``[N, 3]`` (pruned, unified, dense) for the N blocks in row-major block order;
    ``magnitude`` the unified magnitude of each block (on the grid when quantized) and
    ``dense`` the dense values (on the grid when quantized), blocked as ``[nbr, nbc, br*bc]``.
    """

    cost: torch.Tensor
    magnitude: torch.Tensor
    signs: torch.Tensor
    dense: torch.Tensor
    valid: torch.Tensor
    grid: tuple[int, int] | None  # (w_frac, w_bits)


def block_costs(w: torch.Tensor, block: tuple[int, int], w_frac: int | None = None,
                w_bits: int | None = None) -> BlockCosts:
    """Cost of pruning / unifying / keeping each block of ``w`` (optionally on a grid)."""
    if w.dim() != 2:
        raise ValueError(f"expected a 2-D weight matrix, got shape {tuple(w.shape)}")
    if len(block) != 2 or min(block) < 1:
        raise ValueError(f"block shape must be two positive integers, got {block!r}")
    if (w_frac is None) != (w_bits is None):
        raise ValueError("give both w_frac and w_bits for a quantized projection, or neither")
    wb, valid = blocked(w.detach().to(torch.float64), block)
    vf = valid.to(torch.float64)
    count = vf.sum(-1)
    absw = wb.abs()
    # sign(0) counts as +; padding gets sign 0 so it stays zero in every reconstruction.
    signs = torch.where(wb < 0, -1.0, 1.0).to(torch.float64) * vf
    mag = absw.sum(-1) / count
    amax = absw.amax(-1)
    amin = torch.where(valid, absw, torch.full_like(absw, math.inf)).amin(-1)
    mag = torch.where(amax == amin, amax, mag)  # exact when the block is already unified
    dense = wb
    if w_bits is not None:
        assert w_frac is not None
        mag = quantize_to_grid(mag, w_frac, w_bits)  # mag >= 0, so it stays >= 0
        dense = quantize_to_grid(wb, w_frac, w_bits)
    c_p = (wb * wb).sum(-1)
    c_u = ((absw - mag.unsqueeze(-1)) ** 2 * vf).sum(-1)
    c_d = ((wb - dense) ** 2).sum(-1)
    cost = torch.stack([c_p, c_u, c_d], -1).reshape(-1, 3)
    grid = None if w_bits is None else (int(w_frac), int(w_bits))  # type: ignore[arg-type]
    return BlockCosts(cost=cost, magnitude=mag, signs=signs, dense=dense, valid=valid, grid=grid)


def solve_assignment(cost: torch.Tensor | np.ndarray, n_pruned: int,
                     n_unified: int) -> np.ndarray:
    """Exact min-cost choice of kinds: ``n_pruned`` P, ``n_unified`` U, the rest D.

    ``cost`` is ``[N, 3]`` (columns P, U, D). Greedy start (cheapest to prune, then cheapest
    to unify, stable order), then negative-cycle cancelling between the three bins until none
    is left. Returns the kind of each block (0 = P, 1 = U, 2 = D) as int64.
    """
    c = np.asarray(cost.detach().cpu().numpy() if isinstance(cost, torch.Tensor) else cost,
                   dtype=np.float64)
    n = c.shape[0]
    if not (0 <= n_pruned and 0 <= n_unified and n_pruned + n_unified <= n):
        raise ValueError(f"cannot choose {n_pruned} pruned and {n_unified} unified of {n} blocks")
    kind = np.full(n, 2, dtype=np.int64)
    order = np.argsort(c[:, 0], kind="stable")
    kind[order[:n_pruned]] = 0
    rest = order[n_pruned:]
    rest = rest[np.argsort(c[rest, 1], kind="stable")]
    kind[rest[:n_unified]] = 1
    tol = 1e-12 * max(1.0, float(np.abs(c).max(initial=0.0)))
    idx = np.arange(n)
    for _ in range(10 * n + 10):
        here = c[idx, kind]
        # best[x][y]: cheapest move of one block from bin x to bin y (delta, block)
        best: dict[tuple[int, int], tuple[float, int]] = {}
        for x in range(3):
            members = np.flatnonzero(kind == x)
            if members.size == 0:
                continue
            for y in range(3):
                if y == x:
                    continue
                delta = c[members, y] - here[members]
                j = int(np.argmin(delta))
                best[(x, y)] = (float(delta[j]), int(members[j]))
        cycles = [((0, 1), (1, 0)), ((0, 2), (2, 0)), ((1, 2), (2, 1)),
                  ((0, 1), (1, 2), (2, 0)), ((0, 2), (2, 1), (1, 0))]
        gain, chosen = 0.0, None
        for cyc in cycles:
            if all(e in best for e in cyc):
                total = sum(best[e][0] for e in cyc)
                if total < gain - tol:
                    gain, chosen = total, cyc
        if chosen is None:
            return kind
        for (_, y), (_, b) in ((e, best[e]) for e in chosen):
            kind[b] = y
    raise RuntimeError("block assignment did not converge")  # pragma: no cover


def project(w: torch.Tensor, block: tuple[int, int], prune: float, unify: float,
            w_frac: int | None = None, w_bits: int | None = None,
            ) -> tuple[torch.Tensor, np.ndarray]:
    """Euclidean projection of ``w`` onto S; returns ``(projected, kinds)``.

    ``projected`` has the dtype and device of ``w``; ``kinds`` is a uint8 array
    ``[n_block_rows, n_block_cols]`` of :class:`~hlsgen.artifact.BlockKind` values. With
    ``w_frac``/``w_bits`` every value is on the grid; a unified block whose magnitude rounds to
    zero (and any block that ends up all zero) is reported as pruned, so the kinds always
    describe the values (a unified block has one nonzero magnitude).
    """
    block = (int(block[0]), int(block[1]))
    bc = block_costs(w, block, w_frac, w_bits)
    nbr, nbc = bc.magnitude.shape
    n_p, n_u, _ = block_counts(nbr * nbc, prune, unify)
    kind = torch.from_numpy(solve_assignment(bc.cost, n_p, n_u)).reshape(nbr, nbc)
    unified = bc.signs * bc.magnitude.unsqueeze(-1)
    out = torch.where((kind == 1).unsqueeze(-1), unified,
                      torch.where((kind == 2).unsqueeze(-1), bc.dense, torch.zeros_like(bc.dense)))
    zero = (out == 0).all(-1)
    kind = torch.where(zero, torch.zeros_like(kind), kind)
    projected = unblocked(out, tuple(w.shape), block).to(dtype=w.dtype, device=w.device)
    kinds = kind.numpy().astype(np.uint8)
    return projected, kinds


def kinds_of(w: torch.Tensor, block: tuple[int, int]) -> np.ndarray:
    """Kinds read off the values: all-zero blocks P, one shared nonzero magnitude U, else D."""
    wb, valid = blocked(w.detach().to(torch.float64), block)
    absw = wb.abs()
    amax = absw.amax(-1)
    amin = torch.where(valid, absw, torch.full_like(absw, math.inf)).amin(-1)
    kind = torch.where(amax == 0, 0, torch.where(amax == amin, 1, 2))
    return kind.numpy().astype(np.uint8)


def expand_blocks(values: torch.Tensor, shape: tuple[int, int],
                  block: tuple[int, int]) -> torch.Tensor:
    """A per-block tensor ``[nbr, nbc]`` broadcast to every element of a ``shape`` matrix."""
    br, bc = block
    full = values.repeat_interleave(br, 0).repeat_interleave(bc, 1)
    return full[: shape[0], : shape[1]]
