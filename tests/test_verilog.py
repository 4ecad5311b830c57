"""Tests for the Verilog backend (hlsgen.backends.verilog, hlsgen.templating, templates/verilog),
hlsgen.generate and hlsgen.output.

Every rendered design must pass ``verilator --lint-only -Wall`` with no warning at all;
no simulation here (that is rtl_tests/)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

import hlsgen
from hlsgen import output
from hlsgen.artifact import ArtifactError, QType, digest, dumps, loads
from hlsgen.backends import render
from hlsgen.backends.verilog import FIFO_FILE, VerilogNames, render_files
from hlsgen.generate import generate
from hlsgen.output import OutputError, atomic_write_text, write_tree
from hlsgen.plan import make_plan
from hlsgen.schedules import ScheduleOptions, make_schedule
from hlsgen.sim.toolchain import SimulatorError, find_verilator
from hlsgen.templating import environment, template_dir, v_bits, v_lit, v_resize, \
    v_sext

from conftest import legal_random_network, make_layer, make_net


# --------------------------------------------------------------------------- lint helper


def render_verilog(plan, options: ScheduleOptions = ScheduleOptions()) -> dict[str, str]:
    return render_files(make_schedule(plan, options=options))


def top_module(plan) -> str:
    return VerilogNames(plan.name).top


def design_files(plan) -> dict[str, str]:
    return render(make_schedule(plan)).tree()


@pytest.fixture(scope="session")
def verilator():
    try:
        tool = find_verilator()
    except SimulatorError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"verilator missing in CI: {exc}")
        pytest.skip(str(exc))
    return tool


def lint(tool, files: dict[str, str], top: str, workdir: Path) -> subprocess.CompletedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in sorted(files.items()):
        p = workdir / name
        p.write_text(text)
        paths.append(str(p))
    env = dict(os.environ, PATH=f"{tool.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return subprocess.run([str(tool.path), "--lint-only", "-Wall", "--top-module", top, *paths],
                          capture_output=True, text=True, env=env, timeout=120, check=False)


def assert_lint_clean(tool, net, workdir: Path) -> None:
    assert_lint_clean_options(tool, net, workdir, ScheduleOptions())


def assert_lint_clean_options(tool, net, workdir: Path, options) -> None:
    plan = make_plan(net)
    files = render_files(make_schedule(plan, options=options))
    result = lint(tool, files, top_module(plan), workdir)
    warnings = [line for line in result.stderr.splitlines() if line.startswith("%")]
    assert result.returncode == 0 and not warnings, "\n".join(warnings[:20])
    assert "%Warning" not in result.stderr and "%Error" not in result.stderr


def pruned(net, index: int):
    """``net`` with layer ``index`` entirely pruned (weights zero, every block P)."""
    layer = net.layers[index]
    dead = dataclasses.replace(layer, kinds=np.zeros_like(layer.kinds),
                               weight=np.zeros_like(layer.weight))
    layers = list(net.layers)
    layers[index] = dead
    return dataclasses.replace(net, layers=tuple(layers))


# name: (sizes, block, (pruned, unified, dense), w_bits, a_bits, signed input, pruned layer)
CASES = {
    "mixed-2x2": ([6, 5, 3], (2, 2), (0.5, 0.3, 0.2), 8, 8, False, None),
    "edge-blocks-3x2": ([7, 5, 4], (3, 2), (0.3, 0.4, 0.3), 8, 8, True, None),
    "unified-2bit": ([8, 6, 4], (2, 2), (0.3, 0.7, 0.0), 2, 4, False, None),
    "dense-2bit": ([8, 6, 4], (4, 2), (0.2, 0.3, 0.5), 2, 8, False, None),
    "dense-16bit": ([5, 4, 3], (2, 2), (0.0, 0.0, 1.0), 16, 16, True, None),
    "mixed-16bit": ([6, 4], (3, 3), (0.2, 0.4, 0.4), 16, 16, False, None),
    "all-pruned-middle": ([6, 5, 4, 3], (2, 2), (0.3, 0.4, 0.3), 8, 8, False, 1),
    "all-pruned-last": ([6, 5, 4], (1, 3), (0.3, 0.4, 0.3), 8, 8, True, 1),
    "elementwise-1x1": ([7, 5, 3], (1, 1), (0.3, 0.4, 0.3), 6, 8, True, None),
    "block-covers-matrix": ([3, 2], (8, 8), (0.0, 0.5, 0.5), 8, 8, False, None),
    "tall-5x1": ([9, 7, 2], (5, 1), (0.2, 0.5, 0.3), 4, 6, True, None),
}


def case_net(case: str):
    sizes, block, probs, w_bits, a_bits, signed, dead = CASES[case]
    net = legal_random_network(0, sizes, block, w_bits=w_bits, a_bits=a_bits,
                               kind_probs=probs, input_signed=signed, name=case)
    return net if dead is None else pruned(net, dead)


@pytest.mark.parametrize("case", sorted(CASES))
def test_lint_clean(case, verilator, tmp_path):
    net = case_net(case)
    if CASES[case][6] is not None:
        assert make_plan(net).layers[CASES[case][6]].kept_blocks == ()
    assert_lint_clean(verilator, net, tmp_path)


def test_lint_catches_a_broken_file(verilator, tmp_path):
    """Control: the lint helper does report problems."""
    plan = make_plan(case_net("mixed-2x2"))
    files = render_verilog(plan)
    files[FIFO_FILE] = files[FIFO_FILE].replace("reg [AW:0] rd;",
                                                "reg [AW:0] rd;\n    wire [3:0] z = 5'd0;")
    result = lint(verilator, files, top_module(plan), tmp_path)
    assert result.returncode != 0 and "%Warning" in result.stderr


# --------------------------------------------------------------------------- lint bugs


def test_lint_dense_block_with_zero_column(verilator, tmp_path):
    layer = make_layer([[3, 0]], [0], block=(1, 2), kinds=["D"], w_bits=8,
                       output=QType(8, 0, True))
    assert_lint_clean(verilator, make_net([layer], QType(8, 0, False)), tmp_path)


def test_lint_q_slice_outside_accumulator(verilator, tmp_path):
    layer = make_layer([[1]], [-7], w_bits=2, w_frac=0, output=QType(4, -4, True))
    assert_lint_clean(verilator, make_net([layer], QType(2, 0, False)), tmp_path)


def test_lint_unsigned_output_without_clamp(verilator, tmp_path):
    layer = make_layer([[1]], [0], w_bits=2, output=QType(2, 0, False), relu=True)
    assert_lint_clean(verilator, make_net([layer], QType(2, 0, False)), tmp_path)


def test_non_ascii_network_name_is_refused():
    with pytest.raises(ArtifactError, match="name 'Größe' must be"):
        render_verilog(make_plan(dataclasses.replace(case_net("mixed-2x2"), name="Größe")))


def test_layer_name_cannot_inject_verilog():
    """A layer name with a newline would end a `//` comment: the artifact refuses it."""
    net = case_net("mixed-2x2")
    evil = dataclasses.replace(net.layers[0], name="fc0\nmodule evil; endmodule //")
    net = dataclasses.replace(net, layers=(evil,) + net.layers[1:])
    with pytest.raises(ArtifactError, match="layer 0: name .* must be 1-64 characters"):
        render_verilog(make_plan(net))


# --------------------------------------------------------------------------- headers


@pytest.mark.parametrize("case", ["mixed-2x2", "all-pruned-middle", "dense-16bit"])
def test_every_file_names_version_and_artifact(case):
    net = case_net(case)
    sha = json.loads(dumps(net))["sha256"]
    plan = make_plan(net)
    files = design_files(plan)
    verilog = {k: v for k, v in files.items() if k.endswith(".v")}
    assert f"rtl/{FIFO_FILE}" in verilog and f"rtl/{top_module(plan)}.v" in verilog
    assert len(verilog) == 2 + len(plan.layers)      # FIFO, one file per layer, top
    for name, text in verilog.items():
        lines = text.splitlines()
        head = []
        for line in lines:
            if not line.startswith("//"):
                break
            head.append(line)
        assert lines[0].startswith("// "), name                # starts with the header block
        banner = [l for l in head[:2] if f"hlsgen {hlsgen.__version__}" in l]
        assert banner, f"{name}: no version in {head[:2]}"
        assert f"sha256:{sha[:16]}" in banner[0], name
        assert "`timescale 1ns/1ps" in lines[len(head)], name   # right after the header
        assert text.count("`timescale") == 1
        assert text.rstrip().endswith("`default_nettype wire"), name
    manifest = json.loads(files["design.json"])
    assert manifest["artifact_sha256"] == sha == digest(net)
    assert manifest["generator"] == f"hlsgen {hlsgen.__version__}"
    assert sorted(manifest["sources"]) == sorted(verilog)
    assert manifest["top"] == top_module(plan)


# --------------------------------------------------------------------------- templates


def all_templates() -> list[str]:
    return sorted(environment().list_templates(extensions=["j2"]))


def test_template_dir_holds_the_verilog_templates():
    names = all_templates()
    assert Path(template_dir(), "verilog").is_dir()
    assert {"verilog/layer.v.j2", "verilog/macros.j2", "verilog/top_unrolled.v.j2",
            "verilog/hlsgen_axis_fifo.v.j2"} <= set(names)
    on_disk = sorted(str(p.relative_to(template_dir())).replace(os.sep, "/")
                     for p in Path(template_dir()).rglob("*.j2"))
    assert names == on_disk


@pytest.mark.parametrize("name", all_templates())
def test_every_template_compiles(name):
    """A Jinja/Verilog brace collision ({{N{x}}}, {#) is a template syntax error here."""
    template = environment().get_template(name)
    assert template is not None


def covering_net():
    """Unified blocks with a power-of-two and another magnitude, dense blocks, a pruned one."""
    l0 = make_layer([[4, -4, 3, -5], [-4, 4, 1, 0], [3, 3, 0, 0], [-3, 3, 0, 0]],
                    [10, -20, 0, 5], block=(2, 2), w_bits=8, w_frac=1,
                    output=QType(8, 0, False), relu=True, name="fc0")
    l1 = make_layer([[1, 2, -3, 4], [0, 0, 0, 0]], [1, 2], block=(1, 4), w_bits=4,
                    output=QType(8, 0, True), name="fc1")
    return make_net([l0, l1], QType(8, 0, False), name="cover")


def test_every_template_is_rendered(monkeypatch, verilator, tmp_path):
    env = environment()
    used: list[str] = []
    original = env.get_template

    def recording(name, *args, **kwargs):
        used.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(env, "get_template", recording)
    net = covering_net()
    plan = make_plan(net)
    kinds = {(pe.kind.name, pe.magnitude_shift is not None) for l in plan.layers
             for pe in l.kept_blocks}
    assert kinds == {("UNIFIED", True), ("UNIFIED", False), ("DENSE", False)}
    files = {**design_files(plan),  # every architecture renders its templates
             **{f"folded/{k}": v for k, v in render(make_schedule(plan, "folded")).tree().items()}}
    # feature maps: the streaming stages (hlsgen/schedules/stream.py)
    from hlsgen.randcnn import random_cnn
    cnn = random_cnn(np.random.default_rng(0), (2, 5, 5), [dict(out=2, kernel=3, padding=1,
                                                                block=(1, 2))],
                     pool=("avg", 2), dense=(3,))
    files.update({f"stream/{k}": v
                  for k, v in render(make_schedule(make_plan(cnn))).tree().items()})
    files.update({f"folded_stream/{k}": v
                  for k, v in render(make_schedule(make_plan(cnn), "folded")).tree().items()})
    # the Verilog backend's templates (tests/test_hls_backend.py covers templates/hls/)
    assert sorted(set(used)) == [t for t in all_templates() if t.startswith("verilog/")]
    for name, text in files.items():
        for marker in ("{%", "%}", "{#", "#}", "{{ ", " }}"):
            assert marker not in text, f"{name}: leftover {marker!r}"
    monkeypatch.undo()
    assert_lint_clean(verilator, net, tmp_path)


GOLDEN_LAYER_LINES = [
    "    input  wire [7:0] x,",
    "    output reg  [7:0] y",
    "    wire signed [4:0] n0 = {1'b0, x[3:0]};",
    "    wire signed [4:0] n1 = {1'b0, x[7:4]};",
    "    wire signed [5:0] n2 = n1 - (n0 <<< 1);",
    "    wire signed [7:0] n3 = n2 - (n1 <<< 2);",
    "    reg signed [4:0] n0_d1;",
    "    reg signed [7:0] n3_d1;",
    "        n0_d1 <= n0;",
    "        n3_d1 <= n3;",
    "    reg signed [7:0] acc0;",
    "        acc0 <= 8'sd2 - n3_d1;",
    "        acc1 <= 8'sd0 - (n0_d1 <<< 1);",
    "    wire signed [6:0] q0 = acc0[7:1];",
    "        y[3:0] <= (q0 > 7'sd15) ? 4'hf : (q0 < 7'sd0) ? 4'h0 : q0[3:0];",
    "        y[7:4] <= (q1 > 7'sd15) ? 4'hf : (q1 < 7'sd0) ? 4'h0 : q1[3:0];",
]


def test_golden_tiny_design():
    """Hand-checked: 4-bit unsigned x (width 5); block (2, 1); w = [[2, 3], [-2, 0]].

    Column 0 is a unified block (magnitude 2, signs +/-): 2 x0 is x0 shifted, no adder.
    Column 1 is dense (3 = 4 - 1, and 0). Row 0's terms -x1, 2 x0, 4 x1 join shallowest
    first: n2 = x1 - 2 x0 in [-30, 15] (6 bits), n3 = n2 - 4 x1 in [-75, 0] (8 bits), and
    row 0 = -n3; row 1 = -(x0 << 1). Both adders sit in stage 0, so the accumulators read
    them (and x0) one register later: acc0 = (bias + round = 2) - n3, acc1 = 0 - 2 x0.
    acc range [-31, 77] -> 8 bits; q = acc >> 1 in [-16, 38] -> 7 bits; ReLU + 15 clamps.
    (Two adder levels per stage, as hand-checked; the default is one.)
    """
    layer = make_layer([[2, 3], [-2, 0]], [1, -1], block=(2, 1), w_bits=3, w_frac=0,
                       output=QType(4, -1, False), relu=True, name="fc0")
    files = render_verilog(make_plan(make_net([layer], QType(4, 0, False), name="tiny")),
                           ScheduleOptions(levels_per_stage=2))
    assert sorted(files) == [FIFO_FILE, "tiny_layer0.v", "tiny_top.v"]
    layer_lines = files["tiny_layer0.v"].splitlines()
    for line in GOLDEN_LAYER_LINES:
        assert line in layer_lines, line
    assert sum(" = n" in l and (" + " in l or " - " in l) for l in layer_lines) == 2


@pytest.mark.parametrize("value, width, text", [
    (0, 4, "4'sd0"), (7, 4, "4'sd7"), (-1, 4, "4'shf"), (-8, 4, "4'sh8"),
    (-2, 2, "2'sh2"), (1, 2, "2'sd1"), (-(1 << 40), 42, "42'sh30000000000"),
])
def test_v_lit(value, width, text):
    assert v_lit(value, width) == text


@pytest.mark.parametrize("value, width", [(8, 4), (-9, 4), (2, 2), (-3, 2)])
def test_v_lit_rejects_values_that_do_not_fit(value, width):
    with pytest.raises(ValueError, match=f"does not fit a {width}-bit signed literal"):
        v_lit(value, width)


def test_other_literal_filters():
    assert v_bits(-1, 4) == "4'hf" and v_bits(15, 8) == "8'hf" and v_bits(-128, 8) == "8'h80"
    assert v_sext("x", 4, 4) == "x[3:0]"
    assert v_sext("x", 5, 4) == "{x[3], x[3:0]}"
    assert v_sext("x", 8, 4, 4) == "{{4{x[7]}}, x[7:4]}"
    with pytest.raises(ValueError, match="cannot sign-extend 5 bits to 4"):
        v_sext("x", 4, 5)
    assert v_resize("acc", 8, 1, 7) == "acc[7:1]"
    assert v_resize("acc", 8, 3, 4) == "acc[6:3]"
    assert v_resize("acc", 8, 5, 4) == "{acc[7], acc[7:5]}"
    assert v_resize("acc", 8, 6, 4) == "{{2{acc[7]}}, acc[7:6]}"
    assert v_resize("acc", 4, 4, 1) == "acc[3]"
    assert v_resize("acc", 4, 9, 3) == "{{3{acc[3]}}}"


# --------------------------------------------------------------------------- determinism


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


@pytest.mark.parametrize("case", ["mixed-2x2", "all-pruned-last", "dense-16bit"])
def test_generate_is_deterministic(case, tmp_path):
    net = case_net(case)
    generate(net, tmp_path / "a")
    # rebuilt from its own artifact text: the same bytes again
    generate(loads(dumps(net)), tmp_path / "b")
    a, b = tree(tmp_path / "a"), tree(tmp_path / "b")
    assert a == b and len(a) >= 4
    generate(net, tmp_path / "a")                     # regenerate in place
    assert tree(tmp_path / "a") == a
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b"]   # no temp folders


# --------------------------------------------------------------------------- output


OLD = {"a.txt": "old a\n", "sub/b.txt": "old b\n", "raw.bin": b"\x00\x01"}


def test_write_tree_replaces_exactly(tmp_path):
    target = tmp_path / "out"
    write_tree(target, OLD)
    assert tree(target) == {"a.txt": b"old a\n", "raw.bin": b"\x00\x01",
                            "sub/b.txt": b"old b\n"}
    write_tree(target, {"c.txt": "new\n"})
    assert tree(target) == {"c.txt": b"new\n"}        # stale files are gone
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


@pytest.mark.parametrize("exc", [OSError("disk full"), KeyboardInterrupt()])
def test_write_tree_failure_midway_keeps_old_folder(tmp_path, monkeypatch, exc):
    target = tmp_path / "out"
    write_tree(target, OLD)
    before = tree(target)
    calls = []
    real_open = open

    def failing_open(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 2:                           # the second file of the new tree
            raise exc
        return real_open(*args, **kwargs)

    monkeypatch.setattr(output, "open", failing_open, raising=False)
    with pytest.raises(type(exc)):
        write_tree(target, {"a.txt": "new a", "b.txt": "new b", "c.txt": "new c"})
    assert len(calls) == 2
    assert tree(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]   # no .tmp / .old left behind


def test_write_tree_failure_during_swap_restores_old_folder(tmp_path, monkeypatch):
    target = tmp_path / "out"
    write_tree(target, OLD)
    before = tree(target)
    real_replace = os.replace
    calls = []

    def flaky_replace(src, dst):
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:                           # moving the new tree into place
            raise OSError("rename failed")
        return real_replace(src, dst)

    monkeypatch.setattr(output.os, "replace", flaky_replace)
    with pytest.raises(OSError, match="rename failed"):
        write_tree(target, {"a.txt": "new"})
    monkeypatch.undo()
    assert calls[0][0] == "out" and calls[1][1] == "out" and calls[2][1] == "out"
    assert tree(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_generate_failure_keeps_previous_design(tmp_path, monkeypatch):
    good = case_net("mixed-2x2")
    generate(good, tmp_path / "design")
    before = tree(tmp_path / "design")

    def boom(schedule, backend):
        raise RuntimeError("render failed")

    monkeypatch.setattr("hlsgen.generate.render", boom)
    with pytest.raises(RuntimeError, match="render failed"):
        generate(case_net("dense-16bit"), tmp_path / "design")
    assert tree(tmp_path / "design") == before
    assert [p.name for p in tmp_path.iterdir()] == ["design"]


def test_write_tree_under_a_regular_file_raises(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    for target in (blocker / "out", blocker / "deeper" / "out"):
        with pytest.raises(OutputError, match="cannot create output folder"):
            write_tree(target, {"a.txt": "x"})
    with pytest.raises(OutputError):
        generate(case_net("mixed-2x2"), blocker / "design")
    assert blocker.read_text() == "not a folder"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


def test_write_tree_non_writable_parent_raises(tmp_path):
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        if os.access(parent, os.W_OK):
            pytest.skip("running as root: chmod does not stop writes "
                        "(test_write_tree_under_a_regular_file_raises covers the error)")
        with pytest.raises(OutputError, match="is not writable"):
            write_tree(parent / "out", {"a.txt": "x"})
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o700)


def test_atomic_write_text_leaves_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "f.txt"
    atomic_write_text(path, "one")
    atomic_write_text(path, "two")
    assert path.read_text() == "two"
    monkeypatch.setattr(output.os, "replace", lambda *a: (_ for _ in ()).throw(OSError("no")))
    with pytest.raises(OSError, match="no"):
        atomic_write_text(path, "three")
    monkeypatch.undo()
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]
