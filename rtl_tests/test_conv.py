"""The streaming conv engine (unrolled architecture) is bit-exact with the golden model over
padding, stride, kernel sizes, channel counts, block shapes and pooling, with random stalls
on both streams, on Verilator and Icarus; every generated design is lint clean.

The top takes one image per beat; inside, each map streams one pixel (all channels) per
beat through the serializer, conv/pool/collect stages and the dense tail, each stage with
its own valid/ready handshake, so the random input gaps and output backpressure reach every
stage (line buffers, window issue credits, pooling output register, collector)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from hlsgen import numerics
from hlsgen.generate import generate
from hlsgen.randcnn import random_cnn
from hlsgen.schedules.stream import ConvStage, StreamSchedule
from hlsgen.sim.runner import SimConfig, compare, simulate
from hlsgen.sim.toolchain import SimulatorError, find_verilator

# name: (input map, convs, pooling, dense sizes, signed input)
CASES = {
    "3x3-pad1-c3": ((3, 6, 6), [dict(out=4, kernel=3, padding=1, block=(1, 3))], None, (),
                    False),
    "stride2-nopad": ((2, 7, 8), [dict(out=3, kernel=3, stride=2, block=(1, 2))], None, (),
                      True),
    "5x3-stride2x3-pad2x1": ((2, 9, 7), [dict(out=2, kernel=(5, 3), stride=(2, 3),
                                             padding=(2, 1), block=(2, 4))], None, (), False),
    "1x1-c5-whole-kernel-blocks": ((5, 4, 4), [dict(out=3, kernel=1, block=(3, 5))], None, (),
                                   False),
    "two-convs-maxpool-dense": ((1, 8, 8), [dict(out=4, kernel=3, padding=1, block=(1, 3)),
                                            dict(out=3, kernel=2, block=(1, 4))],
                                ("max", 2), (5,), False),
    "avgpool-odd-map-dense": ((2, 7, 5), [dict(out=3, kernel=3, padding=1, block=(1, 1))],
                              ("avg", 2), (4,), True),
    "maxpool4x4-signed": ((1, 8, 8), [dict(out=2, kernel=3, padding=1, block=(2, 3))],
                          ("max", 4), (), True),
}


def _net(case: str):
    chw, convs, pool, dense, signed = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    return random_cnn(rng, chw, convs, pool, dense, input_signed=signed, name=case), rng


def _inputs(rng, net, count: int) -> np.ndarray:
    q = net.input
    x = rng.integers(q.lo, q.hi + 1, size=(count, net.input_features), dtype=np.int64)
    x[0], x[1] = q.lo, q.hi
    return x


def check_stream(net, x, workdir, simulator, config=SimConfig(seed=5)) -> None:
    schedule = generate(net, workdir / "design")
    assert isinstance(schedule, StreamSchedule)
    result = simulate(workdir / "design", x, config, workdir / "build", simulator)
    expected = numerics.forward(net, x).reshape(len(x), -1)  # a map comes out in torch order
    cmp = compare(result.outputs, expected)
    assert not result.protocol_errors, result.protocol_errors[:5]
    assert result.lasts_ok, "tlast did not come out with its image"
    assert cmp.mismatches == 0, (f"{cmp.mismatches}/{cmp.vectors} images differ, first "
                                 f"{cmp.first_mismatches}")


@pytest.mark.sim
@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_stream_bit_exact(case, tmp_path, each_simulator):
    net, rng = _net(case)
    check_stream(net, _inputs(rng, net, 10), tmp_path, each_simulator)


@pytest.mark.sim
@pytest.mark.parametrize("stall_in, stall_out", [(0.0, 0.0), (0.6, 0.1), (0.1, 0.8)])
def test_conv_stream_under_stalls(stall_in, stall_out, tmp_path, simulator):
    net, rng = _net("two-convs-maxpool-dense")
    check_stream(net, _inputs(rng, net, 12), tmp_path, "verilator",
                 SimConfig(stall_in=stall_in, stall_out=stall_out, seed=11, frame=3))


@pytest.mark.sim
def test_conv_engine_rate_without_stalls(tmp_path, simulator):
    """Without stalls the engine walks one padded-raster position per clock: a stream of
    images takes about images x the slowest stage's walk."""
    net, rng = _net("3x3-pad1-c3")
    schedule = generate(net, tmp_path / "design")
    conv = next(s for s in schedule.stages if isinstance(s, ConvStage))
    x = _inputs(rng, net, 8)
    result = simulate(tmp_path / "design", x, SimConfig(stall_in=0, stall_out=0),
                      tmp_path / "build")
    assert compare(result.outputs, numerics.forward(net, x).reshape(8, -1)).ok
    assert result.cycles <= len(x) * schedule.initiation_interval + schedule.latency
    assert result.cycles >= len(x) * conv.hp * conv.wp


@pytest.fixture(scope="module")
def verilator_tool():
    try:
        return find_verilator()
    except SimulatorError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"verilator missing in CI: {exc}")
        pytest.skip(str(exc))


@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_designs_lint_clean(case, tmp_path, verilator_tool):
    net, _ = _net(case)
    schedule = generate(net, tmp_path / "design")
    rtl = sorted(str(p) for p in (tmp_path / "design" / "rtl").glob("*.v"))
    env = dict(os.environ, PATH=f"{verilator_tool.bin_dir}{os.pathsep}{os.environ['PATH']}")
    from hlsgen.backends.verilog import VerilogNames
    result = subprocess.run([str(verilator_tool.path), "--lint-only", "-Wall", "--top-module",
                             VerilogNames(schedule.plan.name).top, *rtl], capture_output=True,
                            text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0 and "%Warning" not in result.stderr \
        and "%Error" not in result.stderr, result.stderr[:3000]


@pytest.mark.sim
@pytest.mark.slow
def test_run_digits_cnn_meets_the_issue_figures(tmp_path, simulator):
    """`hlsgen run --model cnn`: trained, compressed, generated and simulated over the whole
    digits test split (about 40 s on 2 cores)."""
    import json

    torch = pytest.importorskip("torch")  # noqa: F841 -- the compressor needs it
    from hlsgen.cli import main

    out = tmp_path / "out"
    assert main(["run", "--model", "cnn", "--out", str(out), "--no-progress"]) == 0
    rep = json.loads((out / "report.json").read_text())
    assert rep["rtl_vectors"] == 360 and rep["rtl_mismatches"] == 0
    assert rep["float_accuracy"] >= 0.97
    assert rep["int_accuracy"] >= rep["float_accuracy"] - 0.01
    assert rep["dense_multipliers"] >= 8 * rep["block_multipliers"]
    kinds = [layer["type"] for layer in
             json.loads((out / "artifact.json").read_text())["network"]["layers"]]
    assert kinds == ["conv2d", "maxpool2d", "flatten", "dense"]
