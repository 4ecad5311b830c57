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

Quantization (the joint ADMM quantization of ADMM-NN-S): with ``w_bits`` the set also holds
every value to the layer's grid; ``w_bits`` 2 is ternary and ``w_bits`` 1 binary (every kept
weight ``+-2**-w_frac``: only pruned and unified blocks, the magnitude fixed at one grid step).
``k_digits`` further restricts every magnitude to integers with at most ``k`` nonzero digits in
canonical signed-digit form (:func:`csd_digits`; the subword weights of the Tight Compression
paper: ``k - 1`` adders each in multiplier-free hardware); rounding is then to the nearest
allowed level (:func:`weight_levels`). :func:`project_scaled` also chooses the layer's
power-of-two scale: the candidate ``w_frac`` whose projection is closest to ``w``.

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
    "csd_digits",
    "expand_blocks",
    "grid_round",
    "kinds_of",
    "project",
    "project_scaled",
    "quantize_to_grid",
    "solve_assignment",
    "unblocked",
    "weight_frac",
    "weight_levels",
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
    """Power-of-two weight scale: the largest ``frac`` for which ``max_abs`` fits ``w_bits``
    (binary ``w_bits`` 1 has magnitude 1, like ternary: the same frac as ``w_bits`` 2)."""
    from hlsgen.numerics import frac_for_range

    return frac_for_range(float(max_abs), max(2, int(w_bits)), signed=True)


def q_max(w_bits: int) -> int:
    """Largest integer weight magnitude of ``w_bits`` (1 for binary, like ternary)."""
    return 1 if w_bits == 1 else (1 << (w_bits - 1)) - 1


def csd_digits(n: int) -> int:
    """Nonzero digits of ``|n|`` in canonical signed-digit (non-adjacent) form: 7 = 8 - 1 has 2."""
    n, count = abs(int(n)), 0
    while n:
        if n & 1:
            count += 1
            n -= 2 - (n & 3)  # digit +1 when n = 1 mod 4, -1 when n = 3 mod 4
        n >>= 1
    return count


def weight_levels(w_bits: int, k_digits: int | None = None) -> np.ndarray:
    """The allowed integer magnitudes, ascending, 0 included: ``0..q_max(w_bits)`` with at
    most ``k_digits`` nonzero CSD digits each."""
    levels = [m for m in range(q_max(w_bits) + 1)
              if k_digits is None or csd_digits(m) <= k_digits]
    return np.array(levels, dtype=np.int64)


def grid_round(x: torch.Tensor, w_frac: int, w_bits: int,
               k_digits: int | None = None) -> torch.Tensor:
    """Integers ``k`` (as a float tensor) of the nearest grid values ``k * 2**-w_frac``.

    Rounding is symmetric (half to even), so ``grid_round(-x) == -grid_round(x)`` and a
    unified block keeps one magnitude; ``|k|`` saturates at ``2**(w_bits-1) - 1``. With
    ``k_digits`` the magnitude is the nearest allowed level (:func:`weight_levels`, ties to
    the smaller one), still sign-symmetric.
    """
    scaled = x * (2.0 ** w_frac)
    if k_digits is None:
        top = q_max(w_bits)
        return torch.clamp(torch.round(scaled), -top, top)
    levels = torch.as_tensor(weight_levels(w_bits, k_digits), dtype=torch.float64,
                             device=x.device)
    a = scaled.abs().to(torch.float64)
    i = torch.searchsorted(levels, a.contiguous()).clamp(1, levels.numel() - 1)
    lo, hi = levels[i - 1], levels[i]
    mag = torch.where(a - lo <= hi - a, lo, hi)
    return (torch.sign(scaled).to(torch.float64) * mag).to(x.dtype)


def quantize_to_grid(x: torch.Tensor, w_frac: int, w_bits: int,
                     k_digits: int | None = None) -> torch.Tensor:
    """Values of ``x`` rounded onto the grid (same dtype as ``x``)."""
    return grid_round(x, w_frac, w_bits, k_digits) * (2.0 ** -w_frac)


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
                w_bits: int | None = None, k_digits: int | None = None) -> BlockCosts:
    """Cost of pruning / unifying / keeping each block of ``w`` (optionally on a grid).

    Binary (``w_bits`` 1): the unified magnitude is one grid step whatever the weights, and
    a "dense" block takes the unified values (the caller allows no dense blocks)."""
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
        if w_bits == 1:
            mag = torch.full_like(mag, 2.0 ** -w_frac)
            dense = signs * mag.unsqueeze(-1)
        else:
            mag = quantize_to_grid(mag, w_frac, w_bits, k_digits)  # mag >= 0 stays >= 0
            dense = quantize_to_grid(wb, w_frac, w_bits, k_digits)
    elif k_digits is not None:
        raise ValueError("k_digits needs a quantization grid (w_bits and w_frac)")
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
            k_digits: int | None = None) -> tuple[torch.Tensor, np.ndarray]:
    """Euclidean projection of ``w`` onto S; returns ``(projected, kinds)``.

    ``projected`` has the dtype and device of ``w``; ``kinds`` is a uint8 array
    ``[n_block_rows, n_block_cols]`` of :class:`~hlsgen.artifact.BlockKind` values. With
    ``w_frac``/``w_bits`` every value is on the grid; a unified block whose magnitude rounds to
    zero (and any block that ends up all zero) is reported as pruned, so the kinds always
    describe the values (a unified block has one nonzero magnitude). Binary (``w_bits`` 1)
    unifies every block it does not prune (``unify`` is 1 there).
    """
    block = (int(block[0]), int(block[1]))
    bc = block_costs(w, block, w_frac, w_bits, k_digits)
    nbr, nbc = bc.magnitude.shape
    n_p, n_u, _ = block_counts(nbr * nbc, prune, 1.0 if w_bits == 1 else unify)
    kind = torch.from_numpy(solve_assignment(bc.cost, n_p, n_u)).reshape(nbr, nbc)
    unified = bc.signs * bc.magnitude.unsqueeze(-1)
    out = torch.where((kind == 1).unsqueeze(-1), unified,
                      torch.where((kind == 2).unsqueeze(-1), bc.dense, torch.zeros_like(bc.dense)))
    zero = (out == 0).all(-1)
    kind = torch.where(zero, torch.zeros_like(kind), kind)
    projected = unblocked(out, tuple(w.shape), block).to(dtype=w.dtype, device=w.device)
    kinds = kind.numpy().astype(np.uint8)
    return projected, kinds


def project_scaled(w: torch.Tensor, block: tuple[int, int], prune: float, unify: float,
                   w_bits: int | None, k_digits: int | None = None, search: bool = False,
                   span: int = 6) -> tuple[torch.Tensor, np.ndarray, int | None]:
    """:func:`project` with the layer's power-of-two scale: ``(projected, kinds, w_frac)``.

    Without ``search`` the scale comes from the range (:func:`weight_frac`: the largest
    weight fits). With ``search`` the projection chooses it (joint quantization): of the
    fracs ``f0 - 1 .. f0 + span`` around the range's ``f0`` (finer scales saturate the largest
    weights but resolve the many small ones, which pays at 1 to 4 bits) the one whose
    projection is nearest to ``w``; ties go to the coarser scale.
    """
    if w_bits is None:
        z, kinds = project(w, block, prune, unify, k_digits=k_digits)
        return z, kinds, None
    f0 = weight_frac(float(w.detach().abs().max()), int(w_bits))
    if not search:
        z, kinds = project(w, block, prune, unify, f0, w_bits, k_digits)
        return z, kinds, f0
    best: tuple[float, torch.Tensor, np.ndarray, int] | None = None
    wd = w.detach().to(torch.float64)
    for frac in range(f0 - 1, f0 + span + 1):
        z, kinds = project(w, block, prune, unify, frac, w_bits, k_digits)
        err = float(((wd - z.to(torch.float64)) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, z, kinds, frac)
    assert best is not None
    return best[1], best[2], best[3]


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
