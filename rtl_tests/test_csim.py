"""The HLS C++ under g++: the requantize header against the reference numerics, and the same
vectors through the reference, the C simulation and the Verilator RTL simulation with
identical bits, for several block shapes, kind mixes and bit widths and for the digits
example. In CI a missing g++ or hls4ml fails instead of skipping."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from hlsgen import artifact, numerics
from hlsgen.artifact import Network
from hlsgen.datasets import load_digits_split
from hlsgen.fixedpoint import QType
from hlsgen.generate import generate
from hlsgen.plan import make_plan
from hlsgen.randnet import random_inputs, random_network
from hlsgen.schedules import ScheduleOptions
from hlsgen.sim.csim import CXXFLAGS, CsimExecutor, find_ap_types
from hlsgen.sim.runner import SimConfig, compare, simulate
from hlsgen.sim.toolchain import SimulatorError
from hlsgen.templating import render
from hlsgen.tools import ToolError, find

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "digits_mlp.json"


@pytest.fixture(scope="session")
def csim_tools() -> Path:
    """The ap_types folder (g++ and hls4ml present), else skip (fail in CI)."""
    try:
        find("gxx")
        return find_ap_types()
    except (SimulatorError, ToolError) as exc:
        if os.environ.get("CI"):
            pytest.fail(f"C simulation prerequisites missing in CI: {exc}")
        pytest.skip(str(exc))


def _reference(net: Network, inputs: np.ndarray) -> np.ndarray:
    """The reference outputs, one vector per input (a feature map in PyTorch order)."""
    return numerics.forward(net, inputs).reshape(len(inputs), -1)


def check_csim(net: Network, inputs: np.ndarray, workdir: Path,
               options: ScheduleOptions = ScheduleOptions(), arch: str = "unrolled"
               ) -> np.ndarray:
    """Generate the HLS C++ of ``net`` for ``arch``, C-simulate ``inputs``, require every bit
    and every ``last`` to match the reference and no compiler warning; returns the
    C-sim outputs."""
    generate(net, workdir / "hls", arch, backend="hls", options=options)
    executor = CsimExecutor(workdir / "hls", workdir / "csim_build")
    executor.build()
    expected = _reference(net, inputs)
    result = executor.run(inputs, expected)
    assert not executor.warnings, executor.warnings[:3]   # -Wall -Wextra: none at all
    assert result.lasts_ok and not result.protocol_errors, result.protocol_errors
    cmp = compare(result.outputs, expected)
    assert cmp.mismatches == 0, (
        f"{cmp.mismatches}/{cmp.vectors} vectors differ, first {cmp.first_mismatches}: "
        f"csim {result.outputs[cmp.first_mismatches[0]].tolist()} vs "
        f"ref {expected[cmp.first_mismatches[0]].tolist()}")
    return result.outputs


def three_way(net: Network, inputs: np.ndarray, workdir: Path,
              config: SimConfig = SimConfig(seed=3),
              options: ScheduleOptions = ScheduleOptions(), arch: str = "unrolled") -> None:
    """Reference = C simulation = Verilator RTL simulation (both of ``arch``), every bit."""
    reference = _reference(net, inputs)
    csim = check_csim(net, inputs, workdir, options, arch)
    generate(net, workdir / "rtl", arch, options=options)
    rtl = simulate(workdir / "rtl", inputs, config, workdir / "rtl_build", "verilator")
    assert not rtl.protocol_errors and rtl.lasts_ok
    assert np.array_equal(csim, reference)
    assert np.array_equal(rtl.outputs, reference), compare(rtl.outputs, reference)
    assert np.array_equal(csim, rtl.outputs)


# ----------------------------------------------------------------- the requantize header

# (acc bits, shift, relu, out bits, out signed): shifts 0 and 1, wide accumulators, 1-bit
# outputs, ReLU on signed and unsigned outputs
REQUANT = [(12, 0, False, 8, True), (12, 3, True, 8, False), (20, 7, False, 4, True),
           (30, 10, True, 16, False), (62, 40, False, 16, True), (8, 1, True, 2, False),
           (16, 5, False, 1, True), (24, 12, True, 6, True), (5, 4, False, 3, False)]


@pytest.mark.csim
def test_requantize_header_is_the_reference_requantize(tmp_path, csim_tools) -> None:
    (tmp_path / "hlsgen_requantize.h").write_text(
        render("hls/hlsgen_requantize.h.j2", header="generated for a test"))
    cases = "\n".join(
        f"        case {i}: y = hlsgen::requantize<{a}, {s}, {str(r).lower()}, {a - s + 1}, "
        f"true, true, {o}, {str(sg).lower()}>(ap_int<{a}>(acc)).to_int64(); break;"
        for i, (a, s, r, o, sg) in enumerate(REQUANT))
    (tmp_path / "driver.cpp").write_text(f"""#include <iostream>
#include "hlsgen_requantize.h"
int main() {{
    int cfg = 0;
    long long acc = 0;
    while (std::cin >> cfg >> acc) {{
        long long y = 0;
        switch (cfg) {{
{cases}
        default: return 2;
        }}
        std::cout << y << '\\n';
    }}
    return 0;
}}
""")
    gxx = find("gxx")
    gxx.run([*CXXFLAGS, "-Werror", "-isystem", str(csim_tools), "-I",
             str(tmp_path), "driver.cpp", "-o", "driver"], cwd=tmp_path, check=True)
    rng = np.random.default_rng(1)
    lines, want = [], []
    for i, (a, s, r, o, sg) in enumerate(REQUANT):
        half = (1 << (s - 1)) if s else 0
        lo, hi = -(1 << (a - 1)), (1 << (a - 1)) - 1 - half   # acc + half fits ACC_W bits
        accs = np.concatenate([[lo, hi, 0, -1, 1, half, -half, half - 1, -half - 1],
                               rng.integers(lo, hi + 1, size=400, dtype=np.int64),
                               rng.integers(-(1 << (s + o + 1)), 1 << (s + o + 1), size=400)])
        accs = np.clip(accs, lo, hi)
        want += numerics.requantize(accs, s, r, QType(o, 0, sg)).tolist()
        lines += [f"{i} {int(v)}" for v in accs]
    done = subprocess.run([str(tmp_path / "driver")], input="\n".join(lines) + "\n",
                          capture_output=True, text=True, check=True)
    got = [int(v) for v in done.stdout.split()]
    assert len(got) == len(want)
    bad = [(lines[k], got[k], want[k]) for k in range(len(got)) if got[k] != want[k]]
    assert not bad, bad[:5]


# --------------------------------------------------------------------------- three ways

# (sizes, block, kind probabilities (pruned, unified, dense), w_bits, a_bits, signed input)
CASES = {
    "4x4-mixed": ([16, 12, 10], (4, 4), (0.5, 0.3, 0.2), 8, 8, False),
    "3x2-edge-blocks": ([10, 7, 5], (3, 2), (0.4, 0.4, 0.2), 8, 8, False),
    "1x1-elementwise-signed": ([9, 6, 4], (1, 1), (0.3, 0.4, 0.3), 6, 8, True),
    "2x4-all-dense": ([8, 6, 4], (2, 4), (0.0, 0.0, 1.0), 5, 6, True),
    "4x2-all-unified-2bit": ([8, 6, 4], (4, 2), (0.0, 1.0, 0.0), 2, 4, False),
    "16bit-wide-three-layers": ([6, 5, 4, 3], (2, 2), (0.2, 0.4, 0.4), 16, 16, True),
    "all-pruned": ([8, 6, 5], (2, 2), (1.0, 0.0, 0.0), 8, 8, False),
}


@pytest.mark.csim
@pytest.mark.sim
@pytest.mark.parametrize("case", sorted(CASES))
def test_reference_csim_and_rtl_agree(case: str, tmp_path, csim_tools, simulator) -> None:
    sizes, block, probs, w_bits, a_bits, signed = CASES[case]
    rng = np.random.default_rng(100 + sorted(CASES).index(case))
    net = random_network(rng, sizes, block, w_bits, a_bits, probs, input_signed=signed,
                         bias_scale=8.0 if case == "all-pruned" else 1.0)
    three_way(net, random_inputs(rng, net, 64), tmp_path)


@pytest.mark.csim
@pytest.mark.sim
@pytest.mark.parametrize("dsp", ["auto", "always"])
@pytest.mark.parametrize("case", ["2x4-all-dense", "16bit-wide-three-layers"])
def test_reference_csim_and_rtl_agree_with_dsp_multipliers(case: str, dsp: str, tmp_path,
                                                           csim_tools, simulator) -> None:
    """Under ``--dsp auto|always`` the graph has constant multipliers: C++ products."""
    sizes, block, probs, w_bits, a_bits, signed = CASES[case]
    rng = np.random.default_rng(200 + sorted(CASES).index(case))
    net = random_network(rng, sizes, block, w_bits, a_bits, probs, input_signed=signed)
    three_way(net, random_inputs(rng, net, 64), tmp_path, options=ScheduleOptions(dsp=dsp))


@pytest.mark.csim
@pytest.mark.sim
def test_digits_reference_csim_and_rtl_agree(tmp_path, csim_tools, simulator) -> None:
    net = artifact.load(EXAMPLE)
    split = load_digits_split()
    three_way(net, split.x_test, tmp_path)
    assert len(split.x_test) == 360


# the folded variant: (case of CASES, PEs per layer; () the default from the cycle budget)
FOLDED_CASES = {
    "4x4-mixed-P2-3": ("4x4-mixed", (2, 3)),
    "3x2-edge-blocks-P3-2": ("3x2-edge-blocks", (3, 2)),
    "1x1-elementwise-signed-P4-3": ("1x1-elementwise-signed", (4, 3)),
    "2x4-all-dense-P1": ("2x4-all-dense", (1, 1)),
    "16bit-wide-three-layers-default-P": ("16bit-wide-three-layers", ()),
    "all-pruned-P2-3": ("all-pruned", (2, 3)),
}


@pytest.mark.csim
@pytest.mark.sim
@pytest.mark.parametrize("case", sorted(FOLDED_CASES))
def test_folded_reference_csim_and_rtl_agree(case: str, tmp_path, csim_tools,
                                             simulator) -> None:
    base, pes = FOLDED_CASES[case]
    sizes, block, probs, w_bits, a_bits, signed = CASES[base]
    rng = np.random.default_rng(300 + sorted(FOLDED_CASES).index(case))
    net = random_network(rng, sizes, block, w_bits, a_bits, probs, input_signed=signed,
                         bias_scale=8.0 if base == "all-pruned" else 1.0)
    three_way(net, random_inputs(rng, net, 64), tmp_path, arch="folded",
              options=ScheduleOptions(pes=pes))


@pytest.mark.csim
@pytest.mark.sim
def test_folded_digits_reference_csim_and_rtl_agree(tmp_path, csim_tools, simulator) -> None:
    net = artifact.load(EXAMPLE)
    three_way(net, load_digits_split().x_test, tmp_path, arch="folded",
              options=ScheduleOptions(pes=(4, 2)))


@pytest.mark.csim
def test_the_folded_comparison_can_fail(tmp_path, csim_tools) -> None:
    """One changed bit of a folded layer's ROM array (a sign or magnitude bit of a kept
    block's payload) is caught, by the testbench's own check too."""
    rng = np.random.default_rng(9)
    net = random_network(rng, [6, 5, 4], (2, 2), kind_probs=(0.0, 1.0, 0.0))
    x = random_inputs(rng, net, 32)
    generate(net, tmp_path / "hls", "folded", backend="hls")
    layer = next((tmp_path / "hls" / "hls").glob("*_layer1.cpp"))
    text = layer.read_text()
    line = next(ln for ln in text.splitlines() if ln.rstrip().endswith("// word 0"))
    first = line.split("{{")[1].split("ULL")[0]          # PE 0's limb 0 of word 0
    flipped = f"0x{int(first, 16) ^ 1:016x}"             # bit 0: the magnitude's lowest bit
    layer.write_text(text.replace(line, line.replace(first, flipped, 1)))
    executor = CsimExecutor(tmp_path / "hls", tmp_path / "build")
    executor.build()
    expected = numerics.forward(net, x)
    result = executor.run(x, expected)
    assert compare(result.outputs, expected).mismatches > 0
    assert not result.protocol_errors


@pytest.mark.csim
def test_the_comparison_can_fail(tmp_path, csim_tools) -> None:
    """A changed bias in the generated C++ is caught, by the testbench's own check too."""
    rng = np.random.default_rng(9)
    net = random_network(rng, [6, 5, 4], (2, 2), kind_probs=(0.2, 0.4, 0.4))
    x = random_inputs(rng, net, 32)
    generate(net, tmp_path / "hls", backend="hls")
    layer = next((tmp_path / "hls" / "hls").glob("*_layer1.cpp"))
    text = layer.read_text()
    bias = int(net.layers[1].bias[0])
    step = 1 << make_plan(net).layers[1].shift    # moves row 0's output by one step
    line = next(ln for ln in text.splitlines() if " acc0 = " in ln)
    assert f"{bias}LL" in line
    layer.write_text(text.replace(line, line.replace(f"{bias}LL", f"{bias + step}LL", 1)))
    executor = CsimExecutor(tmp_path / "hls", tmp_path / "build")
    executor.build()
    expected = numerics.forward(net, x)
    result = executor.run(x, expected)
    assert compare(result.outputs, expected).mismatches > 0
    assert not result.protocol_errors   # the testbench found the mismatches too (exit 1)



# ------------------------------------------- an outside check: hls4ml's own C simulation

def _fixed(bits: int, frac: int, signed: bool, modes: str = "") -> str:
    """An hls4ml precision string for integers of ``bits`` with ``frac`` fractional bits."""
    return f"ap_{'' if signed else 'u'}fixed<{bits},{bits - frac}{modes}>"


def hls4ml_outputs(net: Network, x: np.ndarray, workdir: Path,
                   rounding: str = "AP_RND") -> np.ndarray:
    """``net`` as a plain dense PyTorch MLP through hls4ml 1.3 (Vitis backend, io_parallel):
    weights, biases, accumulators exact (ap_fixed at the artifact's scales), each layer's
    result cast to its output type with ``rounding`` and AP_SAT, ReLU cast likewise; its
    C simulation (``compile()`` builds it with g++, ``predict()`` runs it) as integers."""
    torch = pytest.importorskip("torch")
    hls4ml = pytest.importorskip("hls4ml")
    mods: list = []
    for layer in net.layers:
        mods.append(torch.nn.Linear(layer.in_features, layer.out_features))
        if layer.relu:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods).double()   # float64: every value exact
    linears = [m for m in mods if isinstance(m, torch.nn.Linear)]
    config = hls4ml.utils.config_from_pytorch_model(model, input_shape=(net.input_features,),
                                                    granularity="name", backend="Vitis")
    layers = config["LayerName"]
    layers["input_1"]["Precision"]["result"] = _fixed(net.input.bits, net.input.frac,
                                                      net.input.signed)
    names = iter(k for k in layers if k != "input_1")
    modes = f",{rounding},AP_SAT"
    q = net.input
    with torch.no_grad():
        for lin, layer in zip(linears, net.layers):
            acc_frac = q.frac + layer.w_frac
            lin.weight.copy_(torch.tensor(layer.weight * 2.0 ** -layer.w_frac))
            lin.bias.copy_(torch.tensor(layer.bias * 2.0 ** -acc_frac))
            p = layers[next(names)]["Precision"]
            p.update(weight=_fixed(layer.w_bits, layer.w_frac, True),
                     bias=_fixed(62, acc_frac, True), accum=_fixed(62, acc_frac, True))
            out = layer.output
            if layer.relu:   # round into a wide signed type, then ReLU saturates to the output
                p["result"] = _fixed(62, out.frac, True, modes)
                layers[next(names)]["Precision"]["result"] = _fixed(out.bits, out.frac,
                                                                    out.signed, modes)
            else:
                p["result"] = _fixed(out.bits, out.frac, out.signed, modes)
            q = out
    hls_model = hls4ml.converters.convert_from_pytorch_model(
        model, hls_config=config, output_dir=str(workdir / "hls4ml_prj"), backend="Vitis",
        io_type="io_parallel")
    hls_model.compile()
    y = hls_model.predict(np.ascontiguousarray(x * 2.0 ** -net.input.frac, dtype=np.float64))
    return np.rint(np.asarray(y).reshape(len(x), -1) * 2.0 ** net.output.frac).astype(np.int64)


@pytest.mark.csim
@pytest.mark.slow
def test_hls4ml_csim_agrees_with_the_reference_on_digits(tmp_path, csim_tools) -> None:
    net = artifact.load(EXAMPLE)
    x = load_digits_split().x_test
    got = hls4ml_outputs(net, x, tmp_path)
    cmp = compare(got, numerics.forward(net, x))
    assert cmp.vectors == 360 and cmp.mismatches == 0, cmp


@pytest.mark.csim
@pytest.mark.slow
def test_hls4ml_csim_agrees_on_a_random_dense_net_and_truncation_would_not(tmp_path,
                                                                           csim_tools) -> None:
    rng = np.random.default_rng(21)
    net = random_network(rng, [12, 8, 5], (2, 2), w_bits=6, a_bits=8,
                         kind_probs=(0.0, 0.0, 1.0), input_signed=True)
    x = random_inputs(rng, net, 200)
    expected = numerics.forward(net, x)
    assert compare(hls4ml_outputs(net, x, tmp_path / "rnd"), expected).mismatches == 0
    # the check is sharp: hls4ml's truncating cast (AP_TRN) is not hlsgen's rounding
    assert compare(hls4ml_outputs(net, x, tmp_path / "trn", "AP_TRN"), expected).mismatches > 0


def assert_run_csim_exact(out: Path) -> None:
    """An ``hlsgen run --hls`` folder: the RTL and the C simulation both ran every digits
    test image, 0 mismatches, the reference's accuracy; the generated C++ compiled without
    warnings and tlast came out with every image."""
    import json

    report = json.loads((out / "report.json").read_text())
    assert report["csim_vectors"] == report["rtl_vectors"] == 360
    assert report["csim_mismatches"] == report["rtl_mismatches"] == 0
    assert report["csim_accuracy"] == report["rtl_accuracy"] == report["int_accuracy"]
    csim = json.loads((out / "csim.json").read_text())
    assert csim["csim_generated_warnings"] == 0 and csim["csim_tlast_ok"]


@pytest.mark.csim
@pytest.mark.sim
@pytest.mark.slow
def test_run_hls_reports_the_csim_of_every_digits_image(tmp_path, csim_tools, simulator,
                                                         capsys) -> None:
    from hlsgen.cli import main

    out = tmp_path / "out"
    assert main(["run", "--artifact", str(EXAMPLE), "--hls", "--out", str(out)]) == 0
    assert_run_csim_exact(out)
    assert (out / "hls" / "design.json").is_file()
    import re
    assert re.search(r"C-sim \(g\+\+\) vectors / mismatches\s+360 / 0", capsys.readouterr().out)


@pytest.mark.csim
def test_warnings_in_generated_code_are_not_silenced(tmp_path, csim_tools) -> None:
    """The headers' -Wuninitialized false positives are silenced around their #include only:
    an uninitialized read in generated code is still reported, at its own file."""
    net = random_network(np.random.default_rng(4), [4, 3], (1, 2))
    generate(net, tmp_path / "hls", backend="hls")
    top = next((tmp_path / "hls" / "hls").glob("*_top.cpp"))
    text = top.read_text()
    top.write_text(text.replace("    out.last = in.last;",
                                "    int unset;\n    const int twice = unset * 2;\n"
                                "    out.last = twice;\n    out.last = in.last;"))
    executor = CsimExecutor(tmp_path / "hls", tmp_path / "build")
    executor.build()
    assert executor.generated_warnings and not executor.header_warnings
    assert all(top.name in w and "uninitialized" in w for w in executor.generated_warnings)
