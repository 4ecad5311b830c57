"""Architectures: each is one schedule built on the neutral plan.

``unrolled`` (latency): one PE per kept block, one input vector per clock. A new
architecture (``folded``: P PEs walking ROMs of kept blocks) is a new module here and one
entry in ``ARCHITECTURES``.
"""

from __future__ import annotations

from typing import Callable, Union

from ..plan import DesignPlan
from .unrolled import UnrolledSchedule, schedule_unrolled

Schedule = Union[UnrolledSchedule]
ARCHITECTURES: dict[str, Callable[[DesignPlan], Schedule]] = {"unrolled": schedule_unrolled}


def make_schedule(plan: DesignPlan, arch: str = "unrolled") -> Schedule:
    """Schedule ``plan`` for the architecture ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of "
                         f"{', '.join(ARCHITECTURES)}")
    return ARCHITECTURES[arch](plan)


__all__ = ["ARCHITECTURES", "Schedule", "UnrolledSchedule", "make_schedule"]
