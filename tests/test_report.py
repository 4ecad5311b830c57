"""report.json keeps exact figures, so equal accuracies compare equal."""

from __future__ import annotations

import numpy as np

from hlsgen.plan import make_plan
from hlsgen.schedules import make_schedule
from hlsgen.randnet import random_network
from hlsgen.report import build_report, summary_table


def test_accuracies_are_stored_exactly_and_shown_rounded():
    plan = make_plan(random_network(np.random.default_rng(0), [6, 4, 3], (2, 2)))
    acc = 356 / 360
    rep = build_report(make_schedule(plan), accuracies={"float_accuracy": 355 / 360, "int_accuracy": acc,
                                         "compressed_float_accuracy": acc},
                       sim={"rtl_accuracy": acc, "rtl_vectors": 360, "rtl_mismatches": 0})
    assert rep["rtl_accuracy"] == rep["int_accuracy"] == acc
    table = summary_table(rep)
    assert "98.89%" in table and "360 / 0" in table
    totals = plan.totals()
    assert rep["block_multipliers"] == totals["block_multipliers"]
    assert rep["multiplier_reduction"] == round(totals["dense_multipliers"]
                                                / totals["block_multipliers"], 3)
    assert rep["multipliers"] == 0 and rep["adders"] == make_schedule(plan).adders
