"""Per-layer block shape and fraction proposal: a cheap, documented heuristic.

For one layer, every candidate ``(block, prune)`` is scored without training:

* **sensitivity** -- the importance-weighted relative projection error
  ``sum F * (W - P(W))**2 / sum F * W**2``, where ``P`` is the (quantized) projection onto the
  micro-structure set (:func:`compression.projection.project_scaled`, scale searched) and ``F``
  an importance per weight: the diagonal empirical Fisher ``mean(grad**2)`` over a few
  batches (:func:`fisher_diagonal`), or 1 without data. It is the first-order estimate of the
  loss increase of the projection, normalized so that layers compare; ADMM's job is to shrink
  exactly this distance, so a setting with a small one is one ADMM reaches at little cost;
* **hardware cost** -- what hlsgen would count for the projected layer: weight bits (block
  map + magnitudes + signs + dense weights, :func:`hlsgen.blocks.stored_bits`) and constant
  multipliers (one per row of a unified block whose magnitude is not a power of two, one per
  such dense weight).

The proposal is the cheapest candidate (weight bits, then multipliers, then the smaller
prune fraction) whose sensitivity is at most ``budget``; if none is, the least sensitive.
Exhaustive accuracy sweeps belong to the benchmark (``benchmarks/compression.py``); this
only orders candidates so a user starts near a good setting per layer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from hlsgen.blocks import KIND_MAP_BITS, BlockKind, block_slices, is_multiplier, stored_bits

from .projection import project_scaled

__all__ = ["Candidate", "LayerProposal", "fisher_diagonal", "hardware_cost", "propose_layer",
           "propose_model"]

DEFAULT_BLOCKS: tuple[tuple[int, int], ...] = ((1, 4), (1, 8), (1, 16), (1, 32), (2, 8), (4, 4))
DEFAULT_PRUNES: tuple[float, ...] = (0.25, 0.4, 0.5, 0.6, 0.7, 0.8)


@dataclass(frozen=True)
class Candidate:
    block: tuple[int, int]
    prune: float
    unify: float
    sensitivity: float
    weight_bits: int
    multipliers: int


@dataclass(frozen=True)
class LayerProposal:
    """The chosen setting and every scored candidate (best first by cost)."""

    block: tuple[int, int]
    prune: float
    unify: float
    sensitivity: float
    weight_bits: int
    multipliers: int
    candidates: tuple[Candidate, ...]

    def config(self) -> dict[str, object]:
        """The per-layer sparsifier settings (``block``, ``prune``, ``unify``)."""
        return {"block": self.block, "prune": self.prune, "unify": self.unify}


def hardware_cost(weight: np.ndarray, kinds: np.ndarray, block: tuple[int, int],
                  w_bits: int) -> tuple[int, int]:
    """``(weight_bits, multipliers)`` hlsgen counts for integer ``weight`` with these kinds."""
    rows, cols = weight.shape
    nbr, nbc = kinds.shape
    bits, mults = KIND_MAP_BITS * nbr * nbc, 0
    for brow in range(nbr):
        for bcol in range(nbc):
            kind = BlockKind(int(kinds[brow, bcol]))
            rs, cs = block_slices(brow, bcol, rows, cols, block)
            w = weight[rs, cs]
            bits += stored_bits(kind, w.shape[0], w.shape[1], w_bits)
            if kind is BlockKind.UNIFIED:
                mults += w.shape[0] if is_multiplier(int(abs(w.flat[0]))) else 0
            elif kind is BlockKind.DENSE:
                mults += sum(is_multiplier(int(v)) for v in w.flat)
    return bits, mults


def fisher_diagonal(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                    batch_size: int = 256) -> dict[nn.Linear, torch.Tensor]:
    """Diagonal empirical Fisher ``mean(grad**2)`` of every Linear weight (cross-entropy)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    acc = {m: torch.zeros_like(m.weight) for m in linears}
    n = 0
    for i in range(0, x.shape[0], batch_size):
        model.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(x[i:i + batch_size]), y[i:i + batch_size])
        loss.backward()
        for m in linears:
            acc[m] += m.weight.grad.detach() ** 2
        n += 1
    model.zero_grad(set_to_none=True)
    return {m: a / max(n, 1) for m, a in acc.items()}


@torch.no_grad()
def propose_layer(weight: torch.Tensor, importance: torch.Tensor | None = None,
                  blocks: Iterable[tuple[int, int]] = DEFAULT_BLOCKS,
                  prunes: Iterable[float] = DEFAULT_PRUNES, unify: float = 1.0,
                  w_bits: int = 8, k_digits: int | None = None,
                  budget: float = 0.3) -> LayerProposal:
    """Score every ``(block, prune)`` of one layer and propose one (see the module doc)."""
    w = weight.detach().to(torch.float64)
    f = torch.ones_like(w) if importance is None else importance.detach().to(torch.float64)
    total = float((f * w * w).sum()) or 1.0
    cands = []
    for block in blocks:
        block = (int(block[0]), int(block[1]))
        for prune in prunes:
            z, kinds, w_frac = project_scaled(w, block, prune, unify, w_bits, k_digits,
                                              search=True)
            sens = float((f * (w - z) ** 2).sum()) / total
            ints = np.rint(z.numpy() * 2.0 ** int(w_frac)).astype(np.int64)
            bits, mults = hardware_cost(ints, kinds, block, w_bits)
            cands.append(Candidate(block, float(prune), float(unify), sens, bits, mults))
    cands.sort(key=lambda c: (c.weight_bits, c.multipliers, c.prune, c.block))
    ok = [c for c in cands if c.sensitivity <= budget]
    best = ok[0] if ok else min(cands, key=lambda c: c.sensitivity)
    return LayerProposal(best.block, best.prune, best.unify, best.sensitivity,
                         best.weight_bits, best.multipliers, tuple(cands))


def propose_model(model: nn.Module, x: torch.Tensor | None = None,
                  y: torch.Tensor | None = None, budgets: Sequence[float] | float = 0.3,
                  **kwargs: object) -> list[LayerProposal]:
    """:func:`propose_layer` for every Linear of ``model`` (Fisher importance when data is
    given); ``budgets`` is one budget or one per layer (give the classifier a smaller one:
    it is the most sensitive layer)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if isinstance(budgets, (int, float)):
        budgets = [float(budgets)] * len(linears)
    if len(budgets) != len(linears):
        raise ValueError(f"{len(budgets)} budgets for {len(linears)} layers")
    fisher = fisher_diagonal(model, x, y) if x is not None and y is not None else {}
    return [propose_layer(m.weight, fisher.get(m), budget=b, **kwargs)  # type: ignore[arg-type]
            for m, b in zip(linears, budgets)]
