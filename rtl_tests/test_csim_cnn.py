"""The HLS C++ of networks with feature maps (conv2d, max/avg pooling, flatten; the unrolled
architecture's streaming schedule) under g++: bit-exact with the reference over padding,
stride, kernel sizes, channel counts, block shapes and pooling, on fixed cases and random
CNNs, with no compiler warning; reference = C-sim = Verilator RTL on CNNs; a changed constant
in a conv is caught. ``HLSGEN_PROFILE=long`` draws ten times as many random CNNs."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from hlsgen import numerics
from hlsgen.generate import generate
from hlsgen.plan import make_plan
from hlsgen.randcnn import random_cnn
from hlsgen.sim.csim import CsimExecutor
from hlsgen.sim.runner import SimConfig, compare

from .test_csim import assert_run_csim_exact, check_csim, csim_tools, three_way  # noqa: F401 -- csim_tools: fixture
from .test_random_cnns import cnns

EXAMPLES = {"ci": 6, "long": 60}[os.environ.get("HLSGEN_PROFILE", "ci")]

# name: (input map, convs, pooling, dense sizes, signed input, (w_bits, a_bits))
CASES = {
    "3x3-pad1-c3": ((3, 6, 6), [dict(out=4, kernel=3, padding=1, block=(1, 3))], None, (),
                    False, (8, 8)),
    "stride2-nopad-signed": ((2, 7, 8), [dict(out=3, kernel=3, stride=2, block=(1, 2))], None,
                             (), True, (8, 8)),
    "5x3-stride2x3-pad2x1": ((2, 9, 7), [dict(out=2, kernel=(5, 3), stride=(2, 3),
                                             padding=(2, 1), block=(2, 4))], None, (), False,
                             (8, 8)),
    "1x1-c5-whole-kernel-blocks": ((5, 4, 4), [dict(out=3, kernel=1, block=(3, 5))], None, (),
                                   False, (8, 8)),
    "1x4-kernel-stride3-maxpool": ((3, 5, 9), [dict(out=4, kernel=(1, 4), stride=(1, 3),
                                                    padding=(0, 2), block=(4, 6))],
                                   ("max", 2), (3,), True, (6, 8)),
    "two-convs-maxpool-dense": ((1, 8, 8), [dict(out=4, kernel=3, padding=1, block=(1, 3)),
                                            dict(out=3, kernel=2, block=(1, 4))],
                                ("max", 2), (5,), False, (8, 8)),
    "avgpool-odd-map-dense": ((2, 7, 5), [dict(out=3, kernel=3, padding=1, block=(1, 1))],
                              ("avg", 2), (4,), True, (8, 8)),
    "avgpool4-16bit": ((2, 8, 8), [dict(out=3, kernel=2, padding=1, block=(3, 2))],
                       ("avg", 4), (4, 2), True, (12, 16)),
    "wide-word-c4-9x9": ((4, 9, 9), [dict(out=2, kernel=3, block=(1, 4))], None, (3,), False,
                         (8, 8)),   # a 2592-bit input word: AP_INT_MAX_W raised
    "maxpool4x4-signed": ((1, 8, 8), [dict(out=2, kernel=3, padding=1, block=(2, 3))],
                          ("max", 4), (), True, (8, 8)),
}


def _net(case: str):
    chw, convs, pool, dense, signed, (w_bits, a_bits) = CASES[case]
    rng = np.random.default_rng(40 + sorted(CASES).index(case))
    net = random_cnn(rng, chw, convs, pool, dense, w_bits=w_bits, a_bits=a_bits,
                     input_signed=signed, name=case.replace("-", "_"))
    return net, rng


def _inputs(rng, net, count: int) -> np.ndarray:
    q = net.input
    x = rng.integers(q.lo, q.hi + 1, size=(count, net.input_features), dtype=np.int64)
    x[0], x[1] = q.lo, q.hi
    return x


@pytest.mark.csim
@pytest.mark.parametrize("case", sorted(CASES))
def test_cnn_csim_bit_exact(case, tmp_path, csim_tools) -> None:
    net, rng = _net(case)
    got = check_csim(net, _inputs(rng, net, 24), tmp_path)
    assert got.shape == (24, net.output_features)


@pytest.mark.csim
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(spec=cnns())
def test_random_cnn_csim_bit_exact(spec, tmp_path_factory, csim_tools) -> None:
    """The RTL property test's random CNNs (rtl_tests/test_random_cnns.py), C-simulated."""
    rng = np.random.default_rng(spec["seed"])
    w_bits, a_bits = spec["bits"]
    net = random_cnn(rng, spec["chw"], [spec["conv"]], spec["pool"], spec["dense"],
                     w_bits=w_bits, a_bits=a_bits, input_signed=spec["signed"])
    check_csim(net, _inputs(rng, net, 8), tmp_path_factory.mktemp("cnn"))


@pytest.mark.csim
@pytest.mark.sim
@pytest.mark.parametrize("case", ["two-convs-maxpool-dense", "5x3-stride2x3-pad2x1"])
def test_cnn_reference_csim_and_rtl_agree(case, tmp_path, csim_tools, simulator) -> None:
    """Reference = C-sim = Verilator RTL (with stalls on both streams), every bit; the second
    case ends in a feature map (its output word in PyTorch order in both)."""
    net, rng = _net(case)
    three_way(net, _inputs(rng, net, 12), tmp_path,
              SimConfig(seed=7, stall_in=0.3, stall_out=0.3, frame=4))


@pytest.mark.csim
def test_a_changed_conv_constant_is_caught(tmp_path, csim_tools) -> None:
    """A conv's bias moved by one output step in its window function changes some outputs,
    and the testbench's own check finds them too."""
    net, rng = _net("3x3-pad1-c3")
    x = _inputs(rng, net, 16)
    generate(net, tmp_path / "hls", backend="hls")
    layer = next((tmp_path / "hls" / "hls").glob("*_layer0.cpp"))
    text = layer.read_text()
    bias = int(net.layers[0].bias[0])
    step = 1 << make_plan(net).layers[0].shift
    line = next(ln for ln in text.splitlines() if " acc0 = " in ln)
    assert f"{bias}LL" in line
    layer.write_text(text.replace(line, line.replace(f"{bias}LL", f"{bias + step}LL", 1)))
    executor = CsimExecutor(tmp_path / "hls", tmp_path / "build")
    executor.build()
    expected = numerics.forward(net, x).reshape(len(x), -1)
    result = executor.run(x, expected)
    assert compare(result.outputs, expected).mismatches > 0
    assert not result.protocol_errors   # the testbench found the mismatches too (exit 1)


@pytest.mark.csim
@pytest.mark.sim
@pytest.mark.slow
def test_run_cnn_hls_reports_the_csim_of_every_digits_image(tmp_path, csim_tools,
                                                            simulator) -> None:
    """`hlsgen run --model cnn --hls`: the digits CNN trained, compressed, generated and
    simulated over the whole test split by the RTL and by the C simulation (about 75 s on 2
    cores)."""
    pytest.importorskip("torch")  # the compressor needs it
    from hlsgen.cli import main

    out = tmp_path / "out"
    assert main(["run", "--model", "cnn", "--hls", "--out", str(out), "--no-progress"]) == 0
    assert_run_csim_exact(out)
    assert sorted(p.name for p in (out / "hls" / "hls").glob("*_layer*.cpp")) == [
        f"digits_cnn_layer{i}.cpp" for i in range(4)]
