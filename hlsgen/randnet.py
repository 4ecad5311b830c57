"""Random micro-structured networks, for property tests and quick experiments."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .artifact import BlockKind, DenseLayer, Network, QType, block_grid, block_slices
from .blocks import input_width


def random_matrix(rng: np.random.Generator, n_out: int, n_in: int, block: tuple[int, int],
                  w_bits: int, kind_probs: tuple[float, float, float]
                  ) -> tuple[np.ndarray, np.ndarray]:
    """A block-kind map drawn with ``kind_probs`` (pruned, unified, dense) and a weight matrix
    consistent with it, over the whole legal weight range."""
    w_max = (1 << (w_bits - 1)) - 1
    nbr, nbc = block_grid(n_out, n_in, block)
    kinds = rng.choice(3, size=(nbr, nbc), p=kind_probs).astype(np.uint8)
    weight = np.zeros((n_out, n_in), dtype=np.int64)
    for br in range(nbr):
        for bc in range(nbc):
            rs, cs = block_slices(br, bc, n_out, n_in, block)
            shape = (rs.stop - rs.start, cs.stop - cs.start)
            if kinds[br, bc] == BlockKind.UNIFIED:
                m = int(rng.integers(1, w_max + 1))
                weight[rs, cs] = m * rng.choice([-1, 1], size=shape)
            elif kinds[br, bc] == BlockKind.DENSE:
                weight[rs, cs] = rng.integers(-w_max, w_max + 1, size=shape)
    return kinds, weight


def random_network(rng: np.random.Generator, sizes: Sequence[int], block: tuple[int, int],
                   w_bits: int = 8, a_bits: int = 8,
                   kind_probs: tuple[float, float, float] = (0.5, 0.3, 0.2),
                   bias_scale: float = 1.0, input_signed: bool = False,
                   name: str = "random", input_widths: bool = False) -> Network:
    """A network with layers ``sizes[0] -> sizes[1] -> ...``; hidden layers use ReLU.

    Block kinds are drawn with ``kind_probs`` (pruned, unified, dense); weights and biases
    are drawn over their whole legal range (``bias_scale`` scales the bias range relative
    to the accumulator's), and output fracs are chosen so outputs use their range.
    ``input_widths``: draw a per-feature input width (``Network.input_bits``) for every
    feature in ``[0, a_bits]``, zeros (dropped features) and full widths included.
    """
    w_max = (1 << (w_bits - 1)) - 1
    in_q = QType(a_bits, 0, input_signed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        last = i == len(sizes) - 2
        kinds, weight = random_matrix(rng, n_out, n_in, block, w_bits, kind_probs)
        # typical magnitude of an accumulator: sets bias range and output scale
        span = max(1, int(np.sqrt(n_in)) * w_max * (1 << (input_width(in_q) - 1)))
        bias_lim = max(1, int(span * bias_scale))
        bias = rng.integers(-bias_lim, bias_lim + 1, size=n_out).astype(np.int64)
        w_frac = int(rng.integers(0, w_bits))
        shift = max(0, int(np.ceil(np.log2(span))) - (a_bits - 1) + int(rng.integers(-2, 3)))
        out_q = QType(a_bits, max(-32, min(32, in_q.frac + w_frac - shift)), signed=last)
        layers.append(DenseLayer(
            name=f"fc{i}", in_features=n_in, out_features=n_out, block=block, kinds=kinds,
            weight=weight, bias=bias, w_bits=w_bits, w_frac=w_frac, output=out_q,
            relu=not last))
        in_q = out_q
    input_bits = None
    if input_widths:
        input_bits = tuple(int(b) for b in rng.integers(0, a_bits + 1, size=sizes[0]))
        if sizes[0] >= 2:  # both ends of the range, always
            input_bits = (0, a_bits) + input_bits[2:]
    return Network(name=name, input_features=sizes[0], input=QType(a_bits, 0, input_signed),
                   layers=tuple(layers), meta={"source": "random"}, input_bits=input_bits)


def random_inputs(rng: np.random.Generator, net: Network, count: int) -> np.ndarray:
    """Inputs over the whole input range, the extremes included."""
    q = net.input
    x = rng.integers(q.lo, q.hi + 1, size=(count, net.input_features), dtype=np.int64)
    if count >= 2:
        x[0, :] = q.lo
        x[1, :] = q.hi
    return x
