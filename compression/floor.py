"""The accuracy floor: the smallest design whose accuracy stays at or above a user's floor.

``compress_to_floor(split, config, FloorConfig(min_accuracy=A))`` searches the LUT budget
(``CompressConfig.max_luts`` of the cost objective) for the smallest design whose *integer*
accuracy on a validation split is at least ``A``:

* **validation**: ``VALIDATION_FRACTION`` of the training split, stratified by class with the
  run's seed, is held out; every trial trains on the rest and is judged on it. The test split
  never chooses anything: its accuracy is reported for the chosen design only;
* **trials**: the first trial runs at ``config``'s own budget (``max_luts``, or what the block
  fractions cost). While trials meet the floor the budget halves; while they miss it, it
  doubles; once a passing and a failing budget bracket the floor, their geometric mean is
  tried, until ``steps`` trials ran or the bracket is narrower than ``RESOLUTION`` (the first
  trial, at the fractions' budget, brackets by its design's estimate). A budget
  that no longer buys a larger design (every block already as rich as the widths allow) ends
  the search;
* **the choice**: of the trials that meet the floor, the one with the smallest estimated
  LUT-eq (:func:`hlsgen.cost.estimate` of its unrolled schedule, exact counts, fitted
  coefficients). None meeting it is a :class:`hlsgen.compressors.CompressionFailed` naming the
  best accuracy reached.

The chosen artifact's ``meta["accuracy_floor"]`` records the floor, the validation split and
every trial (budget, estimated LUT-eq, validation accuracy); its ``meta["accuracy"]`` keeps the
trial's phase accuracies on the validation split (``"split": "validation"``) and adds ``int``,
the integer accuracy on the test split.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from hlsgen import cost
from hlsgen.artifact import Network, validate
from hlsgen.compressors import CompressionFailed
from hlsgen.datasets import Split
from hlsgen.numerics import convert, forward, predict
from hlsgen.plan import make_plan
from hlsgen.schedules.unrolled import schedule_unrolled

from .export import json_safe
from .pipeline import CompressConfig, CompressResult, compress

__all__ = ["FloorConfig", "Trial", "compress_to_floor", "design_lut_eq", "validation_split"]

VALIDATION_FRACTION = 0.2
RESOLUTION = 1.1   # stop when the failing and passing budgets are within this ratio
GROWTH = 2.0       # the budget's factor while the trials stay on one side of the floor
SATURATED = 1.02   # a doubled budget whose design grew less than this: no richer design exists


@dataclass(frozen=True)
class FloorConfig:
    """The floor (integer accuracy on the validation split) and the number of trials."""

    min_accuracy: float
    steps: int = 6

    def __post_init__(self) -> None:
        if not 0.0 < self.min_accuracy <= 1.0:
            raise ValueError(f"min_accuracy must lie in (0, 1], got {self.min_accuracy}")
        if self.steps < 1:
            raise ValueError(f"floor steps must be >= 1, got {self.steps}")


@dataclass(frozen=True)
class Trial:
    """One compression of the search: its budget, its design's estimate, its accuracy."""

    max_luts: int | None   # None: the config's own budget (what the block fractions cost)
    lut_eq: int            # estimated LUT-eq of the unrolled design (hlsgen.cost)
    val_accuracy: float    # integer accuracy on the validation split

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def validation_split(split: Split, seed: int) -> Split:
    """The training split divided into training (``x_train``) and validation (``x_test``)
    parts, stratified by class, ``VALIDATION_FRACTION`` held out."""
    from sklearn.model_selection import train_test_split

    x_tr, x_val, y_tr, y_val = train_test_split(
        split.x_train, split.y_train, test_size=VALIDATION_FRACTION,
        random_state=seed, stratify=split.y_train)
    return Split(x_train=x_tr, y_train=y_tr, x_test=x_val, y_test=y_val,
                 input_type=split.input_type)


def design_lut_eq(net: Network) -> int:
    """The estimated ECP5 LUT-eq of ``net``'s unrolled design."""
    return int(cost.totals(cost.estimate(schedule_unrolled(make_plan(net))))["lut_eq"])


def _next_budget(passing: list[int], failing: list[int]) -> int:
    if passing and failing:
        return int(round(math.sqrt(min(passing) * max(failing))))
    if passing:
        return int(round(min(passing) / GROWTH))
    return int(round(max(failing) * GROWTH))


def compress_to_floor(split: Split, config: CompressConfig, floor: FloorConfig,
                      progress: bool = True, name: str = "digits_mlp",
                      say: Callable[[str], None] = lambda _: None) -> CompressResult:
    """The smallest design (estimated LUT-eq) among the search's trials whose validation
    integer accuracy is at least ``floor.min_accuracy`` (see the module docstring)."""
    if config.objective != "luts":
        raise ValueError("min_accuracy searches the LUT budget: it needs objective 'luts'")
    inner = validation_split(split, config.seed)
    trials: list[Trial] = []
    results: list[CompressResult] = []
    passing: list[int] = []   # budgets (or, for the config's own, its design's estimate)
    failing: list[int] = []
    budget = config.max_luts
    for _ in range(floor.steps):
        res = compress(inner, dataclasses.replace(config, max_luts=budget), progress=progress,
                       name=name)
        trial = Trial(budget, design_lut_eq(res.network), res.int_accuracy)
        say(f"floor trial {len(trials) + 1}/{floor.steps}: budget "
            f"{'(the fractions)' if budget is None else budget} -> {trial.lut_eq} LUT-eq "
            f"estimated, validation integer accuracy {trial.val_accuracy:.4f}")
        grew = not trials or trial.lut_eq > SATURATED * max(t.lut_eq for t in trials)
        trials.append(trial)
        results.append(res)
        level = trial.lut_eq if budget is None else budget
        meets = trial.val_accuracy >= floor.min_accuracy
        (passing if meets else failing).append(level)
        if not meets and not passing and not grew:
            break  # a larger budget buys nothing more: the floor is out of reach
        if passing and failing and min(passing) <= RESOLUTION * max(failing):
            break
        budget = _next_budget(passing, failing)
        if any(t.max_luts == budget for t in trials):
            break
    ok = [i for i, t in enumerate(trials) if t.val_accuracy >= floor.min_accuracy]
    if not ok:
        best = max(trials, key=lambda t: (t.val_accuracy, -t.lut_eq))
        raise CompressionFailed(
            f"min accuracy {floor.min_accuracy} not reached: the best of {len(trials)} trials "
            f"reached {best.val_accuracy:.4f} on the validation split ({best.lut_eq} LUT-eq "
            "estimated); lower --min-accuracy, raise --floor-steps or widen the types "
            "(--a-bits, --w-bits, --in-bits)")
    pick = min(ok, key=lambda i: (trials[i].lut_eq, -trials[i].val_accuracy))
    chosen = results[pick]
    net = chosen.network
    x_int = convert(split.x_test, split.input_type, net.input)
    int_acc = float(np.mean(predict(forward(net, x_int)) == split.y_test))
    meta = dict(net.meta)
    meta["accuracy"] = {**dict(meta.get("accuracy", {})), "split": "validation",
                        "validation_int": chosen.int_accuracy, "int": int_acc}
    meta["accuracy_floor"] = json_safe({
        "min_accuracy": floor.min_accuracy, "steps": floor.steps,
        "validation": f"{VALIDATION_FRACTION:g} of the training split, stratified, "
                      f"seed {config.seed}",
        "validation_size": int(len(inner.y_test)), "train_size": int(len(inner.y_train)),
        "chosen": pick, "trials": [t.to_json() for t in trials]})
    net = dataclasses.replace(net, meta=meta)
    validate(net)
    return CompressResult(network=net, float_accuracy=chosen.float_accuracy,
                          compressed_float_accuracy=chosen.compressed_float_accuracy,
                          int_accuracy=int_acc)
