"""Per-feature input widths (``Network.input_bits``): the artifact field and its validation,
the WRAP numerics on hand-made vectors, and the plan / adder graph built on per-column
ranges (a dropped feature is no input node and no adder)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from hlsgen import numerics
from hlsgen.addergraph import build_adder_graph
from hlsgen.artifact import ArtifactError, QType, digest, dumps, loads, validate
from hlsgen.cost import estimate
from hlsgen.plan import make_plan
from hlsgen.randcnn import random_cnn
from hlsgen.randnet import random_inputs, random_network
from hlsgen.schedules import make_schedule

from conftest import make_layer, make_net, rehash
from test_verilog import lint, verilator  # noqa: F401  (verilator: the session fixture)


def _net(seed: int = 0, signed: bool = False, a_bits: int = 4, widths: bool = True):
    return random_network(np.random.default_rng(seed), [9, 6, 3], (2, 3), 6, a_bits,
                          (0.2, 0.5, 0.3), input_signed=signed, input_widths=widths)


# ------------------------------------------------------------------------------ artifact


def test_round_trip_keeps_input_bits() -> None:
    net = _net()
    back = loads(dumps(net))
    assert back.input_bits == net.input_bits and 0 in net.input_bits
    assert dumps(back) == dumps(net)
    assert json.loads(dumps(net))["network"]["input_bits"] == list(net.input_bits)


def test_absent_input_bits_leave_the_json_unchanged() -> None:
    net = _net(widths=False)
    assert net.input_bits is None
    doc = json.loads(dumps(net))
    assert "input_bits" not in doc["network"]
    # the body is exactly the pre-input_bits keys
    assert set(doc["network"]) == {"name", "input", "layers", "meta"}
    full = dataclasses.replace(net, input_bits=(net.input.bits,) * net.input_features)
    assert digest(full) != digest(net)  # an explicit list is recorded, not dropped


@pytest.mark.parametrize("bits, needle", [
    ([3] * 8, "8 widths for 9 input features"),
    ([3] * 10, "10 widths for 9 input features"),
    ([3] * 8 + [5], "input_bits[8]: 5 is not an integer in [0, 4]"),
    ([-1] + [3] * 8, "input_bits[0]: -1 is not an integer in [0, 4]"),
    ([True] + [3] * 8, "input_bits[0]: True is not an integer"),
    ([2.0] + [3] * 8, "input_bits[0]: 2.0 is not an integer"),
    ("333", "expected a list of integers"),
])
def test_bad_input_bits_are_one_line_errors(bits, needle) -> None:
    doc = json.loads(dumps(_net(widths=False)))
    doc["network"]["input_bits"] = bits
    with pytest.raises(ArtifactError) as err:
        loads(rehash(doc))
    text = str(err.value)
    assert needle in text and "\n" not in text and "(" in text  # names the fix


def test_input_bits_refused_before_a_feature_map_layer() -> None:
    cnn = random_cnn(np.random.default_rng(1), (1, 4, 4),
                     [{"out": 2, "kernel": 3, "stride": 1, "padding": 1, "block": (1, 3)}],
                     dense=[3], a_bits=4)
    with pytest.raises(ArtifactError, match="input_bits needs a dense first layer"):
        validate(dataclasses.replace(cnn, input_bits=(2,) * cnn.input_features))
    doc = json.loads(dumps(cnn))
    doc["network"]["input_bits"] = [2] * cnn.input_features
    with pytest.raises(ArtifactError, match="input_bits needs a dense first layer"):
        loads(rehash(doc))


# ------------------------------------------------------------------------------ numerics


def test_wrap_unsigned_by_hand() -> None:
    q = QType(3, 2, False)
    x = np.array([[7, 5, 6, 3, 7], [0, 1, 2, 4, 5]])
    got = numerics.wrap_inputs(x, q, [2, 1, 0, 3, 3])
    assert got.tolist() == [[3, 1, 0, 3, 7], [0, 1, 0, 4, 5]]


def test_wrap_signed_by_hand() -> None:
    q = QType(4, 0, True)
    x = np.array([[-8, 7, -1, 5, -3, 6, -5], [3, -2, 7, -6, 2, -7, 4]])
    # low 3 bits of -8 (1000) = 000; low 2 of 7 (0111) = 11 -> -1; 0 bits -> 0; 4 bits kept;
    # low 1 of -3 (1101) = 1 -> -1; low 3 of 6 (0110) = 110 -> -2; low 2 of -5 (1011) = 11 -> -1
    got = numerics.wrap_inputs(x, q, [3, 2, 0, 4, 1, 3, 2])
    assert got[0].tolist() == [0, -1, 0, 5, -1, -2, -1]
    # 3 (0011) -> 011 = 3; -2 (1110) -> 10 = -2; 0 bits; -6 kept; 2 (0010) -> 0 = 0;
    # -7 (1001) -> 001 = 1; 4 (0100) -> 00 = 0
    assert got[1].tolist() == [3, -2, 0, -6, 0, 1, 0]


def test_wrapped_range_and_errors() -> None:
    assert numerics.wrapped_range(QType(4, 0, True), 3) == (-4, 3)
    assert numerics.wrapped_range(QType(4, 0, False), 3) == (0, 7)
    assert numerics.wrapped_range(QType(4, 0, True), 0) == (0, 0)
    assert numerics.wrapped_range(QType(4, 0, True), 4) == (-8, 7)
    with pytest.raises(ValueError):
        numerics.wrapped_range(QType(4, 0, True), 5)
    with pytest.raises(ValueError):
        numerics.wrap_inputs(np.zeros((1, 2), dtype=np.int64), QType(4, 0, True), [1])


@pytest.mark.parametrize("signed", [False, True])
def test_forward_wraps_before_the_first_layer(signed: bool) -> None:
    net = _net(2, signed)
    rng = np.random.default_rng(3)
    x = random_inputs(rng, net, 300)
    wrapped = numerics.wrap_inputs(x, net.input, net.input_bits)
    assert not np.array_equal(wrapped, x)
    plain = dataclasses.replace(net, input_bits=None)
    assert np.array_equal(numerics.forward(net, x), numerics.forward(plain, wrapped))
    # every value a wrapped feature takes is within its kept width's range
    for c, b in enumerate(net.input_bits):
        lo, hi = numerics.wrapped_range(net.input, b)
        assert lo <= wrapped[:, c].min() and wrapped[:, c].max() <= hi


def test_a_dropped_feature_changes_nothing() -> None:
    layer = make_layer([[3, -2, 5], [1, 1, -4]], [7, -3], output=QType(8, 0, True))
    net = dataclasses.replace(make_net([layer], QType(4, 0, False)), input_bits=(4, 0, 2))
    x = np.array([[15, 9, 7], [15, 0, 3], [1, 15, 14]])
    # column 1 dropped, column 2 keeps 2 bits: 7 -> 3, 3 -> 3, 14 -> 2
    assert numerics.forward(net, x).tolist() == [[3 * 15 + 5 * 3 + 7, 15 - 12 - 3],
                                                [3 * 15 + 5 * 3 + 7, 15 - 12 - 3],
                                                [3 + 10 + 7, 1 - 8 - 3]]


# ---------------------------------------------------------------------- plan, adder graph


@pytest.mark.parametrize("seed, signed", [(0, False), (1, True), (4, False), (5, True)])
def test_adder_graph_on_per_column_ranges(seed: int, signed: bool) -> None:
    net = _net(seed, signed, a_bits=5)
    plan = make_plan(net)
    lp = plan.layers[0]
    graph = build_adder_graph(lp)
    bits = net.input_bits
    inputs = [n for n in graph.nodes if n.is_input]
    assert inputs and all(bits[n.col] > 0 for n in inputs)        # dropped: no input node
    assert {n.col for n in inputs} <= set(lp.used_inputs)
    assert all(bits[c] > 0 for c in lp.used_inputs)
    for n in inputs:                                                # the kept width's range
        assert (n.lo, n.hi) == numerics.wrapped_range(net.input, bits[n.col])
    x = numerics.wrap_inputs(random_inputs(np.random.default_rng(seed), net, 400), net.input,
                             bits)
    assert np.array_equal(graph.evaluate(x) + net.layers[0].bias,
                          numerics.dense_acc(net.layers[0], x))
    for n, v in zip(graph.nodes, graph.node_values(x)):
        assert n.lo <= v.min() and v.max() <= n.hi
    # the accumulator still holds every value
    acc = numerics.dense_acc(net.layers[0], x) + lp.round_const
    assert acc.min() >= -(1 << (lp.acc_width - 1)) and acc.max() < 1 << (lp.acc_width - 1)
    # the unrolled schedule and the cost estimate run on it
    assert estimate(make_schedule(plan, "unrolled"))
    assert make_schedule(plan, "folded").layers[0].plan.wrapped_columns == lp.wrapped_columns


def test_dropped_columns_make_no_nodes_and_no_adders() -> None:
    # one unified block over 4 columns, two rows; dropping columns shrinks the signed sum
    layer = make_layer([[2, -2, 2, 2], [2, 2, -2, 2]], [0, 0], block=(2, 4),
                       output=QType(8, 0, True))
    net = make_net([layer], QType(4, 0, False))
    full = build_adder_graph(make_plan(net).layers[0])
    dropped = dataclasses.replace(net, input_bits=(4, 0, 0, 3))
    graph = build_adder_graph(make_plan(dropped).layers[0])
    assert sorted(n.col for n in full.nodes if n.is_input) == [0, 1, 2, 3]
    assert sorted(n.col for n in graph.nodes if n.is_input) == [0, 3]
    assert graph.adders < full.adders
    assert graph.adders == 1  # x0 + x3, shared by both rows (same pattern)
    every = dataclasses.replace(net, input_bits=(0, 0, 0, 0))
    empty = build_adder_graph(make_plan(every).layers[0])
    assert not empty.nodes and all(r.node is None for r in empty.rows)
    assert make_plan(every).layers[0].used_inputs == ()


def test_narrow_inputs_narrow_the_widths() -> None:
    net = _net(6, False, a_bits=8)
    narrow = dataclasses.replace(net, input_bits=tuple(min(b, 2) for b in net.input_bits))
    wide, thin = make_plan(dataclasses.replace(net, input_bits=None)), make_plan(narrow)
    assert thin.layers[0].acc_width <= wide.layers[0].acc_width
    g_wide = build_adder_graph(wide.layers[0])
    g_thin = build_adder_graph(thin.layers[0])
    assert sum(n.width for n in g_thin.nodes) < sum(n.width for n in g_wide.nodes)


def test_structure_digest_follows_input_bits() -> None:
    net = _net(7)
    plain = dataclasses.replace(net, input_bits=None)
    other = dataclasses.replace(net, input_bits=tuple(max(0, b - 1) for b in net.input_bits))
    digests = {make_plan(n).structure_digest() for n in (net, plain, other)}
    assert len(digests) == 3
    assert make_plan(plain).input_bits is None and make_plan(net).input_bits == net.input_bits


def test_rom_fit_refuses_other_input_widths(tmp_path, capsys) -> None:
    """A folded design fixes its input wrap at generation: ``rom --fit`` of an artifact with
    other per-feature widths (same matrices) is refused, the same widths are accepted."""
    from hlsgen.artifact import save
    from hlsgen.cli import main

    net = _net(8)
    src, same, other = tmp_path / "a.json", tmp_path / "same.json", tmp_path / "other.json"
    save(net, src)
    save(dataclasses.replace(net, meta={"copy": True}), same)
    save(dataclasses.replace(net, input_bits=tuple(max(0, b - 1) for b in net.input_bits)),
         other)
    assert main(["generate", str(src), "--arch", "folded", "--out",
                 str(tmp_path / "design")]) == 0
    assert main(["rom", str(same), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "roms_same")]) == 0
    capsys.readouterr()
    assert main(["rom", str(other), "--fit", str(tmp_path / "design"),
                 "--out", str(tmp_path / "roms_other")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "per-feature input widths" in err
    assert not (tmp_path / "roms_other").exists()


# ------------------------------------------------------------------------------- lint


@pytest.mark.parametrize("arch", ["unrolled", "folded"])
@pytest.mark.parametrize("signed", [False, True])
def test_generated_verilog_is_lint_clean(arch: str, signed: bool, tmp_path, verilator) -> None:
    """``verilator --lint-only -Wall``: no warning with wrapped and dropped columns (the
    unrolled per-column slices, the folded capture's wrap)."""
    from hlsgen.backends import render
    from hlsgen.backends.verilog import VerilogNames

    net = _net(9, signed, a_bits=5)
    plan = make_plan(net)
    assert plan.wrapped_inputs and any(b == 0 for _, b in plan.wrapped_inputs)
    files = {name.split("/")[-1]: text
             for name, text in render(make_schedule(plan, arch)).tree().items()
             if name.endswith(".v")}
    done = lint(verilator, files, VerilogNames(plan.name).top, tmp_path)
    assert done.returncode == 0 and "%Warning" not in done.stderr, done.stderr[:2000]


def test_report_shows_the_input_widths() -> None:
    from hlsgen.report import build_report, summary_table

    net = _net(4)
    rep = build_report(make_schedule(make_plan(net)), accuracies={})
    assert rep["input_bits"] == list(net.input_bits) and rep["input_type_bits"] == 4
    dropped = sum(b == 0 for b in net.input_bits)
    assert (f"{sum(net.input_bits)} / {9 * 4} ({dropped})"
            in summary_table(rep))
    plain = build_report(make_schedule(make_plan(_net(4, widths=False))), accuracies={})
    assert "input_bits" not in plain and "input bits kept" not in summary_table(plain)
