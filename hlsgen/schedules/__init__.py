"""Architectures: each is one schedule built on the neutral plan.

``unrolled`` (latency): each layer one shared adder graph, one input vector per clock.
``folded`` (resource): per layer P PEs walking a ROM of the kept blocks, one block per clock.
A new architecture is a new module here and one entry in ``ARCHITECTURES``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Union

from ..plan import DesignPlan
from .folded import DEFAULT_CYCLE_BUDGET, FoldedSchedule, schedule_folded
from .stream import StreamSchedule, schedule_stream
from .unrolled import LEVELS_PER_STAGE, UnrolledSchedule, schedule_unrolled


@dataclass(frozen=True)
class ScheduleOptions:
    """The knobs of the architectures (each uses those that concern it)."""

    levels_per_stage: int = LEVELS_PER_STAGE  # adder levels between pipeline registers
    dsp: str = "never"  # constant multipliers: never (shift-and-add), auto, always
    # folded: PEs per layer (0 or missing: enough for about cycle_budget cycles per walk),
    # ROM depth per layer (0 or missing: the busiest PE's words)
    pes: tuple[int, ...] = ()
    rom_depths: tuple[int, ...] = ()
    cycle_budget: int = DEFAULT_CYCLE_BUDGET


Schedule = Union[UnrolledSchedule, FoldedSchedule, StreamSchedule]
ARCHITECTURES: dict[str, Callable[[DesignPlan, ScheduleOptions], Schedule]] = {
    "unrolled": lambda plan, o: schedule_unrolled(plan, o.levels_per_stage, o.dsp),
    "folded": lambda plan, o: schedule_folded(plan, o.pes, o.rom_depths, o.cycle_budget),
}


def make_schedule(plan: DesignPlan, arch: str = "unrolled",
                  options: ScheduleOptions = ScheduleOptions()) -> Schedule:
    """Schedule ``plan`` for the architecture ``arch``."""
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {arch!r}; choose one of "
                         f"{', '.join(ARCHITECTURES)}")
    spatial = [lp for lp in plan.layers if lp.kind != "dense"]
    if spatial and arch not in SPATIAL_ARCHITECTURES:
        lp = spatial[0]
        raise ValueError(f"layer {lp.index} ({lp.name!r}) is a {lp.kind} layer, which the "
                         f"{arch} architecture does not support yet; use --arch "
                         f"{' or '.join(SPATIAL_ARCHITECTURES) or 'another architecture'}")
    if spatial:
        return SPATIAL_ARCHITECTURES[arch](plan, options)
    return ARCHITECTURES[arch](plan, options)


# architectures that build feature-map layers (conv2d, pooling, flatten): the unrolled one as
# a chain of streaming stages (``stream.py``); the folded one as the same chain with each conv
# and the dense tail on folded layers (``folded.py``)
SPATIAL_ARCHITECTURES: dict[str, Callable[[DesignPlan, ScheduleOptions], Schedule]] = {
    "unrolled": lambda plan, o: schedule_stream(plan, o.levels_per_stage, o.dsp),
    "folded": lambda plan, o: schedule_folded(plan, o.pes, o.rom_depths, o.cycle_budget),
}


__all__ = ["ARCHITECTURES", "FoldedSchedule", "StreamSchedule", "Schedule", "ScheduleOptions", "UnrolledSchedule",
           "make_schedule"]
