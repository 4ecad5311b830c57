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


@dataclass(frozen=True)
class DesignNames:
    """The names every backend shares: the top and one unit per layer (module or function),
    each in its own file with the backend's extension ``EXT``. The top keeps its name across
    backends, so the RTL and the HLS C++ of one design agree."""

    design: str
    EXT = ""

    @property
    def top(self) -> str:
        return f"{self.design}_top"

    def layer(self, index: int) -> str:
        return f"{self.design}_layer{index}"

    def layer_file(self, index: int) -> str:
        return f"{self.layer(index)}{self.EXT}"

    @property
    def top_file(self) -> str:
        return f"{self.top}{self.EXT}"


def design_manifest(schedule: Schedule, backend: str, sources: tuple[str, ...], latency: int,
                    **extra: object) -> DesignManifest:
    """The manifest of a rendered design: what the plan and schedule say about its interface
    and timing, the backend, its sources, and any architecture-specific ``extra`` fields."""
    plan = schedule.plan
    return DesignManifest(
        generator=f"hlsgen {plan.generator}", artifact_sha256=plan.artifact_hash,
        arch=schedule.arch, backend=backend, name=plan.name, top=DesignNames(plan.name).top,
        sources=sources, in_features=plan.in_features, in_bits=plan.in_type.bits,
        in_signed=plan.in_type.signed, out_features=plan.out_features,
        out_bits=plan.out_type.bits, out_signed=plan.out_type.signed, latency=latency,
        initiation_interval=schedule.initiation_interval, **extra)  # type: ignore[arg-type]


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


__all__ = ["BACKENDS", "DesignNames", "RenderedDesign", "design_manifest", "provenance", "render"]
