"""Artifact -> neutral plan -> architecture schedule -> backend -> a design folder."""

from __future__ import annotations

from pathlib import Path

from .backends import RenderedDesign, render
from .network import Network
from .output import write_tree
from .plan import make_plan
from .schedules import Schedule, ScheduleOptions, make_schedule


def design(net: Network, arch: str = "unrolled", backend: str = "verilog",
           options: ScheduleOptions = ScheduleOptions()) -> tuple[Schedule, RenderedDesign]:
    """Plan, schedule and render ``net`` (nothing written)."""
    schedule = make_schedule(make_plan(net), arch, options)
    return schedule, render(schedule, backend)


def generate(net: Network, out_dir: Path, arch: str = "unrolled",
             backend: str = "verilog", options: ScheduleOptions = ScheduleOptions()
             ) -> Schedule:
    """Write the design folder of ``net`` atomically; returns its schedule."""
    schedule, rendered = design(net, arch, backend, options)
    write_tree(Path(out_dir), rendered.tree())
    return schedule
