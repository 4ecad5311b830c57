"""The feature-map layer kinds: golden conv2d against a plain numpy reference, pooling,
flatten, shapes, the artifact round trip, and bad JSON naming its field and fix."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from hlsgen.artifact import ArtifactError, QType, dumps, loads, network_from_json, network_to_json
from hlsgen.layers import Conv2dLayer, KINDS
from hlsgen.numerics import forward, forward_all, requantize
from hlsgen.plan import make_plan
from hlsgen.randcnn import random_cnn


def reference_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: tuple[int, int],
                   padding: tuple[int, int]) -> np.ndarray:
    """Textbook convolution with explicit loops: x [N, C, H, W], w [O, C, Kh, Kw]."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    ph, pw = padding
    ho = (h + 2 * ph - kh) // stride[0] + 1
    wo = (wd + 2 * pw - kw) // stride[1] + 1
    out = np.zeros((n, o, ho, wo), dtype=np.int64)
    for oy in range(ho):
        for ox in range(wo):
            for ky in range(kh):
                for kx in range(kw):
                    iy, ix = oy * stride[0] + ky - ph, ox * stride[1] + kx - pw
                    if 0 <= iy < h and 0 <= ix < wd:
                        out[:, :, oy, ox] += x[:, :, iy, ix] @ w[:, :, ky, kx].T
    return out + b[None, :, None, None]


GEOMETRIES = [
    dict(chw=(3, 6, 7), out=4, kernel=(3, 3), stride=(1, 1), padding=(1, 1), block=(1, 3)),
    dict(chw=(2, 8, 8), out=5, kernel=(3, 2), stride=(2, 1), padding=(0, 1), block=(2, 2)),
    dict(chw=(1, 5, 5), out=2, kernel=(1, 1), stride=(1, 1), padding=(0, 0), block=(1, 1)),
    dict(chw=(4, 7, 6), out=3, kernel=(5, 3), stride=(2, 3), padding=(2, 1), block=(3, 8)),
]


@pytest.mark.parametrize("g", GEOMETRIES)
def test_conv_matches_numpy_reference(g):
    rng = np.random.default_rng(7)
    net = random_cnn(rng, g["chw"], [dict(out=g["out"], kernel=g["kernel"], stride=g["stride"],
                                          padding=g["padding"], block=g["block"])])
    conv = net.layers[0]
    x = rng.integers(0, 256, size=(5, *g["chw"]))
    x[0] = 255  # the extremes
    x[1] = 0
    acc = reference_conv(x, conv.kernel_weight(), conv.bias, conv.stride, conv.padding)
    shift = net.input.frac + conv.w_frac - conv.output.frac
    want = requantize(acc, shift, conv.relu, conv.output)
    got = forward(net, x.reshape(5, -1))
    assert got.shape == (5, *conv.out_shape)
    assert np.array_equal(got, want)
    # the weight matrix layout is the documented one
    o, c, kh, kw = conv.kernel_weight().shape
    ky, kx, ch = kh - 1, kw - 1, c - 1
    assert conv.weight[o - 1, (ky * kw + kx) * c + ch] == conv.kernel_weight()[o - 1, ch, ky, kx]
    assert np.array_equal(Conv2dLayer.matrix_from_weight(conv.kernel_weight()), conv.weight)


def test_conv_shapes_match_torch_rule():
    rng = np.random.default_rng(1)
    for g in GEOMETRIES:
        net = random_cnn(rng, g["chw"], [dict(out=g["out"], kernel=g["kernel"],
                                              stride=g["stride"], padding=g["padding"],
                                              block=g["block"])])
        c, h, w = g["chw"]
        ho = (h + 2 * g["padding"][0] - g["kernel"][0]) // g["stride"][0] + 1
        wo = (w + 2 * g["padding"][1] - g["kernel"][1]) // g["stride"][1] + 1
        assert net.layers[0].out_shape == (g["out"], ho, wo)


def test_pooling_and_flatten():
    rng = np.random.default_rng(3)
    for kind in ("max", "avg"):
        net = random_cnn(rng, (2, 7, 9), [dict(out=3, kernel=3, padding=1, block=(1, 2))],
                         pool=(kind, 2), dense=(5,))
        x = rng.integers(0, 256, size=(4, 2 * 7 * 9))
        outs = forward_all(net, x)
        conv_out, pooled, flat = outs[0], outs[1], outs[2]
        assert pooled.shape == (4, 3, 3, 4)          # floor mode: row 6 and column 8 dropped
        win = conv_out[:, :, :6, :8].reshape(4, 3, 3, 2, 4, 2)
        if kind == "max":
            assert np.array_equal(pooled, win.max(axis=(3, 5)))
        else:
            s = win.sum(axis=(3, 5))
            assert np.array_equal(pooled, (s + 2) >> 2)     # round half up by 2 bits
            assert net.layers[1].plan(1, net.layers[0].output).shift == 2
        assert np.array_equal(flat, pooled.reshape(4, -1))  # PyTorch order c*H*W + y*W + x
        assert net.output_features == 5 and net.shapes[-2] == (36,)


def test_avgpool_rounds_half_up():
    from hlsgen.numerics import pool_avg
    q = QType(8, 0, True)
    x = np.array([[[[1, 2], [0, 0]], [[-1, -2], [0, 0]], [[-2, 0], [0, 0]]]])  # sums 3, -3, -2
    assert pool_avg(x, (2, 2), q).ravel().tolist() == [1, -1, 0]  # 0.75, -0.75, -0.5 -> up


def test_round_trip_and_plan():
    rng = np.random.default_rng(5)
    net = random_cnn(rng, (3, 8, 8), [dict(out=4, kernel=3, padding=1, block=(1, 3)),
                                      dict(out=4, kernel=3, stride=2, block=(2, 4))],
                     pool=("avg", 2), dense=(6, 3))
    text = dumps(net)
    back = loads(text)
    assert dumps(back) == text
    x = rng.integers(0, 256, size=(6, 3 * 8 * 8))
    assert np.array_equal(forward(net, x), forward(back, x))
    assert [type(layer).kind for layer in back.layers] == [
        "conv2d", "conv2d", "avgpool2d", "flatten", "dense", "dense"]
    plan = make_plan(back)
    conv = plan.layers[0]
    assert conv.kind == "conv2d" and conv.in_features == 27 and conv.out_shape == (4, 8, 8)
    assert conv.dense_multipliers == 4 * 27
    assert plan.layers[2].kept_blocks == () and plan.layers[2].out_shape == (4, 1, 1)  # 8 -> 8 -> 3 -> 1
    assert set(KINDS) >= {"conv2d", "maxpool2d", "avgpool2d", "flatten"}


def _conv_json() -> dict:
    net = random_cnn(np.random.default_rng(2), (2, 5, 5),
                     [dict(out=3, kernel=3, padding=1, block=(1, 2))], pool=("max", 2),
                     dense=(4,))
    return network_to_json(net)


@pytest.mark.parametrize("edit, field, fix", [
    (lambda n: n["layers"][0].update(kernel=[3, 3, 3]), "'conv0').kernel", "geometry"),
    (lambda n: n["layers"][0].update(padding=[3, 3]), "'conv0').padding", "geometry"),
    (lambda n: n["layers"][0].update(channels=3), "'conv0').channels", "re-export"),
    (lambda n: n["layers"][0].pop("out_channels"), "missing field 'out_channels'",
     "regenerate"),
    (lambda n: n["layers"][0].update(block_kinds=["P"]), "'conv0').block_kinds", "regenerate"),
    (lambda n: n["layers"][1].update(kernel=[3, 3]), "'pool').kernel", "power-of-two"),
    (lambda n: n["layers"][1].update(kernel=[8, 8]), "'pool').kernel", "larger"),
    (lambda n: n["layers"][1]["output"].update(frac=n["layers"][1]["output"]["frac"] + 1),
     "'pool').output", "previous layer's output"),
    (lambda n: n["layers"][2].update(in_height=4), "'flatten').channels", "re-export"),
    (lambda n: n["layers"][3].update(in_features=7), "'fc0').in_features", "previous layer"),
    (lambda n: n["layers"][0].update(type="conv3d"), "unsupported layer type 'conv3d'",
     "upgrade hlsgen"),
])
def test_bad_json_names_field_and_fix(edit, field, fix):
    body = copy.deepcopy(_conv_json())
    edit(body)
    with pytest.raises(ArtifactError) as err:
        network_from_json(json.loads(json.dumps(body)))
    msg = str(err.value)
    assert "\n" not in msg and field in msg and fix in msg, msg


def test_architectures_and_refusals(tmp_path, capsys):
    from hlsgen import artifact as art
    from hlsgen.cli import main
    from hlsgen.schedules import make_schedule
    from hlsgen.schedules.stream import (CollectStage, ConvStage, DenseStage, PoolStage,
                                         StreamSchedule)

    net = random_cnn(np.random.default_rng(4), (2, 6, 6),
                     [dict(out=3, kernel=3, padding=1, block=(1, 2))], pool=("max", 2),
                     dense=(4,))
    schedule = make_schedule(make_plan(net), "unrolled")
    assert isinstance(schedule, StreamSchedule)
    assert [type(s) for s in schedule.stages] == [ConvStage, PoolStage, CollectStage,
                                                  DenseStage]
    # a conv-ending network gets a collector of its output map
    tail = random_cnn(np.random.default_rng(4), (2, 6, 6), [dict(out=3, kernel=3,
                                                                block=(1, 2))])
    stages = make_schedule(make_plan(tail)).stages
    assert isinstance(stages[-1], CollectStage) and stages[-1].index == -1
    # the folded architecture: the same chain with folded conv and dense stages
    from hlsgen.schedules.folded import FoldedConvStage, FoldedDenseStage, FoldedSchedule

    folded = make_schedule(make_plan(net), "folded")
    assert isinstance(folded, FoldedSchedule)
    assert [type(s) for s in folded.stages] == [FoldedConvStage, PoolStage, CollectStage,
                                                FoldedDenseStage]
    path = art.save(net, tmp_path / "cnn.json")
    code = main(["generate", str(path), "--arch", "folded", "--backend", "hls", "--out",
                 str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2 and "feature maps" in err and "--arch unrolled" in err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "d").exists()
    assert main(["generate", str(path), "--out", str(tmp_path / "d")]) == 0
    assert (tmp_path / "d" / "rtl" / "random_cnn_conv0.v").is_file()
