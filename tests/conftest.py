"""Shared helpers for the unit tests: hand-built layers, legal random networks, structural
equality of networks, and re-hashing of hand-edited artifact documents.

Everything here is deliberately written without calling the code under test where the test
needs an independent answer (block kinds, checksums, widths are recomputed by hand).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any, Sequence

import numpy as np

from hlsgen.artifact import BlockKind, DenseLayer, Network, QType
from hlsgen.randnet import random_network

FRAC_MIN = -32  # the artifact's legal frac range is [-32, 32]


def blocks_of(rows: int, cols: int, block: tuple[int, int]):
    """Yield ``(brow, bcol, row_range, col_range)`` of every block, edge blocks clipped.

    An independent re-implementation of the tiling (plain ``range`` arithmetic)."""
    br, bc = block
    for brow in range(-(-rows // br)):
        for bcol in range(-(-cols // bc)):
            yield (brow, bcol, range(brow * br, min(rows, brow * br + br)),
                   range(bcol * bc, min(cols, bcol * bc + bc)))


def infer_kinds(weight: np.ndarray, block: tuple[int, int]) -> np.ndarray:
    """Kinds from weights: all zero -> pruned, one shared magnitude -> unified, else dense."""
    rows, cols = weight.shape
    nbr, nbc = -(-rows // block[0]), -(-cols // block[1])
    kinds = np.zeros((nbr, nbc), dtype=np.uint8)
    for brow, bcol, rr, cc in blocks_of(rows, cols, block):
        mags = {abs(int(weight[r, c])) for r in rr for c in cc}
        if mags == {0}:
            kinds[brow, bcol] = BlockKind.PRUNED
        elif len(mags) == 1:
            kinds[brow, bcol] = BlockKind.UNIFIED
        else:
            kinds[brow, bcol] = BlockKind.DENSE
    return kinds


def make_layer(weight: Sequence[Sequence[int]], bias: Sequence[int], *, block=(1, 1),
               kinds: Sequence[str] | None = None, w_bits: int = 8, w_frac: int = 0,
               output: QType = QType(8, 0, True), relu: bool = False,
               name: str = "fc") -> DenseLayer:
    """A DenseLayer from plain lists; ``kinds`` as strings of P/U/D letters (or inferred)."""
    w = np.array(weight, dtype=np.int64).reshape(len(weight), -1)
    if kinds is None:
        k = infer_kinds(w, block)
    else:
        k = np.array([["PUD".index(ch) for ch in row] for row in kinds], dtype=np.uint8)
    return DenseLayer(name=name, in_features=w.shape[1], out_features=w.shape[0],
                      block=tuple(block), kinds=k, weight=w,
                      bias=np.array(bias, dtype=np.int64), w_bits=w_bits, w_frac=w_frac,
                      output=output, relu=relu)


def make_net(layers: Sequence[DenseLayer], input_q: QType = QType(8, 0, False),
             name: str = "handnet") -> Network:
    return Network(name=name, input_features=layers[0].in_features, input=input_q,
                   layers=tuple(layers), meta={"source": "test"})


def legal_random_network(seed: int, sizes: Sequence[int], block: tuple[int, int],
                         w_bits: int = 8, a_bits: int = 8,
                         kind_probs: tuple[float, float, float] = (0.5, 0.3, 0.2),
                         input_signed: bool = False, bias_scale: float = 1.0,
                         name: str = "random") -> Network:
    """``randnet.random_network``, with output fracs clamped at -32.

    ``random_network`` lets the output frac drift below the artifact's -32 limit on deep or
    wide-bit networks; raising a too-low frac to -32 keeps every requantize shift >= 0
    (the next layer's shift only grows), so the result is a legal artifact."""
    net = random_network(np.random.default_rng(seed), sizes, block, w_bits=w_bits,
                         a_bits=a_bits, kind_probs=kind_probs, bias_scale=bias_scale,
                         input_signed=input_signed, name=name)
    layers = []
    for layer in net.layers:
        if layer.output.frac < FRAC_MIN:
            layer = dataclasses.replace(
                layer, output=dataclasses.replace(layer.output, frac=FRAC_MIN))
        layers.append(layer)
    return dataclasses.replace(net, layers=tuple(layers))


def assert_nets_equal(a: Network, b: Network) -> None:
    """Field-by-field equality (Network and DenseLayer compare by identity)."""
    assert a.name == b.name
    assert a.input_features == b.input_features
    assert a.input == b.input
    assert dict(a.meta) == dict(b.meta)
    assert len(a.layers) == len(b.layers)
    for la, lb in zip(a.layers, b.layers):
        for f in ("name", "in_features", "out_features", "block", "w_bits", "w_frac",
                  "output", "relu", "type"):
            assert getattr(la, f) == getattr(lb, f), f
        assert tuple(la.block) == tuple(lb.block)
        np.testing.assert_array_equal(la.kinds, lb.kinds)
        np.testing.assert_array_equal(la.weight, lb.weight)
        np.testing.assert_array_equal(la.bias, lb.bias)


def canonical_sha256(body: Any) -> str:
    """The artifact checksum: sha256 of the canonical JSON (sorted keys, no whitespace)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()


def rehash(doc: dict) -> str:
    """Recompute ``doc["sha256"]`` after a hand edit of ``doc["network"]``; return the text."""
    doc["sha256"] = canonical_sha256(doc["network"])
    return json.dumps(doc, sort_keys=True, separators=(",", ":")) + "\n"


def signed_bits(lo: int, hi: int) -> int:
    """Two's-complement width holding [lo, hi] (and 0), computed from bit lengths."""
    def one(v: int) -> int:
        return (v.bit_length() if v >= 0 else (-v - 1).bit_length()) + 1
    return max(one(lo), one(hi), 1)
