"""The sweep spec (hlsgen.sweep.spec): grids, random samples, extra points, point identity,
and one-line errors for bad input. No Dask, no training, no simulator."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.cli import main
from hlsgen.randnet import random_network
from hlsgen.sweep import SpecError, load_spec, parse_spec
from hlsgen.sweep.engine import spec_axes
from hlsgen.sweep.results import ResultsFile, pareto_front, read_results
from hlsgen.sweep.spec import check_compressor, compressor_settings

ROOT = Path(__file__).resolve().parents[1]

GRID = """
[sweep]
name = "t"
[settings]
hidden = [8]
epochs = 2
count = 16
[grid]
prune = [0.25, 0.5, 0.75]
w_bits = [4, 8]
"""


def test_grid_points_in_order_with_settings_and_types():
    spec = parse_spec(GRID)
    assert spec.name == "t"
    assert spec.stages == ("compress", "generate", "simulate")
    got = [(dict(p.params)["prune"], dict(p.params)["w_bits"]) for p in spec.points]
    assert got == [(0.25, 4), (0.25, 8), (0.5, 4), (0.5, 8), (0.75, 4), (0.75, 8)]
    p = spec.points[3]
    assert p.index == 3
    # compressor settings exclude hlsgen's own keys; arrays become tuples
    assert compressor_settings(p) == {"hidden": (8,), "epochs": 2, "prune": 0.5, "w_bits": 8}
    assert p.sim.count == 16 and p.sim.simulator == "verilator" and p.sim.vectors == "digits"
    assert p.synth is None and p.arch == "unrolled"
    assert spec_axes(spec) == ["prune", "w_bits"]
    assert len({p.key for p in spec.points}) == 6


def test_point_key_depends_on_what_determines_the_result_only():
    a = parse_spec(GRID).points[0]
    # the same point spelled in another order, alone, via [[points]]
    b = parse_spec('[settings]\nw_bits = 4\nprune = 0.25\ncount = 16\nepochs = 2\n'
                   'hidden = [8]\n[[points]]\n').points[0]
    assert a.key == b.key
    c = parse_spec(GRID.replace("count = 16", "count = 17")).points[0]
    assert c.key != a.key
    d = parse_spec(GRID.replace("[sweep]", '[sweep]\nstages = ["compress", "generate"]')
                   ).points[0]
    assert d.key != a.key
    # without the simulate stage the simulation settings do not count
    e = parse_spec(GRID.replace("[sweep]", '[sweep]\nstages = ["compress", "generate"]')
                   .replace("count = 16", "count = 99")).points[0]
    assert e.key == d.key


def test_extra_points_override_settings_and_random_sample_is_seeded():
    spec = parse_spec(GRID + "[[points]]\nprune = 0.9\nw_bits = 2\n[[points]]\nhidden = [4]\n")
    assert len(spec.points) == 8
    assert dict(spec.points[6].params)["prune"] == 0.9
    assert compressor_settings(spec.points[7])["hidden"] == (4,)
    rnd = GRID.replace('name = "t"', 'name = "t"\nsample = "random"\nsamples = 3\nseed = 5')
    a, b = parse_spec(rnd), parse_spec(rnd)
    assert [p.key for p in a.points] == [p.key for p in b.points]
    assert len(a.points) == 3
    grid_keys = {p.key for p in parse_spec(GRID).points}
    assert {p.key for p in a.points} <= grid_keys
    others = {tuple(p.key for p in parse_spec(rnd.replace("seed = 5", f"seed = {s}")).points)
              for s in range(6)}
    assert len(others) > 1


def test_artifact_points(tmp_path):
    net = random_network(np.random.default_rng(0), [6, 5, 3], (1, 2))
    artifact.save(net, tmp_path / "net.json")
    text = '[sweep]\nstages = ["generate", "simulate"]\n[settings]\nhidden = [8]\n' \
           'vectors = "random"\n[[points]]\nartifact = "net.json"\n'
    (tmp_path / "s.toml").write_text(text)
    spec = load_spec(tmp_path / "s.toml")
    (p,) = spec.points
    assert artifact.digest(artifact.loads(p.artifact_text)) == artifact.digest(net)
    assert p.compress == () and "hidden" not in dict(p.params)
    assert dict(p.params)["artifact"] == "net.json"


SYNTH = '[sweep]\nstages = ["compress", "generate", "synth"]\n[settings]\n'


def test_synth_settings():
    p = parse_spec(SYNTH + 'targets = ["ecp5"]\npnr = false\nfreq = 100\n[[points]]\n').points[0]
    assert p.synth.targets == ("ecp5",) and p.synth.pnr is False and p.synth.freq_mhz == 100.0
    q = parse_spec(SYNTH + 'targets = ["ecp5"]\npnr = false\nfreq = 120\n[[points]]\n').points[0]
    assert p.key != q.key


@pytest.mark.parametrize("text, words", [
    ("[sweep\n", "not valid TOML"),
    ("[swep]\n[[points]]\n", "unknown section or key 'swep'"),
    ("[sweep]\nstage = []\n[[points]]\n", "[sweep] has no key 'stage'"),
    ('[sweep]\nstages = ["compress", "simulat"]\n[[points]]\n', "unknown stage 'simulat'"),
    ('[sweep]\nstages = ["compress", "simulate"]\n[[points]]\n', "needs the generate stage"),
    ('[sweep]\nstages = ["generate"]\n[[points]]\n', "needs artifact"),
    ("[sweep]\nname = 3\n[[points]]\n", "name must be a non-empty string"),
    ("[sweep]\n", "no points"),
    ("[grid]\nprune = 0.5\n", "[grid] prune must be a non-empty list"),
    ("[grid]\nprune = []\n", "[grid] prune must be a non-empty list"),
    ("points = 3\n", "points must be an array of tables"),
    ('[sweep]\nsample = "bayes"\n[grid]\nprune = [0.1]\n', "sample must be one of grid, random"),
    ('[sweep]\nsample = "random"\n[grid]\nprune = [0.1]\n', "needs samples = N"),
    ('[sweep]\nsample = "random"\nsamples = 3\n[grid]\nprune = [0.1]\n', "has only 1 points"),
    ("[sweep]\nsamples = 3\n[grid]\nprune = [0.1]\n", "samples applies to sample = \"random\""),
    ('[settings]\narch = "spiral"\n[[points]]\n', "arch must be one of unrolled"),
    ("[settings]\nlevels_per_stage = 0\n[[points]]\n", "levels_per_stage must be an integer >= 1"),
    ('[settings]\nsimulator = "vcs"\n[[points]]\n', "simulator must be one of verilator, icarus"),
    ('[settings]\nvectors = "mnist"\n[[points]]\n', "vectors must be one of digits, random"),
    ("[settings]\ncount = 0\n[[points]]\n", "count must be an integer >= 1"),
    ("[settings]\nstall_in = 1.0\n[[points]]\n", "stall_in must be a probability"),
    ("[settings]\nsim_seed = 1.5\n[[points]]\n", "sim_seed must be an integer"),
    (SYNTH + 'targets = ["vivado"]\n[[points]]\n', "targets must list synthesis targets"),
    (SYNTH + 'device = "12k"\n[[points]]\n', "device must be one of auto"),
    (SYNTH + "freq = -1\n[[points]]\n", "freq must be a positive clock"),
    ('[[points]]\nartifact = "missing.json"\n', "cannot read artifact"),
    ("[grid]\nprune = [0.5, 0.5]\n", "points 0 and 1 are the same point"),
])
def test_bad_specs_are_one_line_errors(text, words):
    with pytest.raises(SpecError) as info:
        parse_spec(text, Path("bad.toml"))
    msg = str(info.value)
    assert words in msg, msg
    assert msg.startswith("bad.toml: ") and "\n" not in msg


def test_point_errors_name_the_point():
    with pytest.raises(SpecError, match=r"\[\[points\]\] 1: count must be"):
        parse_spec("[[points]]\n[[points]]\ncount = -2\n")
    with pytest.raises(SpecError, match="grid point 2: stall_out"):
        parse_spec("[grid]\nstall_out = [0.1, 0.2, 2.0]\n")


def test_corrupt_artifact_is_named(tmp_path):
    (tmp_path / "bad.json").write_text("{}")
    (tmp_path / "s.toml").write_text('[[points]]\nartifact = "bad.json"\n')
    with pytest.raises(SpecError, match="not an hlsgen artifact"):
        load_spec(tmp_path / "s.toml")


def test_compressor_settings_are_checked_by_the_compressor():
    spec = parse_spec(GRID + "[[points]]\nw_bits = 40\n")
    seen = []

    def prepare(settings):
        seen.append(settings)
        if settings["w_bits"] > 16:
            raise ValueError("w_bits must lie in [2, 16]")

    with pytest.raises(SpecError, match=r"point 6 \(.*w_bits=40.*\): invalid compressor "
                                        r"setting: w_bits must lie in \[2, 16\]"):
        check_compressor(spec, prepare)
    assert len(seen) == 7


def test_results_file_resumes_after_a_cut_line(tmp_path):
    path = tmp_path / "results.jsonl"
    rf = ResultsFile(path)
    rf.append({"point": "a", "index": 0, "status": "ok"})
    with open(path, "a") as fh:
        fh.write('{"point": "b", "ind')       # an interrupted write
    rf.append({"point": "c", "index": 2, "status": "failed", "error": "x"})
    rf.append({"point": "a", "index": 0, "status": "failed", "error": "y"})
    rows = read_results(path)
    assert sorted(rows) == ["a", "c"]
    assert rows["a"]["error"] == "y"                     # the later row of a point wins
    assert all(json.loads(l) for l in path.read_text().splitlines()[2:])


def test_pareto_front():
    rows = [{"index": i, "status": "ok", "rtl_accuracy": a, "weight_bits": w}
            for i, (a, w) in enumerate([(0.9, 100), (0.8, 200), (0.95, 300), (0.95, 250),
                                        (0.5, 50)])]
    front = pareto_front(rows, "weight_bits")
    assert [r["index"] for r in front] == [4, 0, 3]
    rows.append({"index": 9, "status": "ok", "int_accuracy": 0.99, "synth": {
        "ecp5": {"lut_eq": 10}}})
    assert [r["index"] for r in pareto_front(rows, "lut_eq")] == [9]


def test_cli_bad_spec_exits_2_and_writes_nothing(tmp_path, capsys):
    spec = tmp_path / "s.toml"
    spec.write_text("[grid]\nprune = 0.5\n")
    out = tmp_path / "sw"
    assert main(["sweep", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("hlsgen sweep: error: ") and "[grid] prune" in err
    assert len(err.splitlines()) == 1
    assert not out.exists()
    assert main(["sweep", str(tmp_path / "nope.toml"), "--out", str(out)]) == 2
    assert "no such sweep spec" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "mine.txt").write_text("keep")
    spec.write_text(GRID)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "other")]) == 2
    assert "mine.txt, which `hlsgen sweep` did not write" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "other").iterdir()) == ["mine.txt"]
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "2",
                 "--scheduler", "tcp://127.0.0.1:8786"]) == 2
    assert "drop --workers" in capsys.readouterr().err
    assert not out.exists()


def test_example_spec_parses():
    spec = load_spec(ROOT / "examples" / "sweep.toml")
    assert "synth" not in spec.stages
    assert 4 <= len(spec.points) <= 8
    assert spec_axes(spec) == ["prune", "w_bits", "artifact"]


def _compression_benchmark():
    """benchmarks/compression.py, loaded under another name (its own shadows the package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("benchmark_compression",
                                                  ROOT / "benchmarks" / "compression.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("quick", [False, True])
def test_compression_benchmark_grid_is_a_sweep_spec_of_its_cli_rows(quick):
    """The benchmark's grid, written as a sweep spec, gives each point the compressor
    settings that the row's `hlsgen compress` command line gives the compressor (so the
    row's "cli" reproduces the sweep point's artifact), and every point is distinct."""
    from hlsgen.cli import COMPRESS_OPTIONS, build_parser

    bench = _compression_benchmark()
    rows = [(net, name, bench.settings_of(net, name, quick))
            for net in bench.NETS for name in bench.ROWS]
    spec = parse_spec(bench.spec_text(rows))
    assert spec.stages == ("compress",) and spec.compressor == "digits"
    assert len(spec.points) == len(rows) == 34  # 17 rows on each of the 2 nets
    assert len({p.key for p in spec.points}) == 34
    for (net, name, settings), point in zip(rows, spec.points):
        assert point.arch == "unrolled" and point.artifact_text is None
        args = build_parser().parse_args(bench.cli_of(settings)[1:])
        from_cli = {k: getattr(args, k) for k in COMPRESS_OPTIONS
                    if getattr(args, k, None) is not None}
        swept = compressor_settings(point)
        assert swept == from_cli, (net, name)
        # same values and same types (0.0 and 0 spell different artifacts' metadata)
        assert {k: type(v) for k, v in swept.items()} == \
            {k: type(v) for k, v in from_cli.items()}, (net, name)
    assert all(dict(p.params).get("epochs") == (5 if quick else None) for p in spec.points)
