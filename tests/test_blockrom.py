"""The exported block ROMs hold exactly the artifact's weights, kinds and biases.

Decodes every ROM from its ``.mem`` text through the documented bit layout (the folded PEs'
walk ROM, one word per PE per address) and rebuilds the weight matrix, block-kind map and
biases of each layer, for block shapes with edge blocks and several PE counts.
"""

from __future__ import annotations

import numpy as np
import pytest

from hlsgen.artifact import BlockKind, block_grid, block_slices
from hlsgen.blockrom import design_roms, unpack_walk
from hlsgen.plan import make_plan
from hlsgen.randnet import random_network
from hlsgen.schedules.folded import schedule_folded
from hlsgen.rom import from_twos, read_mem, to_mem, unpack_fields


def _decode_layer(roms: dict, layer, cap):
    """Rebuild a layer from its ROM texts alone: the kind map, and the weights and biases from
    the walk ROM the folded PEs read (every PE's words, through the documented layout)."""
    n_out, n_in, block = layer.out_features, layer.in_features, layer.block
    prefix = cap.rom[:-len("_blocks")]
    nbr, nbc = block_grid(n_out, n_in, block)
    kinds_img = roms[f"{prefix}_kinds"]
    kinds = np.array([[unpack_fields(w, kinds_img.layout)[f"b{c}"] for c in range(nbc)]
                      for w in read_mem(to_mem(kinds_img), kinds_img.width)])
    walk = roms[cap.rom]
    assert (walk.width, walk.depth) == (cap.pes * cap.pe_width, cap.depth)
    weight = np.zeros((n_out, n_in), dtype=np.int64)
    bias = [None] * n_out
    seen = []
    br, bc = block
    for pe in unpack_walk(read_mem(to_mem(walk), walk.width), cap):
        first_row = True
        for f in pe:
            if not f["valid"]:
                assert f == {k: 0 for k in f}  # padding words are zero
                continue
            assert f["first"] == int(first_row)
            first_row = bool(f["last"])
            rs, cs = block_slices(f["brow"], f["bcol"], n_out, n_in, block)
            if f["first"]:
                for r in range(rs.start, rs.stop):
                    assert bias[r] is None
                    bias[r] = from_twos((f["bias"] >> ((r - rs.start) * cap.bias_bits))
                                        & ((1 << cap.bias_bits) - 1), cap.bias_bits)
            else:
                assert f["bias"] == 0
            kind = kinds[f["brow"], f["bcol"]]
            if kind == BlockKind.PRUNED:  # a bias-only word: a row with no kept block
                assert f["payload"] == 0 and f["first"] and f["last"]
                assert (kinds[f["brow"]] == BlockKind.PRUNED).all()
                continue
            seen.append((f["brow"], f["bcol"]))
            for r in range(rs.start, rs.stop):
                for c in range(cs.start, cs.stop):
                    pos = (r - rs.start) * bc + (c - cs.start)
                    if f["kind"] == 0:
                        assert kind == BlockKind.UNIFIED
                        mag = f["payload"] & ((1 << cap.mag_bits) - 1)
                        weight[r, c] = -mag if (f["payload"] >> (cap.mag_bits + pos)) & 1 \
                            else mag
                    else:
                        assert kind == BlockKind.DENSE
                        weight[r, c] = from_twos((f["payload"] >> (pos * cap.w_bits))
                                                 & ((1 << cap.w_bits) - 1), cap.w_bits)
    kept = sorted((r, c) for r in range(nbr) for c in range(nbc)
                  if kinds[r, c] != BlockKind.PRUNED)
    assert sorted(seen) == kept  # every kept block exactly once
    bias_img = roms[f"{prefix}_bias"]
    assert bias == [from_twos(w, bias_img.width)
                    for w in read_mem(to_mem(bias_img), bias_img.width)]
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
    for pes in (1, 2):
        schedule = schedule_folded(make_plan(net), (pes,) * len(net.layers))
        roms = {img.name: img for img in design_roms(schedule)}
        for layer, folded in zip(net.layers, schedule.layers):
            kinds, weight, bias = _decode_layer(roms, layer, folded.capacity)
            assert (kinds == layer.kinds).all()
            assert (weight == layer.weight).all()
            assert bias == layer.bias.tolist()
