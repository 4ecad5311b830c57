"""The folded (ROM-driven) architecture on CNNs is bit-exact with the golden model.

Each conv folds its ``[O, Kh*Kw*C]`` matrix onto P PEs walking a ROM; the conv stage keeps
the streaming engine's line buffers and window register and hands each window to the folded
layer (one walk of ``depth`` words per window; the pixel input waits while a window does),
pooling and flatten are the streaming stages, and the dense tail is a chain of folded
layers. Cases cover padding, stride, kernel sizes, channel counts, block shapes, PE counts
and max/avg pooling, with random stalls on both streams, on Verilator and Icarus; the
plan's cycles per image is what a no-stall run measures, its latency a bound; the designs
are lint clean; ``hlsgen rom --fit`` writes a CNN's ROMs for an existing design; and the
digits CNN runs every test image.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact, numerics
from hlsgen.cli import main
from hlsgen.datasets import load_digits_split
from hlsgen.flow import measure_timing
from hlsgen.generate import generate
from hlsgen.manifest import DesignManifest
from hlsgen.randcnn import random_cnn
from hlsgen.schedules import ScheduleOptions
from hlsgen.schedules.folded import FoldedConvStage, FoldedSchedule
from hlsgen.sim.runner import CocotbExecutor, SimConfig, compare, simulate
from hlsgen.sim.toolchain import find_verilator

from .test_conv import assert_stream_exact, random_images

DIGITS_CNN = Path(__file__).resolve().parent.parent / "examples" / "digits_cnn.json"

# name: (input map, convs, pooling, dense sizes, signed input, PEs per conv/dense layer)
CASES = {
    "3x3-pad1-c3-p2": ((3, 6, 6), [dict(out=4, kernel=3, padding=1, block=(1, 3))], None, (),
                       False, (2,)),
    "stride2-nopad-p1": ((2, 7, 8), [dict(out=3, kernel=3, stride=2, block=(1, 2))], None, (),
                         True, (1,)),
    "5x3-stride2x3-pad2x1": ((2, 9, 7), [dict(out=2, kernel=(5, 3), stride=(2, 3),
                                             padding=(2, 1), block=(2, 4))], None, (), False,
                             (1,)),
    "1x1-c5-whole-kernel-blocks": ((5, 4, 4), [dict(out=6, kernel=1, block=(3, 5))], None, (),
                                   False, (2,)),
    "two-convs-maxpool-dense": ((1, 8, 8), [dict(out=4, kernel=3, padding=1, block=(1, 3)),
                                            dict(out=3, kernel=2, block=(1, 4))],
                                ("max", 2), (5,), False, (2, 3, 2)),
    "avgpool-odd-map-dense": ((2, 7, 5), [dict(out=3, kernel=3, padding=1, block=(1, 1))],
                              ("avg", 2), (4,), True, (3, 1)),
    "maxpool4x4-signed-deep-rom": ((1, 8, 8), [dict(out=4, kernel=3, padding=1,
                                                    block=(2, 3))], ("max", 4), (), True,
                                   (1,)),
    "stride3-trailing-rows": ((2, 3, 3), [dict(out=2, kernel=1, stride=(3, 1), block=(1, 2))],
                              None, (), False, (2,)),
}


def _net(case: str):
    chw, convs, pool, dense, signed, _ = CASES[case]
    rng = np.random.default_rng(100 + sorted(CASES).index(case))
    return random_cnn(rng, chw, convs, pool, dense, input_signed=signed,
                      name=case.replace("-", "_")), rng


def _generate(case: str, workdir: Path) -> FoldedSchedule:
    net, _ = _net(case)
    schedule = generate(net, workdir / "design", "folded",
                        options=ScheduleOptions(pes=CASES[case][5]))
    assert isinstance(schedule, FoldedSchedule) and schedule.stages
    return schedule


def _check(net, x, workdir: Path, simulator: str, config: SimConfig, rom_dir=None):
    result = simulate(workdir / "design", x, config, workdir / "build", simulator,
                      rom_dir=rom_dir)
    assert_stream_exact(net, x, result)
    return result


def test_folded_cnn_schedule_folds_each_conv_matrix():
    """A conv folds its [O, Kh*Kw*C] matrix (its kept blocks and biases: the same plan the
    streaming engine's adder graph takes); pooling and flatten carry no ROM; the manifest
    says one pixel per beat and lists one ROM per conv/dense layer."""
    from hlsgen.plan import make_plan
    from hlsgen.schedules import make_schedule

    net, _ = _net("two-convs-maxpool-dense")
    plan = make_plan(net)
    sched = make_schedule(plan, "folded", ScheduleOptions(pes=(2, 3, 2)))
    assert isinstance(sched, FoldedSchedule)
    kinds = [lp.kind for lp in plan.layers]
    assert [lp.kind for lp in (l.plan for l in sched.folded_layers)] == \
        [k for k in kinds if k in ("conv2d", "dense")]
    convs = [s for s in sched.stages if isinstance(s, FoldedConvStage)]
    assert [c.core.pes for c in convs] == [2, 3]
    for c in convs:
        kh, kw = c.kernel
        assert c.core.plan.in_features == kh * kw * c.channels
        assert sum(max(1, len(ws)) for ws in c.core.words) >= 1
        assert c.cycles >= len(c.window_ends) * c.core.depth
    assert sched.in_beats == 64
    assert sched.initiation_interval == max(getattr(s, "cycles", 1) for s in sched.stages)
    with pytest.raises(ValueError, match="3 dense/conv layers"):
        make_schedule(plan, "folded", ScheduleOptions(pes=(1, 1, 1, 1)))


def test_folded_cnn_manifest(tmp_path):
    net, _ = _net("two-convs-maxpool-dense")
    schedule = _generate("two-convs-maxpool-dense", tmp_path)
    m = DesignManifest.load(tmp_path / "design")
    assert m.arch == "folded" and m.in_beats == 64
    assert len(m.folded) == len(m.roms) == 3
    assert m.initiation_interval == schedule.initiation_interval
    for rom in m.roms:
        assert (tmp_path / "design" / rom).is_file()
    assert net.input_features == 64


@pytest.mark.sim
@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_cnn_bit_exact_under_stalls(case, tmp_path, each_simulator):
    net, rng = _net(case)
    _generate(case, tmp_path)
    _check(net, random_images(rng, net, 8), tmp_path, each_simulator,
           SimConfig(stall_in=0.3, stall_out=0.4, seed=7, frame=3, stray_tlast=0.5))


@pytest.mark.sim
@pytest.mark.parametrize("stall_in, stall_out", [(0.7, 0.0), (0.0, 0.8)])
def test_folded_cnn_heavy_stalls(stall_in, stall_out, tmp_path, simulator):
    case = "two-convs-maxpool-dense"
    net, rng = _net(case)
    _generate(case, tmp_path)
    _check(net, random_images(rng, net, 6), tmp_path, "verilator",
           SimConfig(stall_in=stall_in, stall_out=stall_out, seed=2))


@pytest.mark.sim
@pytest.mark.parametrize("case", ["3x3-pad1-c3-p2", "two-convs-maxpool-dense",
                                  "avgpool-odd-map-dense", "5x3-stride2x3-pad2x1"])
def test_folded_cnn_cycles_per_image_as_planned(case, tmp_path, simulator):
    """With no stalls the measured interval between results is the plan's cycles per
    image (the conv's windows each waiting for the walk and for a free output buffer), and
    the measured latency is within the plan's bound."""
    net, rng = _net(case)
    schedule = _generate(case, tmp_path)
    executor = CocotbExecutor(tmp_path / "design", "verilator", tmp_path / "build")
    executor.build()
    interval, latency = measure_timing(executor, random_images(rng, net, 4))
    assert interval == schedule.initiation_interval
    assert latency <= schedule.latency
    assert schedule.initiation_interval >= schedule.cycles_lower_bound


@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_cnn_lint_clean(case, tmp_path):
    _generate(case, tmp_path)
    m = DesignManifest.load(tmp_path / "design")
    tool = find_verilator()
    env = dict(os.environ, PATH=f"{tool.bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = subprocess.run([str(tool.path), "--lint-only", "-Wall", "--top-module", m.top,
                          *[str(tmp_path / "design" / s) for s in m.sources]],
                         capture_output=True, text=True, env=env, timeout=120, check=False)
    assert out.returncode == 0 and "%Warning" not in out.stderr \
        and "%Error" not in out.stderr, out.stderr[-3000:]


@pytest.mark.sim
def test_folded_cnn_rom_fit_runs_on_the_same_rtl(tmp_path, capsys):
    """`hlsgen rom --fit` writes a CNN's ROM images for an existing folded design (the
    capacity of its conv and dense layers); the design runs them bit-exactly."""
    case = "two-convs-maxpool-dense"
    net, rng = _net(case)
    _generate(case, tmp_path)
    art = tmp_path / "net.json"
    artifact.save(net, art)
    assert main(["rom", str(art), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "rom")]) == 0
    assert "fitted into" in capsys.readouterr().out
    for rom in DesignManifest.load(tmp_path / "design").roms:
        assert (tmp_path / "rom" / Path(rom).name).read_text() == \
            (tmp_path / "design" / rom).read_text()
    _check(net, random_images(rng, net, 4), tmp_path, "verilator", SimConfig(seed=4),
           rom_dir=tmp_path / "rom")


@pytest.mark.sim
@pytest.mark.slow
def test_folded_digits_cnn_every_test_image(tmp_path, simulator):
    net = artifact.load(DIGITS_CNN)
    split = load_digits_split()
    schedule = generate(net, tmp_path / "design", "folded")
    result = simulate(tmp_path / "design", split.x_test, SimConfig(seed=1),
                      tmp_path / "build", "verilator")
    cmp = compare(result.outputs, numerics.forward(net, split.x_test))
    assert cmp.vectors == 360 and cmp.mismatches == 0
    assert not result.protocol_errors and result.lasts_ok
    assert schedule.multipliers < sum(lp.dense_multipliers for lp in schedule.plan.layers)
