"""The accuracy floor (compression/floor.py, ``--min-accuracy``): the budget search, its
validation split, its choice and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

from compression.floor import (FloorConfig, compress_to_floor, design_lut_eq,
                               validation_split)
from compression.pipeline import CompressConfig
from hlsgen import artifact, flow, numerics
from hlsgen.cli import main
from hlsgen.compressors import CompressionFailed
from hlsgen.datasets import load_digits_split
from hlsgen.plan import make_plan
from hlsgen.report import build_report, summary_table
from hlsgen.schedules.unrolled import schedule_unrolled

SHORT = CompressConfig(hidden=(16,), w_bits=4, epochs=6, admm_epochs=6, finetune_epochs=3,
                       seed=2)


@pytest.fixture(scope="module")
def split():
    return load_digits_split()


def test_floor_config_is_checked():
    for bad in (0.0, 1.5, -0.1):
        with pytest.raises(ValueError, match="min_accuracy"):
            FloorConfig(min_accuracy=bad)
    with pytest.raises(ValueError, match="steps"):
        FloorConfig(min_accuracy=0.9, steps=0)


def test_validation_split_is_a_stratified_disjoint_part_of_the_training_split(split):
    v = validation_split(split, seed=3)
    assert len(v.y_train) + len(v.y_test) == len(split.y_train)
    assert len(v.y_test) == pytest.approx(0.2 * len(split.y_train), abs=1)
    rows = {tuple(r) for r in split.x_train.tolist()}
    assert all(tuple(r) in rows for r in v.x_test.tolist())
    # stratified: every class's share of the validation part is its share of the whole
    for c in range(10):
        share = np.mean(split.y_train == c)
        assert abs(np.mean(v.y_test == c) - share) < 0.01
    again = validation_split(split, seed=3)
    assert np.array_equal(again.x_test, v.x_test) and np.array_equal(again.y_train, v.y_train)
    assert not np.array_equal(validation_split(split, seed=4).y_test, v.y_test)


def test_floor_search_picks_the_smallest_trial_that_meets_the_floor(split):
    said: list[str] = []
    floor = FloorConfig(min_accuracy=0.5, steps=3)
    r = compress_to_floor(split, SHORT, floor, progress=False, say=said.append)
    meta = r.network.meta
    trials = meta["accuracy_floor"]["trials"]
    assert len(trials) == len(said) and 1 <= len(trials) <= 3
    assert trials[0]["max_luts"] is None
    ok = [t for t in trials if t["val_accuracy"] >= 0.5]
    chosen = trials[meta["accuracy_floor"]["chosen"]]
    assert chosen["val_accuracy"] >= 0.5
    assert chosen["lut_eq"] == min(t["lut_eq"] for t in ok)
    assert chosen["lut_eq"] == design_lut_eq(r.network)
    # a passing first trial is followed by a smaller budget
    if trials[0]["val_accuracy"] >= 0.5 and len(trials) > 1:
        assert trials[1]["max_luts"] < trials[0]["lut_eq"]
    # the reported integer accuracy is the test split's, by the reference numerics
    x = numerics.convert(split.x_test, split.input_type, r.network.input)
    acc = float(np.mean(numerics.predict(numerics.forward(r.network, x)) == split.y_test))
    assert r.int_accuracy == acc == meta["accuracy"]["int"]
    assert meta["accuracy"]["split"] == "validation"
    assert meta["accuracy"]["validation_int"] == chosen["val_accuracy"]
    assert meta["accuracy_floor"]["validation_size"] == len(validation_split(split, 2).y_test)


def test_an_unreachable_floor_is_a_failure_naming_the_best_reached(split):
    with pytest.raises(CompressionFailed, match=r"min accuracy 1.0 not reached: the best of 1 "
                       r"trials reached 0\.\d+ on the validation split"):
        compress_to_floor(split, SHORT, FloorConfig(min_accuracy=1.0, steps=1), progress=False)


def test_floor_needs_the_luts_objective(split):
    with pytest.raises(ValueError, match="objective 'luts'"):
        compress_to_floor(split, CompressConfig(objective="multipliers"),
                          FloorConfig(min_accuracy=0.9), progress=False)


TINY_CLI = ["--hidden", "8", "--epochs", "2", "--admm-epochs", "2", "--finetune-epochs", "1",
            "--no-progress"]


@pytest.mark.parametrize("extra, message", [
    (["--min-accuracy", "0.9", "--objective", "multipliers"], "objective 'luts'"),
    (["--floor-steps", "2"], "floor_steps needs min_accuracy"),
    (["--min-accuracy", "1.5"], "min_accuracy must lie in"),
    (["--min-accuracy", "0.9", "--model", "cnn"], "built-in digits MLP only"),
    (["--min-accuracy", "1.0", "--floor-steps", "1"], "min accuracy 1.0 not reached"),
])
def test_cli_refuses_bad_or_unmet_floors_and_writes_nothing(tmp_path, capsys, extra, message):
    out = tmp_path / "a.json"
    out.write_text("earlier")
    assert main(["compress", *TINY_CLI, *extra, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert out.read_text() == "earlier"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_cli_floor_writes_the_chosen_artifact(tmp_path, capsys):
    out = tmp_path / "a.json"
    assert main(["compress", *TINY_CLI, "--min-accuracy", "0.2", "--floor-steps", "2",
                 "--out", str(out)]) == 0
    net = artifact.load(out)
    assert net.meta["accuracy_floor"]["min_accuracy"] == 0.2
    assert "chosen:" in capsys.readouterr().out
    # the report shows the floor and the validation accuracy that met it
    acc = flow.accuracies(net)
    assert acc["min_accuracy"] == 0.2
    assert acc["validation_int_accuracy"] == net.meta["accuracy"]["validation_int"] >= 0.2
    assert acc["int_accuracy"] == net.meta["accuracy"]["int"]
    assert acc["float_accuracy"] is None  # the trials' float figures are validation figures
    schedule = schedule_unrolled(make_plan(net))
    table = summary_table(build_report(schedule, accuracies=acc))
    assert "validation integer accuracy (floor)" in table and "(>= 20.00%)" in table
