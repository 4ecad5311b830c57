"""Backends: each renders a schedule into the files of a design folder and its manifest.

``verilog`` (RTL) and ``hls`` (HLS C++ for Vitis HLS, C-simulated with g++); a new backend is
a new module here and one entry in ``BACKENDS``. Every backend keeps its signal and module names in one place and receives
structured terms from the plan; widths and arithmetic decisions come from the plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..manifest import MANIFEST, DesignManifest
from ..schedules import Schedule


@dataclass(frozen=True)
class RenderedDesign:
    """Every file of a design folder (relative path -> text) and its manifest."""

    files: dict[str, str]
    manifest: DesignManifest

    def tree(self) -> dict[str, str]:
        """The folder's contents, ``design.json`` included."""
        return {**self.files, MANIFEST: self.manifest.to_json()}


def provenance(schedule: Schedule) -> str:
    """The line every generated file carries: generator version, architecture, artifact."""
    return schedule.plan.provenance(schedule.arch)


def _render_verilog(schedule: Schedule) -> RenderedDesign:
    from .verilog import render
    return render(schedule)


def _render_hls(schedule: Schedule) -> RenderedDesign:
    from .hls import render
    return render(schedule)


BACKENDS: dict[str, Callable[[Schedule], RenderedDesign]] = {"verilog": _render_verilog,
                                                            "hls": _render_hls}


def render(schedule: Schedule, backend: str = "verilog") -> RenderedDesign:
    """Render ``schedule`` with the named backend."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](schedule)


__all__ = ["BACKENDS", "RenderedDesign", "provenance", "render"]
