"""Architectures: each is one schedule built on the neutral plan.

``unrolled`` (latency): each layer one shared adder graph, one input vector per clock. A new
architecture (``folded``: P PEs walking ROMs of kept blocks) is a new module here and one
entry in ``ARCHITECTURES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from ..plan import DesignPlan
from .unrolled import LEVELS_PER_STAGE, UnrolledSchedule, schedule_unrolled


@dataclass(frozen=True)
class ScheduleOptions:
    """The knobs of the architectures (each uses those that concern it)."""

    levels_per_stage: int = LEVELS_PER_STAGE  # adder levels between pipeline registers
    dsp: str = "never"  # constant multipliers: never (shift-and-add), auto, always


Schedule = Union[UnrolledSchedule]
ARCHITECTURES: dict[str, Callable[[DesignPlan, ScheduleOptions], Schedule]] = {
    "unrolled": lambda plan, o: schedule_unrolled(plan, o.levels_per_stage, o.dsp),
}


def make_schedule(plan: DesignPlan, arch: str = "unrolled",
                  options: ScheduleOptions = ScheduleOptions()) -> Schedule:
    """Schedule ``plan`` for the architecture ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of "
                         f"{', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](plan, options)


__all__ = ["ARCHITECTURES", "Schedule", "ScheduleOptions", "UnrolledSchedule", "make_schedule"]
