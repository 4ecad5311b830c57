"""The folded (ROM-driven) architecture is bit-exact with the reference, reads its weights
from the exported ``.mem`` files, and runs another artifact's ROMs on unchanged RTL.

Cases vary P, block shapes (edge blocks), kind mixes (all dense, all unified, all-pruned
layers), widths and signedness, under random stalls on both streams, on Verilator and Icarus;
a hypothesis property test draws random networks and PE counts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from hlsgen import artifact, numerics
from hlsgen.blocks import BlockKind, block_grid, block_slices
from hlsgen.blockrom import pe_layout, unpack_walk
from hlsgen.cli import main
from hlsgen.datasets import load_digits_split
from hlsgen.flow import simulate_design
from hlsgen.generate import generate
from hlsgen.manifest import DesignManifest
from hlsgen.randnet import random_inputs, random_network
from hlsgen.rom import read_mem
from hlsgen.schedules import ScheduleOptions
from hlsgen.sim.runner import SimConfig, compare, simulate

from .conftest import _require, check_design
from .test_random_networks import Case, cases

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.json"
STALLS = SimConfig(stall_in=0.3, stall_out=0.3, seed=5)

# (sizes, block, kind probabilities (pruned, unified, dense), w_bits, a_bits, signed input, P)
CASES = {
    "4x4-mixed-P2": ([16, 12, 10], (4, 4), (0.5, 0.3, 0.2), 8, 8, False, (2, 2)),
    "3x2-edge-blocks-P3": ([10, 7, 5], (3, 2), (0.4, 0.4, 0.2), 8, 8, False, (3, 1)),
    "1x1-elementwise-P4": ([9, 6, 4], (1, 1), (0.3, 0.4, 0.3), 6, 8, True, (4, 4)),
    "2x4-all-dense-P1": ([8, 6, 4], (2, 4), (0.0, 0.0, 1.0), 5, 6, True, (1, 1)),
    "4x2-all-unified-2bit": ([8, 6, 4], (4, 2), (0.0, 1.0, 0.0), 2, 4, False, (2, 1)),
    "16bit-wide-default-P": ([6, 5, 3], (2, 2), (0.2, 0.4, 0.4), 16, 16, True, ()),
    "all-pruned": ([8, 6, 5], (2, 2), (1.0, 0.0, 0.0), 8, 8, False, (2, 3)),
    "three-layers-1x4": ([12, 10, 8, 4], (1, 4), (0.5, 0.3, 0.2), 8, 8, False, (3, 2, 2)),
}


def check_folded(net, inputs: np.ndarray, workdir: Path, options: ScheduleOptions,
                 config: SimConfig = STALLS, simulator: str = "verilator"):
    """Generate the folded design, stream ``inputs`` through it, require every bit to match."""
    return check_design(net, inputs, workdir, config, simulator, options, "folded")


@pytest.mark.sim
@pytest.mark.parametrize("case", sorted(CASES))
def test_folded_bit_exact(case: str, tmp_path, each_simulator) -> None:
    sizes, block, probs, w_bits, a_bits, signed, pes = CASES[case]
    rng = np.random.default_rng(sorted(CASES).index(case) + 100)
    net = random_network(rng, sizes, block, w_bits, a_bits, probs, input_signed=signed)
    schedule, _ = check_folded(net, random_inputs(rng, net, 48), tmp_path,
                               ScheduleOptions(pes=pes), simulator=each_simulator)
    if pes:
        assert [layer.pes for layer in schedule.layers] == list(pes)


@pytest.mark.sim
def test_digits_folded_every_test_image(tmp_path, each_simulator) -> None:
    """The committed digits example, every test image, under stalls; then the steady-state
    interval (no stalls) against the lower bound."""
    net = artifact.load(EXAMPLE)
    split = load_digits_split()
    schedule = generate(net, tmp_path / "design", "folded")
    sim = simulate_design(net, tmp_path / "design", split.x_test, split.y_test,
                          SimConfig(seed=1), tmp_path / "build", each_simulator)
    assert sim["rtl_vectors"] == 360 and sim["rtl_mismatches"] == 0
    assert not sim["rtl_protocol_errors"] and sim["rtl_tlast_ok"]
    assert sim["cycles_per_inference"] == schedule.initiation_interval
    assert sim["cycles_per_inference"] <= 1.10 * schedule.cycles_lower_bound + 16


@pytest.mark.sim
def test_back_to_back_interval_is_the_slowest_walk(tmp_path, simulator) -> None:
    """Input always valid, output always ready: one result per slowest-layer walk."""
    rng = np.random.default_rng(8)
    net = random_network(rng, [16, 12, 6], (2, 4), kind_probs=(0.3, 0.5, 0.2))
    schedule, result = check_folded(net, random_inputs(rng, net, 24), tmp_path,
                                    ScheduleOptions(pes=(2, 1)),
                                    SimConfig(stall_in=0, stall_out=0))
    gaps = np.diff(result.output_cycles)
    assert (gaps[len(gaps) // 2:] == schedule.initiation_interval).all(), gaps
    assert result.cycles == schedule.latency + 1 + (24 - 1) * schedule.initiation_interval


def _rewrite_word(path: Path, index: int, update) -> None:
    lines = path.read_text().splitlines()
    data = [i for i, line in enumerate(lines) if line and not line.startswith("//")]
    line = lines[data[index]]
    lines[data[index]] = f"{update(int(line, 16)):0{len(line)}x}"
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.sim
def test_rewritten_mem_word_changes_the_output(tmp_path, each_simulator) -> None:
    """The RTL's weights are the exported .mem files: rewrite one magnitude in a ROM word and
    the same RTL computes the network with that weight changed, bit-exactly."""
    rng = np.random.default_rng(21)
    net = random_network(rng, [12, 8, 6], (2, 3), w_bits=6, kind_probs=(0.0, 0.7, 0.3))
    x = random_inputs(rng, net, 32)
    schedule, before = check_folded(net, x, tmp_path, ScheduleOptions(pes=(2, 2)),
                                    simulator=each_simulator)
    layer = schedule.layers[-1]
    cap = layer.capacity
    mem = tmp_path / "design" / "rom" / f"{cap.rom}.mem"
    rtl = {p.name: p.read_bytes() for p in (tmp_path / "design" / "rtl").iterdir()}
    pe0 = unpack_walk(read_mem(mem.read_text(), cap.pes * cap.pe_width), cap)[0]
    k = next(i for i, f in enumerate(pe0) if f["valid"] and f["kind"] == 0)
    old = pe0[k]["payload"] & ((1 << cap.mag_bits) - 1)
    new = old % ((1 << cap.mag_bits) - 1) + 1  # another magnitude in 1..max
    assert new != old
    mag = {f.name: f for f in pe_layout(cap)}["payload"]  # PE 0: its low word bits
    _rewrite_word(mem, k, lambda w: (w & ~(((1 << cap.mag_bits) - 1) << mag.lsb)) | new)

    # the network with that block's magnitude changed
    lay = net.layers[-1]
    rs, cs = block_slices(pe0[k]["brow"], pe0[k]["bcol"], lay.out_features, lay.in_features,
                          lay.block)
    weight = lay.weight.copy()
    weight[rs, cs] = np.sign(weight[rs, cs]) * new
    changed = dataclasses.replace(net, layers=net.layers[:-1]
                                  + (dataclasses.replace(lay, weight=weight),))
    after = simulate(tmp_path / "design", x, STALLS, tmp_path / "build", each_simulator)
    assert {p.name: p.read_bytes() for p in (tmp_path / "design" / "rtl").iterdir()} == rtl
    assert (after.outputs != before.outputs).any(), "the rewritten word changed nothing"
    assert compare(after.outputs, numerics.forward(changed, x)).mismatches == 0
    assert compare(after.outputs, numerics.forward(net, x)).mismatches > 0


def _same_shapes(reference, seed_: int):
    """Another artifact of ``reference``'s layer shapes, widths and requantize shifts:
    new kinds, weights and biases."""
    rng = np.random.default_rng(seed_)
    first = reference.layers[0]
    sizes = [first.in_features] + [layer.out_features for layer in reference.layers]
    other = random_network(rng, sizes, first.block, first.w_bits,
                           reference.input.bits, (0.3, 0.4, 0.3), name="other")
    layers = tuple(dataclasses.replace(o, w_frac=r.w_frac, output=r.output)
                   for o, r in zip(other.layers, reference.layers))
    return dataclasses.replace(other, layers=layers, input=reference.input)


@pytest.mark.sim
def test_fit_loads_another_artifacts_roms(tmp_path, each_simulator) -> None:
    """`hlsgen rom B --fit DESIGN_A` + `hlsgen simulate B --design DESIGN_A --rom ROMS`: the
    RTL generated for A runs B bit-exactly; the design folder is untouched."""
    a = random_network(np.random.default_rng(3), [10, 8, 5], (2, 2), 6, 8, (0.3, 0.4, 0.3))
    assert all((layer.kinds == BlockKind.DENSE).any() for layer in a.layers)
    b = _same_shapes(a, 4)
    assert any((la.weight != lb.weight).any() for la, lb in zip(a.layers, b.layers))
    artifact.save(a, tmp_path / "a.json")
    artifact.save(b, tmp_path / "b.json")
    # room for any kind map: 2 block rows of 5 (4) blocks per PE
    assert main(["generate", str(tmp_path / "a.json"), "--arch", "folded", "--pes", "2,2",
                 "--rom-depth", "10,8", "--out", str(tmp_path / "design")]) == 0
    digest = {p: hashlib.sha256(p.read_bytes()).hexdigest()
              for p in (tmp_path / "design").rglob("*") if p.is_file()}
    assert main(["rom", str(tmp_path / "b.json"), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "rom_b")]) == 0
    assert main(["simulate", str(tmp_path / "b.json"), "--design", str(tmp_path / "design"),
                 "--rom", str(tmp_path / "rom_b"), "--vectors", "random", "--count", "40",
                 "--simulator", each_simulator, "--out", str(tmp_path / "sim_b.json"),
                 "--build-dir", str(tmp_path / "build")]) == 0
    sim = json.loads((tmp_path / "sim_b.json").read_text())
    assert sim["rtl_vectors"] == 40 and sim["rtl_mismatches"] == 0
    assert {p: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (tmp_path / "design").rglob("*") if p.is_file()} == digest
    # the same build with A's own ROMs still computes A
    assert main(["simulate", str(tmp_path / "a.json"), "--design", str(tmp_path / "design"),
                 "--vectors", "random", "--count", "40", "--simulator", each_simulator,
                 "--out", str(tmp_path / "sim_a.json"),
                 "--build-dir", str(tmp_path / "build")]) == 0
    assert json.loads((tmp_path / "sim_a.json").read_text())["rtl_mismatches"] == 0
    assert DesignManifest.load(tmp_path / "design").arch == "folded"


PROPERTY_SHARDS = 2
PER_SHARD = 5


@pytest.mark.sim
@pytest.mark.parametrize("shard", range(PROPERTY_SHARDS))
def test_random_networks_folded(shard: int, tmp_path_factory) -> None:
    """Any network the unrolled property test draws, folded on random PE counts (Icarus:
    its builds take a second)."""
    sim = "icarus"
    _require(sim)
    ran = []

    @seed(20261200 + shard)
    @settings(max_examples=PER_SHARD, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(case=cases, pes=st.lists(st.integers(1, 4), min_size=4, max_size=4))
    def check(case: Case, pes: list[int]) -> None:
        rng = np.random.default_rng(case.seed)
        net = random_network(rng, case.sizes, case.block, case.w_bits, case.a_bits,
                             case.kinds, case.bias_scale, case.signed_input)
        p = tuple(min(n, block_grid(layer.out_features, layer.in_features, layer.block)[0])
                  for n, layer in zip(pes, net.layers))
        check_folded(net, random_inputs(rng, net, 24), tmp_path_factory.mktemp("net"),
                     ScheduleOptions(pes=p), SimConfig(seed=case.seed % 1000, stall_in=0.3,
                                                       stall_out=0.3), sim)
        ran.append(case)

    check()
    assert len(ran) >= PER_SHARD
