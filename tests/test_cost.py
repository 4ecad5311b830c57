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
