"""The cost model (hlsgen/cost.py): exact counts from the schedule, the estimate in the report
beside the measured figures, and (synth tier) within its stated tolerance of Yosys."""

from __future__ import annotations

import numpy as np
import pytest

from hlsgen import artifact, cost
from hlsgen.report import build_report, summary_table
from hlsgen.schedules import ScheduleOptions, make_schedule
from hlsgen.plan import make_plan

from conftest import legal_random_network

EXAMPLE = "examples/digits_mlp.json"


def _schedule(options=ScheduleOptions()):
    return make_schedule(make_plan(artifact.load(EXAMPLE)), options=options)


def test_features_are_the_schedules_exact_counts():
    s = _schedule()
    for layer, c in zip(s.layers, cost.estimate(s)):
        lp = layer.plan
        assert c.adders == layer.adder_count
        assert c.adder_bits == (sum(a.node.width for a in layer.adders)
                                + sum(r.root is not None for r in layer.rows) * lp.acc_width)
        assert c.register_bits == (sum(d.width * d.depth for d in layer.delays)
                                   + lp.out_features * (lp.acc_width + lp.out_type.bits))
        assert c.lut_eq > 0 and c.ff > 0 and c.multipliers == 0


def test_synthesizer_widths_never_exceed_the_declared_ones():
    """The widths the estimate uses (what Yosys can prove) are the declared ones less
    provably constant bits: never more; a 2-bit-input layer drops its inputs' sign bits."""
    from hlsgen.randnet import random_network
    net = random_network(np.random.default_rng(3), [32, 16, 10], (1, 4), 3, 2)
    for s in (_schedule(), make_schedule(make_plan(net))):
        for layer, c in zip(s.layers, cost.estimate(s)):
            assert c.live_register_bits <= c.register_bits
            assert c.carry_bits % 2 == 0 and c.carry_bits <= c.adder_bits + c.adders
            assert c.narrow_adders_4 + c.narrow_adders <= c.adders
            assert c.lut_eq == round(cost.lut_eq_of(cost.layer_features(layer),
                                                    s.levels_per_stage))
    first = make_schedule(make_plan(net)).layers[0]
    f = cost.layer_features(first)
    assert f["narrow_adders_4"] + f["narrow_adders"] > 0
    assert f["live_register_bits"] < f["register_bits"]


def test_more_levels_per_stage_fewer_registers():
    one, two = (cost.totals(cost.estimate(_schedule(ScheduleOptions(levels_per_stage=k))))
                for k in (1, 2))
    assert two["ff"] < one["ff"]


def test_dsp_policy_moves_cost_to_dsps():
    never = cost.totals(cost.estimate(_schedule()))
    always = cost.totals(cost.estimate(_schedule(ScheduleOptions(dsp="always"))))
    assert never["dsp"] == 0 < always["dsp"] and always["lut_eq"] < never["lut_eq"]


def test_report_puts_the_estimate_beside_the_measurement():
    s = _schedule()
    est = cost.totals(cost.estimate(s))
    synth = {"ecp5_nodsp": {"lut": 100, "carry": 50, "lut_eq": 200, "ff": 300, "dsp": 0},
             "xilinx": {"lut": 10, "dsp": 0}}
    rep = build_report(s, accuracies={}, synth=synth)
    assert rep["estimate"]["lut_eq"] == est["lut_eq"] and rep["estimate"]["model"]
    assert sum(l["lut_eq_estimate"] for l in rep["layers"]) == est["lut_eq"]
    v = rep["estimate_vs_synth"]
    assert list(v) == ["ecp5_nodsp"]   # the model predicts ECP5 cells, not Xilinx LUT6
    assert v["ecp5_nodsp"]["lut_eq"] == {"estimate": est["lut_eq"], "measured": 200,
                                         "ratio": round(200 / est["lut_eq"], 3)}
    assert "ecp5_nodsp measured / estimate" in summary_table(rep)
    # with DSP multipliers the no-DSP run is not what the model predicts
    rep = build_report(_schedule(ScheduleOptions(dsp="auto")), accuracies={}, synth=synth)
    assert rep["estimate_vs_synth"] == {}


def test_folded_designs_carry_no_unrolled_estimate():
    rep = build_report(make_schedule(make_plan(artifact.load(EXAMPLE)), "folded"),
                       accuracies={})
    assert "estimate" not in rep


@pytest.mark.synth
@pytest.mark.parametrize("case", ["1x1-dense-4bit", "2x16-unified", "4x4-mixed-signed"])
def test_estimate_within_tolerance_of_yosys_per_layer(case, tmp_path):
    """Each layer's LUT-eq and FF estimate is within cost.TOLERANCE of Yosys (every layer its
    own module, synth_ecp5 -nodsp -noflatten), on designs the model was not fitted to."""
    from hlsgen.backends.verilog import VerilogNames
    from hlsgen.generate import generate
    from hlsgen.synth.yosys import module_cell_counts

    sizes, block, probs, w_bits, signed = {
        "1x1-dense-4bit": ([20, 14, 6], (1, 1), (0.3, 0.0, 0.7), 4, True),
        "2x16-unified": ([32, 16, 8], (2, 16), (0.3, 0.6, 0.1), 6, False),
        "4x4-mixed-signed": ([24, 16, 8], (4, 4), (0.5, 0.3, 0.2), 8, True),
    }[case]
    net = legal_random_network(7, sizes, block, w_bits=w_bits, kind_probs=probs,
                               input_signed=signed, name="costnet")
    schedule = generate(net, tmp_path / "design")
    mods = module_cell_counts(tmp_path / "design", tmp_path / "yosys",
                              "synth_ecp5 -nodsp -noflatten -top {top}")
    names = VerilogNames(schedule.plan.name)
    for layer, c in zip(schedule.layers, cost.estimate(schedule)):
        cells = mods[names.layer(layer.plan.index)]
        lut_eq = cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
        ff = cells.get("TRELLIS_FF", 0)
        assert abs(c.lut_eq / lut_eq - 1) <= cost.TOLERANCE, (layer.plan.name, c.lut_eq, lut_eq)
        assert abs(c.ff / ff - 1) <= cost.TOLERANCE, (layer.plan.name, c.ff, ff)
