"""The DSP policy (``--dsp never|auto|always``): constant multipliers instead of shift-and-add
where the policy asks, exact like the adder graph, counted in the report as Yosys counts them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hlsgen import artifact
from hlsgen.addergraph import AUTO_MIN_DIGITS, build_adder_graph, csd_digits, wants_multiplier
from hlsgen.cli import main
from hlsgen.generate import generate
from hlsgen.plan import make_plan
from hlsgen.randnet import random_inputs
from hlsgen.report import build_report
from hlsgen.schedules import ScheduleOptions, make_schedule

from conftest import legal_random_network
from test_verilog import assert_lint_clean_options, case_net, verilator  # noqa: F401 (fixture)

POLICIES = ("never", "auto", "always")


def test_policy_rules():
    for power in (1, 2, 4, 64, 1 << 12):
        odd = power >> ((power & -power).bit_length() - 1)
        assert odd == 1 and not any(wants_multiplier(odd, p) for p in POLICIES)
    assert len(csd_digits(3)) == 2 and not wants_multiplier(3, "auto")
    assert wants_multiplier(3, "always") and not wants_multiplier(3, "never")
    assert len(csd_digits(11)) == AUTO_MIN_DIGITS == 3 and wants_multiplier(11, "auto")
    with pytest.raises(ValueError, match="unknown DSP policy 'sometimes'"):
        wants_multiplier(3, "sometimes")


@pytest.mark.parametrize("seed", range(12))
def test_every_policy_is_the_matrix_product(seed):
    block = [(1, 1), (1, 4), (2, 3), (4, 4), (1, 16), (3, 5)][seed % 6]
    net = legal_random_network(seed, [17, 11, 6], block, w_bits=[3, 8, 12][seed % 3],
                               kind_probs=(0.3, 0.45, 0.25), input_signed=bool(seed % 2))
    h = random_inputs(np.random.default_rng(seed), net, 64)
    for lp, layer in zip(make_plan(net).layers, net.layers):
        graphs = {p: build_adder_graph(lp, p) for p in POLICIES}
        for policy, graph in graphs.items():
            assert np.array_equal(graph.evaluate(h), h @ layer.weight.T), policy
            for node, vals in zip(graph.nodes, graph.node_values(h)):
                assert node.lo <= vals.min() and vals.max() <= node.hi
                assert -(1 << (node.width - 1)) <= node.lo and node.hi < 1 << (node.width - 1)
            for node in graph.nodes:
                if node.is_multiplier:
                    assert node.const % 2 == 1 and node.const > 1 and node.b is None
                    assert policy == "always" or len(csd_digits(node.const)) >= 3
        assert graphs["never"].multipliers == 0
        assert graphs["auto"].multipliers <= graphs["always"].multipliers
        assert graphs["always"].adders <= graphs["auto"].adders <= graphs["never"].adders
        h = layer.execute(h, lp.in_type)


def test_multipliers_are_shared_per_value_and_constant():
    """Two rows scaling the same input by 3 and 6 share one ``x * 3``."""
    net = legal_random_network(0, [2, 2], (1, 1), w_bits=8, kind_probs=(0.0, 0.0, 1.0))
    layer = net.layers[0]
    weight = np.array([[3, 0], [6, 0]], dtype=layer.weight.dtype)
    import dataclasses

    net = dataclasses.replace(net, layers=(dataclasses.replace(layer, weight=weight),))
    graph = build_adder_graph(make_plan(net).layers[0], "always")
    assert graph.multipliers == 1 and graph.adders == 0
    x = np.array([[5, 7]])
    assert graph.evaluate(x).tolist() == [[15, 30]]


def test_report_counts_the_policy():
    net = artifact.load("examples/digits_mlp.json")
    plan = make_plan(net)
    reps = {p: build_report(make_schedule(plan, options=ScheduleOptions(dsp=p)), accuracies={})
            for p in POLICIES}
    assert reps["never"]["multipliers"] == 0 and reps["never"]["dsp_policy"] == "never"
    assert 0 < reps["auto"]["multipliers"] < reps["always"]["multipliers"]
    assert reps["always"]["adders"] < reps["auto"]["adders"] < reps["never"]["adders"]
    for rep in reps.values():
        assert rep["multipliers"] == sum(l["multipliers"] for l in rep["layers"])


@pytest.mark.parametrize("case", ["mixed-2x2", "dense-16bit", "elementwise-1x1"])
@pytest.mark.parametrize("dsp", ["auto", "always"])
def test_lint_clean_with_multipliers(case, dsp, verilator, tmp_path):
    assert_lint_clean_options(verilator, case_net(case), tmp_path, ScheduleOptions(dsp=dsp))


def test_cli_dsp_option(tmp_path, capsys):
    out = tmp_path / "d"
    assert main(["generate", "examples/digits_mlp.json", "--out", str(out), "--dsp",
                 "always"]) == 0
    text = "".join(p.read_text() for p in (out / "rtl").glob("*.v"))
    assert text.count(" * ") == make_schedule(make_plan(artifact.load(
        "examples/digits_mlp.json")), options=ScheduleOptions(dsp="always")).multipliers
    assert main(["report", "examples/digits_mlp.json", "--out", str(tmp_path / "r.json"),
                 "--dsp", "auto"]) == 0
    assert json.loads((tmp_path / "r.json").read_text())["dsp_policy"] == "auto"
    with pytest.raises(SystemExit) as err:
        main(["generate", "examples/digits_mlp.json", "--out", str(tmp_path / "e"), "--dsp",
              "maybe"])
    assert err.value.code == 2 and not (tmp_path / "e").exists()
    assert "invalid choice: 'maybe'" in capsys.readouterr().err


@pytest.mark.synth
@pytest.mark.parametrize("case", ["mixed-2x2", "dense-16bit", "elementwise-1x1"])
@pytest.mark.parametrize("dsp", ["auto", "always"])
def test_yosys_counts_the_multipliers(case, dsp, tmp_path):
    from hlsgen.synth import yosys_cell_counts

    schedule = generate(case_net(case), tmp_path / "design", options=ScheduleOptions(dsp=dsp))
    cells = yosys_cell_counts(tmp_path / "design", tmp_path / "yosys")
    rep = build_report(schedule, accuracies={})
    assert cells.get("$mul", 0) == rep["multipliers"]
    assert cells.get("$add", 0) + cells.get("$sub", 0) == rep["adders"]
