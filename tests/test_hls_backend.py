"""The HLS C++ backend renders the same shared adder graph as the Verilog, with the plan's
widths, the pragmas a Vitis HLS user expects, a testbench and a Vitis HLS script; missing
C-simulation prerequisites are one clear line. (g++ runs in rtl_tests/test_csim.py.)"""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hlsgen import __version__, artifact
from hlsgen.backends import BACKENDS, render
from hlsgen.backends.hls import HlsNames
from hlsgen.cli import main
from hlsgen.plan import make_plan
from hlsgen.randnet import random_network
from hlsgen.schedules import ScheduleOptions, make_schedule

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "digits_mlp.json"
NODE = re.compile(r"^\s*const ap_int<(\d+)> n(\d+) = (.*);$")


def _schedule(net):
    return make_schedule(make_plan(net))


@pytest.fixture(scope="module")
def digits():
    net = artifact.load(EXAMPLE)
    schedule = _schedule(net)
    return net, schedule, render(schedule, "hls")


def test_backend_is_registered_and_files_are_the_documented_set(digits) -> None:
    _, schedule, rendered = digits
    assert "hls" in BACKENDS
    names = HlsNames(schedule.plan.name)
    expected = {"hls/hlsgen_requantize.h", f"hls/{names.header_file}", f"hls/{names.top_file}",
                f"tb/{names.tb_file}", "hls/run_hls.tcl"}
    expected |= {f"hls/{names.layer_file(i)}" for i in range(len(schedule.layers))}
    assert set(rendered.files) == expected
    m = rendered.manifest
    assert (m.backend, m.arch, m.top, m.initiation_interval) == ("hls", "unrolled",
                                                                 names.top, 1)
    assert set(m.sources) == {p for p in expected if p.startswith("hls/")
                              and not p.endswith(".tcl")}
    assert m.artifact_sha256 == artifact.digest(digits[0])


def test_every_file_names_the_generator_and_the_artifact(digits) -> None:
    net, _, rendered = digits
    sha = artifact.digest(net)[:16]
    for path, text in rendered.files.items():
        head = "\n".join(text.splitlines()[:3])
        assert f"hlsgen {__version__}" in head and sha in head, path


def _nodes(text: str) -> dict[int, tuple[int, str]]:
    out = {}
    for line in text.splitlines():
        m = NODE.match(line)
        if m:
            out[int(m.group(2))] = (int(m.group(1)), m.group(3))
    return out


def test_layers_are_the_shared_adder_graph_with_the_plans_widths(digits) -> None:
    _, schedule, rendered = digits
    names = HlsNames(schedule.plan.name)
    for layer in schedule.layers:
        text = rendered.files[f"hls/{names.layer_file(layer.plan.index)}"]
        nodes = _nodes(text)
        graph = layer.graph
        assert len(nodes) == len(graph.nodes)          # every node once, nothing else
        assert graph.adders == sum(1 for w, e in nodes.values()
                                   if not e.startswith("x[") and " * " not in e)
        assert graph.multipliers == sum(1 for w, e in nodes.values() if " * " in e)
        for n in graph.nodes:
            width, expr = nodes[n.index]
            assert width == n.width
            if n.is_input:
                assert expr == f"x[{n.col}]"
            elif n.is_multiplier:
                assert re.fullmatch(rf"(ap_int<\d+>\()?n{n.a}\)? \* {n.const}LL", expr), expr
            else:
                refs = [int(v) for v in re.findall(r"n(\d+)", expr)]
                assert refs == [n.a, n.b]
                assert (" - " in expr) == (n.sign < 0)
                assert (f"<< {n.shift})" in expr) == (n.shift > 0)
        if not graph.multipliers:
            assert "*" not in text.split("#include", 1)[1]   # multiplier-free
        lp = layer.plan
        call = (f"hlsgen::requantize<{lp.acc_width}, {lp.shift}, {str(lp.relu).lower()}, "
                f"{lp.q_width}, {str(lp.clamp_hi is not None).lower()}, "
                f"{str(lp.clamp_lo is not None).lower()}, {lp.out_type.bits}, "
                f"{str(lp.out_type.signed).lower()}>")
        assert text.count(call) == lp.out_features
        for row in lp.rows:
            assert re.search(rf"const ap_int<{lp.acc_width}> acc{row.index} = "
                             rf"(ap_int<{lp.acc_width}>\()?{row.bias}LL", text), row.index


def test_pragmas_a_vitis_user_expects(digits) -> None:
    _, schedule, rendered = digits
    names = HlsNames(schedule.plan.name)
    top = rendered.files[f"hls/{names.top_file}"]
    for pragma in ("#pragma HLS INTERFACE axis port=s_axis",
                   "#pragma HLS INTERFACE axis port=m_axis",
                   "#pragma HLS INTERFACE ap_ctrl_none port=return",
                   "#pragma HLS PIPELINE II=1",
                   "#pragma HLS ARRAY_PARTITION variable=h0 complete",
                   f"#pragma HLS ARRAY_PARTITION variable=h{len(schedule.layers)} complete"):
        assert pragma in top
    assert "out.last = in.last;" in top
    assert "hls::stream" in top
    for i in range(len(schedule.layers)):
        assert "#pragma HLS INLINE" in rendered.files[f"hls/{names.layer_file(i)}"]
    header = rendered.files[f"hls/{names.header_file}"]
    plan = schedule.plan
    assert f"ap_uint<{plan.in_features * plan.in_type.bits}> data;" in header
    assert f"ap_uint<{plan.out_features * plan.out_type.bits}> data;" in header


def test_vitis_tcl_script_uses_the_documented_commands_in_order(digits) -> None:
    _, schedule, rendered = digits
    tcl = rendered.files["hls/run_hls.tcl"]
    names = HlsNames(schedule.plan.name)
    order = ["open_project", "set_top", "add_files", "add_files -tb", "open_solution",
             "set_part", "create_clock", "csim_design", "csynth_design", "cosim_design",
             "export_design"]
    positions = [tcl.index(f"\n{cmd} " if not cmd.endswith("design") else cmd)
                 for cmd in order]
    assert positions == sorted(positions)
    assert f"set_top {names.top}\n" in tcl
    for i in range(len(schedule.layers)):
        assert f"add_files {names.layer_file(i)} " in tcl
    assert f"add_files -tb ../tb/{names.tb_file} " in tcl
    assert "untested here" in tcl.lower()
    assert tcl.count("{") == tcl.count("}")


def test_all_pruned_layer_is_its_bias_alone() -> None:
    net = random_network(np.random.default_rng(5), [6, 4, 3], (2, 2), kind_probs=(1, 0, 0))
    schedule = _schedule(net)
    rendered = render(schedule, "hls")
    text = rendered.files[f"hls/{HlsNames(schedule.plan.name).layer_file(0)}"]
    assert "(void)x;" in text and not _nodes(text)
    for row in schedule.plan.layers[0].rows:
        assert f"acc{row.index} = {row.bias}LL;" in text


def test_an_unknown_architecture_is_refused_with_the_fix(digits) -> None:
    _, schedule, _ = digits
    other = dataclasses.replace(schedule, arch="systolic")
    with pytest.raises(ValueError, match="hls backend renders the unrolled, folded "
                                         "architecture.*not 'systolic'"):
        render(other, "hls")


# --------------------------------------------------------------------- the folded variant

ROM_ROW = re.compile(r"^\s*\{(\{.*\})\},?\s*// word (\d+)$")


def _folded(net, pes=()):
    return make_schedule(make_plan(net), "folded", ScheduleOptions(pes=tuple(pes)))


def _rom_words(text: str, layer) -> list[int]:
    """The walk ROM array of a folded layer's C++, reassembled into whole ROM words (PE 0 in
    the least significant bits, limbs of 64 bits, limb 0 lowest)."""
    cap = layer.capacity
    decl = re.search(rf"static const unsigned long long \w+_rom\[{cap.depth}\]"
                     rf"\[{cap.pes}\]\[(\d+)\] = \{{", text)
    assert decl, "no walk ROM array of the capacity's shape"
    words = {}
    for line in text.splitlines():
        row = ROM_ROW.match(line)
        if not row:
            continue
        pes = re.findall(r"\{([^{}]*)\}", row.group(1))
        assert len(pes) == cap.pes
        word = 0
        for p, pe in enumerate(pes):
            limbs = [int(v.strip().removesuffix("ULL"), 16) for v in pe.split(",")]
            assert len(limbs) == int(decl.group(1))
            for i, limb in enumerate(limbs):
                word |= limb << (p * cap.pe_width + 64 * i)
        words[int(row.group(2))] = word
    assert sorted(words) == list(range(cap.depth))
    return [words[k] for k in range(cap.depth)]


@pytest.mark.parametrize("pes", [(), (1, 1), (3, 2)])
def test_folded_rom_arrays_hold_exactly_the_rom_image_words(pes, digits) -> None:
    """The C++ arrays are the walk ROM images ``hlsgen rom`` writes (the .mem files), word
    for word, for the digits example and for a mixed net with dense blocks and edge blocks."""
    from hlsgen.blockrom import rom_tree, walk_rom

    nets = [digits[0], random_network(np.random.default_rng(8), [10, 7, 5], (3, 2),
                                      kind_probs=(0.3, 0.4, 0.3))]
    for net in nets:
        schedule = _folded(net, pes)
        files = render(schedule, "hls").files
        mems = rom_tree(schedule, ("mem",))
        names = HlsNames(schedule.plan.name)
        for layer in schedule.layers:
            text = files[f"hls/{names.layer_file(layer.plan.index)}"]
            words = _rom_words(text, layer)
            assert words == list(walk_rom(layer).words)
            mem = [int(ln, 16) for ln in mems[f"{layer.capacity.rom}.mem"].splitlines()
                   if ln and not ln.startswith("//")]
            assert words == mem
            assert any(words)


def test_folded_layer_uses_the_folded_widths_and_a_pipelined_walk() -> None:
    net = random_network(np.random.default_rng(3), [9, 6, 4], (2, 4),
                         kind_probs=(0.2, 0.4, 0.4))
    schedule = _folded(net, (2, 1))
    rendered = render(schedule, "hls")
    assert rendered.manifest.arch == "folded" and rendered.manifest.backend == "hls"
    assert rendered.manifest.initiation_interval == schedule.initiation_interval
    names = HlsNames(schedule.plan.name)
    for layer in schedule.layers:
        cap = layer.capacity
        text = rendered.files[f"hls/{names.layer_file(layer.plan.index)}"]
        assert re.search(rf"for \(int k = 0; k < {cap.depth}; \+\+k\) \{{\n"
                         r"#pragma HLS PIPELINE II=1\n", text)
        assert f"ap_int<{layer.acc_width}> acc[{cap.pes}][{cap.block_rows}];" in text
        assert f"ap_uint<{cap.pe_width}> w = 0;" in text
        assert (f"hlsgen::requantize<{layer.acc_width}, {cap.shift}, "
                f"{'true' if cap.relu else 'false'}, {layer.q_width}, ") in text
        assert ("const bool dense" in text) == (layer.dense_tree is not None)


def test_folded_pe_words_wider_than_ap_int_are_refused_in_one_line() -> None:
    net = random_network(np.random.default_rng(2), [32, 16], (16, 32), w_bits=8,
                         kind_probs=(0.0, 0.0, 1.0))
    with pytest.raises(ValueError, match=r"wider than ap_int's 1024; use smaller blocks "
                                         r"or --backend verilog") as exc:
        render(_folded(net), "hls")
    assert "\n" not in str(exc.value)


def test_generate_backend_hls_writes_the_folder(tmp_path, capsys) -> None:
    assert main(["generate", str(EXAMPLE), "--backend", "hls", "--out",
                 str(tmp_path / "d")]) == 0
    doc = json.loads((tmp_path / "d" / "design.json").read_text())
    assert doc["backend"] == "hls"
    for src in doc["sources"]:
        assert (tmp_path / "d" / src).is_file()
    assert (tmp_path / "d" / "hls" / "run_hls.tcl").is_file()


def test_csim_refuses_a_verilog_design(tmp_path, capsys) -> None:
    assert main(["generate", str(EXAMPLE), "--out", str(tmp_path / "v")]) == 0
    capsys.readouterr()
    assert main(["csim", str(EXAMPLE), "--design", str(tmp_path / "v"), "--out",
                 str(tmp_path / "c.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not an HLS design" in err and "--backend hls" in err and "\n" not in err
    assert not (tmp_path / "c.json").exists()


def _cli_without_hls4ml(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """The CLI in a fresh interpreter where hls4ml cannot be found (``sys.modules[name] =
    None`` is Python's documented marker of a module that is not available)."""
    code = ("import sys; sys.modules['hls4ml'] = None; from hlsgen.cli import main; "
            f"sys.exit(main({args!r}))")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, env={**_env(), "PYTHONPATH": str(ROOT)}, check=False)


def _env() -> dict[str, str]:
    import os
    return {k: v for k, v in os.environ.items() if k != "HLSGEN_AP_TYPES"}


def test_missing_hls4ml_is_one_line_naming_the_extra(tmp_path) -> None:
    assert main(["generate", str(EXAMPLE), "--backend", "hls", "--out",
                 str(tmp_path / "d")]) == 0
    done = _cli_without_hls4ml(["csim", str(EXAMPLE), "--design", str(tmp_path / "d"),
                                "--out", str(tmp_path / "c.json")], tmp_path)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'hlsgen[hls]'" in lines[0], done.stderr
    assert not (tmp_path / "c.json").exists()
    assert not (tmp_path / "d.sim_build").exists()
    run = _cli_without_hls4ml(["run", "--artifact", str(EXAMPLE), "--hls", "--out",
                               str(tmp_path / "out")], tmp_path)
    assert run.returncode == 2 and "hlsgen[hls]" in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_bad_ap_types_override_is_one_line(tmp_path) -> None:
    assert main(["generate", str(EXAMPLE), "--backend", "hls", "--out",
                 str(tmp_path / "d")]) == 0
    done = subprocess.run([sys.executable, "-m", "hlsgen.cli", "csim", str(EXAMPLE), "--design",
                           str(tmp_path / "d"), "--out", str(tmp_path / "c.json")],
                          cwd=tmp_path, capture_output=True, text=True, check=False,
                          env={**_env(), "PYTHONPATH": str(ROOT),
                               "HLSGEN_AP_TYPES": str(tmp_path)})
    assert done.returncode == 2
    assert "HLSGEN_AP_TYPES" in done.stderr and "ap_int.h" in done.stderr
    assert not (tmp_path / "c.json").exists()


def test_every_hls_template_is_rendered_and_leaves_no_template_syntax(monkeypatch) -> None:
    from hlsgen.templating import environment
    env = environment()
    used: list[str] = []
    original = env.get_template

    def recording(name, *args, **kwargs):
        used.append(name)
        return original(name, *args, **kwargs)

    monkeypatch.setattr(env, "get_template", recording)
    net = random_network(np.random.default_rng(2), [7, 5, 3], (2, 3), kind_probs=(0.3, 0.4, 0.3),
                         input_signed=True)
    rendered = render(_schedule(net), "hls")
    folded = render(_folded(net), "hls")
    from hlsgen.randcnn import random_cnn   # conv2d, pooling, flatten: their templates too
    cnn = render(_schedule(random_cnn(np.random.default_rng(2), (2, 6, 6),
                                      [dict(out=3, kernel=3, padding=1, block=(1, 2))],
                                      ("max", 2), (4,))), "hls")
    assert sorted(set(used)) == sorted(t for t in env.list_templates(extensions=["j2"])
                                       if t.startswith("hls/"))
    for name, text in [*rendered.files.items(), *folded.files.items(), *cnn.files.items()]:
        for marker in ("{%", "%}", "{#", "#}", "{{ ", " }}"):
            assert marker not in text, f"{name}: leftover {marker!r}"


@pytest.mark.parametrize("dsp", ["auto", "always"])
def test_dsp_policies_render_constant_multipliers(dsp) -> None:
    net = random_network(np.random.default_rng(8), [8, 6, 4], (2, 4), w_bits=8,
                         kind_probs=(0.0, 0.3, 0.7))
    schedule = make_schedule(make_plan(net), "unrolled", ScheduleOptions(dsp=dsp))
    rendered = render(schedule, "hls")
    names = HlsNames(schedule.plan.name)
    total = 0
    for layer in schedule.layers:
        nodes = _nodes(rendered.files[f"hls/{names.layer_file(layer.plan.index)}"])
        muls = {k: e for k, (w, e) in nodes.items() if " * " in e}
        assert set(muls) == {n.index for n in layer.graph.nodes if n.is_multiplier}
        total += len(muls)
    assert total > 0


def test_generate_folded_backend_hls_writes_the_folder(tmp_path, capsys) -> None:
    assert main(["generate", str(EXAMPLE), "--arch", "folded", "--backend", "hls",
                 "--out", str(tmp_path / "d")]) == 0
    doc = json.loads((tmp_path / "d" / "design.json").read_text())
    assert (doc["backend"], doc["arch"]) == ("hls", "folded")
    for src in doc["sources"]:
        assert (tmp_path / "d" / src).is_file()
    layer0 = (tmp_path / "d" / "hls" / "digits_mlp_layer0.cpp").read_text()
    assert "_rom[" in layer0 and "#pragma HLS PIPELINE II=1" in layer0


def test_synth_refuses_an_hls_design_in_one_line(tmp_path, capsys) -> None:
    from hlsgen.cli import main

    design = tmp_path / "hlsd"
    assert main(["generate", "examples/digits_mlp.json", "--backend", "hls", "--out",
                 str(design)]) == 0
    capsys.readouterr()
    assert main(["synth", "--design", str(design), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a 'hls' design; Yosys synthesizes Verilog designs" in err[0]
    assert not (tmp_path / "s").exists()
