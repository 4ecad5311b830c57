"""The streaming conv engine (unrolled architecture) is bit-exact with the golden model over
padding, stride, kernel sizes, channel counts, block shapes and pooling, with random stalls
on both streams, on Verilator and Icarus; every generated design is lint clean.

The top takes one pixel (all channels) per beat in raster order (``in_beats = H*W`` beats per
image in ``design.json``; the executor packs them from it) and gives one result beat per
image; inside, each map streams one pixel per beat through the conv/pool/collect stages and
the dense tail, each stage with its own valid/ready handshake, so the random input gaps and
output backpressure reach every stage (line buffers, window issue credits, pooling output
register, collector). Images follow each other without a gap; the top frames them by
counting pixels and carries the tlast of an image's last pixel to its result (a tlast on any
other pixel is ignored)."""

from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from hlsgen import numerics
from hlsgen.generate import generate
from hlsgen.randcnn import random_cnn
from hlsgen.schedules.stream import ConvStage, StreamSchedule
from hlsgen.manifest import DesignManifest
from hlsgen.sim.runner import SimConfig, compare, input_beats, simulate, vector_lasts
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
    # the last two rows are in no window: the result is ready before the image's last pixel
    # is in, and must wait for it (and its tlast)
    "stride3-trailing-rows": ((2, 3, 3), [dict(out=2, kernel=1, stride=(3, 1), block=(1, 2))],
                              None, (), False),
}


def _net(case: str):
    chw, convs, pool, dense, signed = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case))
    return random_cnn(rng, chw, convs, pool, dense, input_signed=signed, name=case), rng


def random_images(rng, net, count: int) -> np.ndarray:
    q = net.input
    x = rng.integers(q.lo, q.hi + 1, size=(count, net.input_features), dtype=np.int64)
    x[0], x[1] = q.lo, q.hi
    return x


def check_stream(net, x, workdir, simulator, config=SimConfig(seed=5)):
    """Generate, simulate, require every bit and every tlast to match; returns the
    schedule and the simulation result."""
    schedule = generate(net, workdir / "design")
    assert isinstance(schedule, StreamSchedule)
    c, h, w = schedule.pixel_in.channels, schedule.pixel_in.height, schedule.pixel_in.width
    assert DesignManifest.load(workdir / "design").in_beats == h * w
    assert c * h * w == net.input_features
    result = simulate(workdir / "design", x, config, workdir / "build", simulator)
    assert_stream_exact(net, x, result)
    return schedule, result


def assert_stream_exact(net, x, result) -> None:
    """Every image's result bit-exact with the reference, every tlast with its image, no
    protocol error."""
    expected = numerics.forward(net, x).reshape(len(x), -1)  # a map comes out in torch order
    cmp = compare(result.outputs, expected)
    assert not result.protocol_errors, result.protocol_errors[:5]
    assert result.lasts_ok, "tlast did not come out with its image"
    assert cmp.mismatches == 0, (f"{cmp.mismatches}/{cmp.vectors} images differ, first "
                                 f"{cmp.first_mismatches}")


def test_pixel_beats_are_raster_order_channel_0_low():
    """Hand-packed: a 2-channel 2x3 image (PyTorch order c*6 + y*3 + x) of 4-bit values
    goes as 6 beats, pixel (y, x) = beat y*3 + x, channel 0 in bits [3:0]; tlast only on
    the last beat of a tlast vector."""
    image = np.array([[1, 2, 3, 4, 5, 6,          # channel 0, rows y=0, y=1
                       9, 10, 11, 12, 13, 14]])   # channel 1
    beats = input_beats(image, 6, 4, [1])
    assert beats == [[0x91, 0], [0xA2, 0], [0xB3, 0], [0xC4, 0], [0xD5, 0], [0xE6, 1]]
    # negative values in two's complement; a vector without tlast has none on its last beat
    assert input_beats(np.array([[-1, -8]]), 1, 4, [0]) == [[0x8F, 0]]
    assert input_beats(np.array([[-1, -8]]), 2, 4, [1]) == [[0xF, 0], [0x8, 1]]
    # stray tlasts go on other beats only, never move the vector's own
    strays = input_beats(np.repeat(image, 3, axis=0), 6, 4, vector_lasts(3, 2), 1.0)
    assert [b[1] for b in strays] == [1] * 5 + [0] + [1] * 6 + [1] * 5 + [1]
    assert vector_lasts(5, 2) == [0, 1, 0, 1, 1]
    with pytest.raises(ValueError, match="do not divide"):
        input_beats(image, 5, 4, [1])


def test_manifest_in_beats_round_trip(tmp_path):
    """A CNN's design.json says its beats per image; an MLP's leaves the field out (one
    beat per vector), and a count that does not divide the vector is refused."""
    from hlsgen.manifest import ManifestError
    from hlsgen.randnet import random_network

    net, _ = _net("3x3-pad1-c3")
    generate(net, tmp_path / "cnn")
    m = DesignManifest.load(tmp_path / "cnn")
    assert (m.in_beats, m.in_beat_features, m.in_features) == (36, 3, 108)
    assert DesignManifest.from_json(m.to_json()) == m
    mlp = random_network(np.random.default_rng(0), [6, 4], (2, 2))
    generate(mlp, tmp_path / "mlp")
    text = (tmp_path / "mlp" / "design.json").read_text()
    assert "in_beats" not in text and DesignManifest.from_json(text).in_beats == 1
    bad = m.to_json().replace('"in_beats": 36', '"in_beats": 35')
    with pytest.raises(ManifestError, match="in_beats 35 does not divide"):
        DesignManifest.from_json(bad)


@pytest.mark.sim
@pytest.mark.parametrize("case", sorted(CASES))
def test_conv_stream_bit_exact(case, tmp_path, each_simulator):
    net, rng = _net(case)
    check_stream(net, random_images(rng, net, 10), tmp_path, each_simulator)


@pytest.mark.sim
@pytest.mark.parametrize("stall_in, stall_out", [(0.0, 0.0), (0.6, 0.1), (0.1, 0.8)])
def test_conv_stream_under_stalls(stall_in, stall_out, tmp_path, simulator):
    net, rng = _net("two-convs-maxpool-dense")
    check_stream(net, random_images(rng, net, 12), tmp_path, "verilator",
                 SimConfig(stall_in=stall_in, stall_out=stall_out, seed=11, frame=3))


@pytest.mark.sim
@pytest.mark.parametrize("stall_in, stall_out", [(0.0, 0.0), (0.3, 0.7)])
def test_tlast_only_from_an_images_last_pixel(stall_in, stall_out, tmp_path, each_simulator):
    """The documented framing: images back to back (no gap when the source never stalls),
    a tlast on every pixel but the last of most images (stray, ignored) and none on the last
    pixel of two images in three (frame 3): every result is bit-exact and carries exactly
    the tlast of its image's last pixel."""
    net, rng = _net("two-convs-maxpool-dense")
    config = SimConfig(stall_in=stall_in, stall_out=stall_out, seed=3, frame=3,
                       stray_tlast=1.0)
    _, result = check_stream(net, random_images(rng, net, 7), tmp_path, each_simulator, config)
    assert len(result.input_cycles) == 7


@pytest.mark.sim
def test_images_back_to_back_at_the_walk_rate(tmp_path, simulator):
    """With no stalls, image i+1's pixels follow image i's at once: the conv takes one beat
    per clock except at padding positions, so in steady state an image's last pixel is
    accepted exactly one padded-raster walk (Hp x Wp cycles) after the previous one's, and
    the results come out at the same interval."""
    net, rng = _net("3x3-pad1-c3")
    x = random_images(rng, net, 8)
    schedule, result = check_stream(net, x, tmp_path, "verilator",
                                    SimConfig(stall_in=0.0, stall_out=0.0))
    conv = next(s for s in schedule.stages if isinstance(s, ConvStage))
    walk = conv.hp * conv.wp
    assert schedule.initiation_interval == walk
    assert np.diff(result.input_cycles).tolist() == [walk] * 7
    assert np.diff(result.output_cycles)[2:].tolist() == [walk] * 5
    # the first image: its 36 pixels, one per clock, and a wait at each row's 2 padding
    # positions between its first and last pixel
    assert result.input_cycles[0] - result.first_in_cycle == \
        (conv.height - 1) * conv.wp + conv.width - 1


@pytest.mark.sim
def test_conv_engine_rate_without_stalls(tmp_path, simulator):
    """Without stalls the engine walks one padded-raster position per clock: a stream of
    images takes about images x the slowest stage's walk."""
    net, rng = _net("3x3-pad1-c3")
    schedule = generate(net, tmp_path / "design")
    conv = next(s for s in schedule.stages if isinstance(s, ConvStage))
    x = random_images(rng, net, 8)
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


@pytest.mark.sim
@pytest.mark.parametrize("arch", ["unrolled", "folded"])
def test_flow_compares_a_map_ending_cnn_per_vector(tmp_path, arch) -> None:
    """``flow.simulate_design`` on a CNN whose output is a feature map (no flatten): the
    reference map is compared as one vector per image, so the RTL's outputs match."""
    import numpy as np

    from hlsgen.flow import simulate_design
    from hlsgen.generate import generate
    from hlsgen.randcnn import random_cnn
    from hlsgen.randnet import random_inputs
    from hlsgen.sim.runner import SimConfig

    rng = np.random.default_rng(17)
    net = random_cnn(rng, (2, 5, 5), [{"out": 3, "kernel": 3, "padding": 1, "block": (1, 2)}])
    assert len(net.layers[-1].out_shape) == 3  # ends in a map
    generate(net, tmp_path / "design", arch=arch)
    x = random_inputs(np.random.default_rng(3), net, 12)
    sim = simulate_design(net, tmp_path / "design", x, None, SimConfig(seed=4),
                          tmp_path / "build", "verilator")
    assert sim["rtl_vectors"] == 12 and sim["rtl_mismatches"] == 0
