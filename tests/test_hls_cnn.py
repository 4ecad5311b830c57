"""The HLS C++ backend renders networks with feature maps (conv2d, max/avg pooling, flatten;
the unrolled architecture's streaming schedule): a conv is its shared adder graph (the same
function a dense layer is, with the plan's widths) called from a pixel loop over the padded
input with line buffers; the loops carry the documented pragmas; the top keeps one image per
call; what it cannot render is one line. (g++ runs in rtl_tests/test_csim_cnn.py.)"""

from __future__ import annotations

import re

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.backends import render
from hlsgen.backends.hls import HlsNames, activations
from hlsgen.cli import main
from hlsgen.layers import FlattenLayer
from hlsgen.network import Network
from hlsgen.plan import make_plan
from hlsgen.randcnn import random_cnn, random_conv
from hlsgen.schedules import make_schedule
from hlsgen.schedules.stream import ConvStage, PoolStage

NODE = re.compile(r"^\s*const ap_int<(\d+)> n(\d+) = (.*);$")


def _cnn(seed: int = 3, pool=("avg", 2), stride=(1, 2), padding=(1, 0)):
    return random_cnn(np.random.default_rng(seed), (2, 7, 8),
                      [dict(out=3, kernel=(3, 2), stride=stride, padding=padding,
                            block=(1, 2))], pool, (4,), input_signed=True)


def _rendered(net):
    schedule = make_schedule(make_plan(net))
    return schedule, render(schedule, "hls")


def _function(text: str, name: str) -> str:
    """The body of the C++ function ``name`` (up to the closing brace at column 0)."""
    start = re.search(rf"^(static )?void {name}\(", text, re.M)
    assert start, name
    return text[start.start():text.index("\n}\n", start.start()) + 3]


def test_every_layer_has_a_file_and_the_conv_is_its_adder_graph() -> None:
    net = _cnn()
    schedule, rendered = _rendered(net)
    names = HlsNames(schedule.plan.name)
    assert {f"hls/{names.layer_file(i)}" for i in range(len(net.layers))} <= set(rendered.files)
    conv = next(s for s in schedule.stages if isinstance(s, ConvStage))
    text = rendered.files[f"hls/{names.layer_file(conv.index)}"]
    core = _function(text, names.conv_core(conv.index))
    nodes = {int(m.group(2)): (int(m.group(1)), m.group(3))
             for m in map(NODE.match, core.splitlines()) if m}
    assert len(nodes) == len(conv.core.graph.nodes)
    for n in conv.core.graph.nodes:
        width, expr = nodes[n.index]
        assert width == n.width
        if n.is_input:
            assert expr == f"x[{n.col}]"
    lp = conv.plan
    call = (f"hlsgen::requantize<{lp.acc_width}, {lp.shift}, {str(lp.relu).lower()}, "
            f"{lp.q_width}, ")
    assert core.count(call) == lp.out_features == conv.out_channels
    # the layer: the map in and out pixel-major, the padded raster walked once
    layer = _function(text, names.layer(conv.index))
    ho, wo = net.layers[0].out_hw
    assert layer.startswith(f"void {names.layer(conv.index)}(const ap_int<8> x[7][8][2], ")
    assert f" y[{ho}][{wo}][3])" in layer.splitlines()[0]
    assert f"py < {conv.hp}; ++py" in layer and f"px < {conv.wp}; ++px" in layer
    assert f"lb[2][{conv.wp}][2];" in layer           # Kh - 1 line buffers of Wp pixels
    assert f"{names.conv_core(conv.index)}(w, o);" in layer
    assert "sx == 1 ? 0 : sx + 1" in layer and "sy" not in layer   # stride 1x2


def test_pragmas_on_the_pixel_loops_and_the_window() -> None:
    schedule, rendered = _rendered(_cnn())
    names = HlsNames(schedule.plan.name)
    for i, lp in enumerate(schedule.plan.layers):
        text = rendered.files[f"hls/{names.layer_file(i)}"]
        if lp.kind == "dense":
            assert "#pragma HLS INLINE\n" in text
            continue
        body = _function(text, names.layer(i))
        assert body.splitlines()[1] == "#pragma HLS INLINE off"
        assert "#pragma HLS PIPELINE II=1" in body
    conv = rendered.files[f"hls/{names.layer_file(0)}"]
    for pragma in ("ARRAY_PARTITION variable=win complete dim=0",
                   "ARRAY_PARTITION variable=w complete",
                   "ARRAY_PARTITION variable=lb complete dim=1",
                   "ARRAY_PARTITION variable=lb complete dim=3"):
        assert f"#pragma HLS {pragma}\n" in conv
    top = rendered.files[f"hls/{names.top_file}"]
    assert "#pragma HLS PIPELINE II=1\n    const" not in top   # the top itself is not pipelined
    assert "#pragma HLS ARRAY_PARTITION variable=h0 complete dim=3" in top
    assert "const int i = c * 56 + y * 8 + x;" in top          # the input word in torch order
    header = rendered.files[f"hls/{names.header_file}"]
    assert "one image per call" in header and "AP_INT_MAX_W" not in header


def test_pooling_uses_the_plans_shift_and_widths() -> None:
    for kind in ("max", "avg"):
        net = _cnn(pool=(kind, 2))
        schedule, rendered = _rendered(net)
        pool = next(s for s in schedule.stages if isinstance(s, PoolStage))
        text = rendered.files[f"hls/{HlsNames(schedule.plan.name).layer_file(pool.index)}"]
        if kind == "avg":
            assert f"ap_int<{pool.acc_width}> acc[{pool.out_hw[1]}][3];" in text
            assert (f"hlsgen::requantize<{pool.acc_width}, {pool.shift}, false, "
                    f"{pool.plan.q_width}, false, false, 8, false>(s)") in text
        else:
            assert "requantize" not in text and "mx = (first || v > acc[slot][k])" in text
        assert "ix >> 1" in text and "iy >> 1" in text


def test_activations_and_a_map_ending_network() -> None:
    net = random_cnn(np.random.default_rng(1), (3, 5, 4),
                     [dict(out=2, kernel=3, padding=1, block=(2, 3))])
    schedule, rendered = _rendered(net)
    acts = activations(schedule)
    assert [a.dims for a in acts] == [(5, 4, 3), (5, 4, 2)]
    top = rendered.files[f"hls/{HlsNames(schedule.plan.name).top_file}"]
    assert "the output map in PyTorch's order" in top
    assert "const int i = c * 20 + y * 4 + x;" in top
    assert rendered.manifest.out_features == 2 * 5 * 4


def test_a_wide_stream_word_raises_ap_ints_limit() -> None:
    net = random_cnn(np.random.default_rng(1), (4, 9, 9),
                     [dict(out=2, kernel=3, block=(1, 4))], dense=(3,))
    schedule, rendered = _rendered(net)
    header = rendered.files[f"hls/{HlsNames(schedule.plan.name).header_file}"]
    assert "#define AP_INT_MAX_W 3072" in header            # 4*9*9*8 = 2592 bits
    assert header.index("AP_INT_MAX_W 3072") < header.index("#include <ap_int.h>")


def test_a_map_layer_after_a_flatten_is_refused_in_one_line(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    first = random_conv(rng, "conv0", (1, 4, 4), 2, (3, 3), (1, 1), (1, 1), (1, 3),
                        artifact.QType(8, 0, False))
    flat = FlattenLayer(name="flatten", in_chw=(2, 4, 4), output=first.output)
    second = random_conv(rng, "conv1", (2, 4, 4), 2, (3, 3), (1, 1), (1, 1), (1, 3),
                         first.output, relu=False)
    net = Network(name="flat_conv", input_features=16, input=artifact.QType(8, 0, False),
                  layers=(first, flat, second), meta={})
    with pytest.raises(ValueError, match=r"layer 2 \('conv1'\) is a conv2d layer reading a "
                                         "flat vector"):
        render(make_schedule(make_plan(net)), "hls")
    path = artifact.save(net, tmp_path / "n.json")
    out = tmp_path / "d"
    assert main(["generate", str(path), "--backend", "hls", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--backend verilog" in err and not out.exists()
