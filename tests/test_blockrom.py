"""The exported block ROMs hold exactly the artifact's weights, kinds and biases.

Decodes every ROM from its ``.mem`` text through the documented bit layout and rebuilds the
weight matrix, block-kind map and biases of each layer, for block shapes with edge blocks.
"""

from __future__ import annotations

import numpy as np
import pytest

from hlsgen.artifact import BlockKind, block_grid, block_slices
from hlsgen.blockrom import design_roms
from hlsgen.plan import make_plan
from hlsgen.randnet import random_network
from hlsgen.rom import from_twos, read_mem, to_mem, unpack_fields


def _decode_layer(roms: dict, prefix: str, layer):
    n_out, n_in, block = layer.out_features, layer.in_features, layer.block
    nbr, nbc = block_grid(n_out, n_in, block)
    kinds_img = roms[f"{prefix}_kinds"]
    kinds = np.array([[unpack_fields(w, kinds_img.layout)[f"b{c}"] for c in range(nbc)]
                      for w in read_mem(to_mem(kinds_img), kinds_img.width)])
    weight = np.zeros((n_out, n_in), dtype=np.int64)
    blocks_img = roms.get(f"{prefix}_blocks")
    words = read_mem(to_mem(blocks_img), blocks_img.width) if blocks_img else ()
    kept = [(r, c) for r in range(nbr) for c in range(nbc) if kinds[r, c] != BlockKind.PRUNED]
    assert len(words) == len(kept)
    for i, word in enumerate(words):
        f = unpack_fields(word, blocks_img.layout)
        assert (f["brow"], f["bcol"]) == kept[i]
        assert f["last"] == int(i + 1 == len(kept) or kept[i + 1][0] != kept[i][0])
        rs, cs = block_slices(f["brow"], f["bcol"], n_out, n_in, block)
        shape = (rs.stop - rs.start, cs.stop - cs.start)
        size = shape[0] * shape[1]
        if f["kind"] == 0:
            assert kinds[f["brow"], f["bcol"]] == BlockKind.UNIFIED
            mag = f["payload"] & ((1 << (layer.w_bits - 1)) - 1)
            signs = [(f["payload"] >> (layer.w_bits - 1 + k)) & 1 for k in range(size)]
            vals = [-mag if s else mag for s in signs]
        else:
            assert kinds[f["brow"], f["bcol"]] == BlockKind.DENSE
            vals = [from_twos((f["payload"] >> (k * layer.w_bits)) & ((1 << layer.w_bits) - 1),
                              layer.w_bits) for k in range(size)]
        weight[rs, cs] = np.array(vals).reshape(shape)
    bias_img = roms[f"{prefix}_bias"]
    bias = [from_twos(w, bias_img.width) for w in read_mem(to_mem(bias_img), bias_img.width)]
    return kinds, weight, bias


@pytest.mark.parametrize("sizes, block, w_bits, probs", [
    ([10, 7, 5], (3, 2), 8, (0.4, 0.4, 0.2)),
    ([9, 6, 4], (1, 1), 2, (0.3, 0.4, 0.3)),
    ([20, 12], (4, 8), 16, (0.2, 0.5, 0.3)),
    ([8, 6, 4], (2, 2), 5, (1.0, 0.0, 0.0)),
])
def test_block_roms_rebuild_the_artifact(sizes, block, w_bits, probs):
    net = random_network(np.random.default_rng(len(sizes) * w_bits), sizes, block, w_bits,
                         kind_probs=probs)
    roms = {img.name: img for img in design_roms(make_plan(net))}
    for i, layer in enumerate(net.layers):
        kinds, weight, bias = _decode_layer(roms, f"l{i}_{layer.name}", layer)
        assert (kinds == layer.kinds).all()
        assert (weight == layer.weight).all()
        assert bias == layer.bias.tolist()
