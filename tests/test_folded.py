"""The folded schedule without a simulator: load balancing, the ROM capacity and --fit,
the manifest, lint of the generated RTL, the CLI's folded commands and their bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import subprocess

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.backends import render
from hlsgen.cli import main
from hlsgen.generate import generate
from hlsgen.manifest import DesignManifest
from hlsgen.plan import make_plan
from hlsgen.randnet import random_network
from hlsgen.schedules import make_schedule, ScheduleOptions
from hlsgen.schedules.folded import FitError, balance, fit, schedule_folded
from hlsgen.sim.toolchain import SimulatorError, find_verilator

from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.json"


@pytest.mark.parametrize("seed", range(20))
def test_balance_every_row_once_within_grahams_bound(seed):
    rng = np.random.default_rng(seed)
    costs = {r: int(c) for r, c in enumerate(rng.integers(1, 12, size=int(rng.integers(1, 40))))}
    pes = int(rng.integers(1, min(8, len(costs)) + 1))
    rows = balance(costs, pes)
    assert sorted(r for pe in rows for r in pe) == sorted(costs)
    loads = [sum(costs[r] for r in pe) for pe in rows]
    total, longest = sum(costs.values()), max(costs.values())
    assert max(loads) >= max(math.ceil(total / pes), longest)
    # list scheduling (and so LPT, which refinement never makes worse)
    assert max(loads) <= total / pes + longest * (1 - 1 / pes) + 1e-9


def test_balance_reaches_the_bound_where_lpt_alone_does_not():
    """LPT gives 36 on these block rows (the digits output layer's); the optimum is 32."""
    costs = dict(enumerate([13, 12, 11, 10, 10, 9, 9, 8, 8, 6]))
    loads = [sum(costs[r] for r in pe) for pe in balance(costs, 3)]
    assert max(loads) == 32


def test_digits_schedule_meets_the_bound():
    s = make_schedule(make_plan(artifact.load(EXAMPLE)), "folded")
    assert s.initiation_interval <= 1.10 * s.cycles_lower_bound + 16
    for layer in s.layers:
        assert layer.lower_bound == math.ceil(layer.kept_blocks / layer.pes)
        assert layer.busiest_blocks >= layer.lower_bound
        assert layer.depth == layer.busiest
    assert s.rom_bits == sum(l.depth * l.pes * l.capacity.pe_width for l in s.layers) > 0


def _net(seed=0, probs=(0.3, 0.4, 0.3), like=None):
    """A random 10-8-5 network; ``like``: with that network's fracs (the same shifts)."""
    net = random_network(np.random.default_rng(seed), [10, 8, 5], (2, 2), 6, 8, probs)
    if like is None:
        return net
    return dataclasses.replace(net, layers=tuple(
        dataclasses.replace(l, w_frac=r.w_frac, output=r.output)
        for l, r in zip(net.layers, like.layers)))


def test_fit_accepts_same_artifact_and_refuses_what_does_not_fit():
    net = _net()
    s = schedule_folded(make_plan(net), (2, 2))
    assert fit(make_plan(net), s.capacities).capacities == s.capacities
    # more blocks than the depth: same shapes, nothing pruned
    full = _net(1, (0.0, 0.6, 0.4), like=net)
    with pytest.raises(FitError, match=r"layer 0 \(fc0\): the busiest of 2 PEs needs \d+ "
                                       r"words, more than the ROM depth"):
        fit(make_plan(full), s.capacities)
    # another shift
    shifted = dataclasses.replace(net, layers=(dataclasses.replace(
        net.layers[0], w_frac=net.layers[0].w_frac + 1),) + net.layers[1:])
    with pytest.raises(FitError, match="shift is"):
        fit(make_plan(shifted), s.capacities)
    # a magnitude wider than the field: a design generated for 3-bit weights
    narrow = random_network(np.random.default_rng(0), [10, 8, 5], (2, 2), 3, 8,
                            (0.3, 0.4, 0.3))
    caps = schedule_folded(make_plan(narrow), (2, 2), (10, 8)).capacities
    wide = dataclasses.replace(net, layers=tuple(
        dataclasses.replace(l, w_frac=n.w_frac, output=n.output)
        for l, n in zip(net.layers, narrow.layers)))
    with pytest.raises(FitError, match="wider than the word"):
        fit(make_plan(wide), caps)
    with pytest.raises(FitError, match="layers"):
        fit(make_plan(net), s.capacities[:1])


def test_the_rtl_depends_on_the_capacity_not_the_weights():
    """Two artifacts with the same capacity get the same RTL text (only the ROMs differ)."""
    a = _net(2)
    b = dataclasses.replace(a, layers=tuple(
        dataclasses.replace(l, weight=-l.weight, bias=-l.bias) for l in a.layers))
    ra = render(schedule_folded(make_plan(a), (2, 2), (10, 8)))
    rb = render(schedule_folded(make_plan(b), (2, 2), (10, 8)))
    rtl = lambda r: {k: v.replace(artifact.digest(a)[:16], "").replace(
        artifact.digest(b)[:16], "") for k, v in r.files.items() if k.startswith("rtl/")}
    assert rtl(ra) == rtl(rb)
    assert ra.files["rom/l0_fc0_blocks.mem"] != rb.files["rom/l0_fc0_blocks.mem"]


def test_manifest_round_trip_and_unrolled_manifest_unchanged(tmp_path):
    net = _net()
    folded = render(make_schedule(make_plan(net), "folded")).manifest
    assert DesignManifest.from_json(folded.to_json()) == folded
    assert folded.roms == tuple(f"rom/{c.rom}.mem" for c in folded.folded)
    unrolled = render(make_schedule(make_plan(net))).manifest.to_json()
    assert "folded" not in json.loads(unrolled) and "roms" not in json.loads(unrolled)


@pytest.fixture(scope="module")
def verilator():
    try:
        return find_verilator()
    except SimulatorError as exc:
        pytest.skip(str(exc))


@pytest.mark.parametrize("sizes, block, probs, pes", [
    ([10, 7, 5], (3, 2), (0.4, 0.4, 0.2), (2, 1)),
    ([9, 6, 4], (1, 1), (0.3, 0.4, 0.3), (3, 4)),
    ([8, 6, 4], (2, 2), (1.0, 0.0, 0.0), (1, 1)),
    ([6, 5, 3], (2, 2), (0.0, 0.0, 1.0), ()),
])
def test_folded_rtl_lint_clean(sizes, block, probs, pes, tmp_path, verilator):
    net = random_network(np.random.default_rng(5), sizes, block, 8, 8, probs)
    generate(net, tmp_path / "d", "folded", options=ScheduleOptions(pes=pes))
    m = DesignManifest.load(tmp_path / "d")
    srcs = [str(tmp_path / "d" / s) for s in m.sources]
    out = subprocess.run([str(verilator.path), "--lint-only", "-Wall", "--top-module", m.top,
                          *srcs], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[:3000]
    if shutil.which("iverilog"):
        out = subprocess.run(["iverilog", "-g2012", "-Wall", "-o", str(tmp_path / "a.out"),
                              *srcs], capture_output=True, text=True)
        assert out.returncode == 0 and not out.stderr.strip(), out.stderr[:3000]


def test_cli_rom_fit_and_its_bad_input(tmp_path, capsys):
    net = _net()
    artifact.save(net, tmp_path / "a.json")
    full = _net(1, (0.0, 0.6, 0.4), like=net)
    artifact.save(full, tmp_path / "full.json")
    assert main(["generate", str(tmp_path / "a.json"), "--arch", "folded", "--pes", "2,2",
                 "--out", str(tmp_path / "design")]) == 0
    # the design ships exactly what `hlsgen rom` writes for the same options
    assert main(["rom", str(tmp_path / "a.json"), "--pes", "2,2",
                 "--out", str(tmp_path / "rom")]) == 0
    shipped = {p.name: p.read_text() for p in (tmp_path / "design" / "rom").iterdir()}
    assert shipped == {p.name: p.read_text() for p in (tmp_path / "rom").iterdir()}
    assert main(["rom", str(tmp_path / "a.json"), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "fit")]) == 0
    assert {p.name: p.read_text() for p in (tmp_path / "fit").iterdir()} == shipped
    capsys.readouterr()
    # does not fit: one line, exit 2, nothing written
    assert main(["rom", str(tmp_path / "full.json"), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "nofit")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "more than the ROM depth" in err
    assert not (tmp_path / "nofit").exists()
    # an unrolled design has no ROM capacity
    assert main(["generate", str(tmp_path / "a.json"), "--out", str(tmp_path / "unr")]) == 0
    capsys.readouterr()
    assert main(["rom", str(tmp_path / "a.json"), "--fit", str(tmp_path / "unr"),
                 "--out", str(tmp_path / "x")]) == 2
    assert "--fit needs a folded design" in capsys.readouterr().err
    # simulate --rom: ROMs of another artifact, or not made for this design
    assert main(["simulate", str(tmp_path / "full.json"), "--design",
                 str(tmp_path / "design"), "--rom", str(tmp_path / "fit"), "--vectors",
                 "random", "--out", str(tmp_path / "s.json")]) == 2
    assert "another artifact" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "a.json"), "--design", str(tmp_path / "design"),
                 "--rom", str(tmp_path / "nothing"), "--vectors", "random",
                 "--out", str(tmp_path / "s.json")]) == 2
    assert "holds no readable" in capsys.readouterr().err
    assert not (tmp_path / "s.json").exists()
    # too many PEs for the block rows
    assert main(["generate", str(tmp_path / "a.json"), "--arch", "folded", "--pes", "9",
                 "--out", str(tmp_path / "d9")]) == 2
    assert "at most 4 PEs" in capsys.readouterr().err


def test_rom_fit_refuses_a_cnn_of_other_geometry(tmp_path, capsys):
    """Pooling kind or feature-map geometry the ROM capacity cannot see: a network whose
    matrices fit every ROM but whose skeleton differs (max -> average pooling) is refused."""
    from pathlib import Path

    from hlsgen.manifest import DesignManifest
    from hlsgen.plan import make_plan
    src = Path(__file__).resolve().parent.parent / "examples" / "digits_cnn.json"
    assert main(["generate", str(src), "--arch", "folded", "--out",
                 str(tmp_path / "design")]) == 0
    manifest = DesignManifest.load(tmp_path / "design")
    assert manifest.structure == make_plan(artifact.load(src)).structure_digest()
    assert main(["rom", str(src), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "same")]) == 0
    doc = json.loads(src.read_text())
    pools = [layer for layer in doc["network"]["layers"] if layer["type"] == "maxpool2d"]
    assert pools
    pools[0]["type"] = "avgpool2d"
    swapped = tmp_path / "avg.json"
    artifact.save(artifact.network_from_json(doc["network"]), swapped)
    artifact.load(swapped)  # a valid artifact
    capsys.readouterr()
    assert main(["rom", str(swapped), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "other")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "feature-map geometry" in err
    assert not (tmp_path / "other").exists()
