"""One sweep point as a task: a pure function of its :class:`PointSpec` (seeded, so a
re-run on another worker gives the same artifact and the same figures).

compress (the compressor plugin) -> generate (Verilog, in a private temporary folder) ->
simulate (bit-exact against the reference) -> synth (Yosys / nextpnr) -> the report's
figures. Nothing is written outside the temporary folder: the caller stores the row and the
artifact, so workers need no shared file system. Any failure is the row's one-line
``error``; the sweep goes on.
"""

from __future__ import annotations

import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

from .. import artifact, compressors
from ..flow import accuracies, simulate_design, stimulus
from ..generate import generate
from ..network import Network
from ..plan import make_plan
from ..report import build_report
from ..schedules import make_schedule
from ..sim.runner import SimConfig
from ..synth import synthesize
from .spec import PointSpec, compressor_settings

VOLATILE = ("elapsed_s", "worker")   # the row's fields that differ between two runs
T = TypeVar("T")


@dataclass(frozen=True)
class PointResult:
    """A finished point: its table row and its network (artifact text; None when the point
    failed before it had one)."""

    key: str
    row: dict[str, Any]
    artifact_text: str | None


def run_point(point: PointSpec) -> PointResult:
    """Run the point's stages; never raises for a failing point (the row says why)."""
    t0 = time.monotonic()
    row: dict[str, Any] = {"point": point.key, "index": point.index,
                           "params": _jsonable(dict(point.params)),
                           "stages": list(point.stages)}
    net_text = None
    try:
        with tempfile.TemporaryDirectory(prefix="hlsgen-sweep-") as tmp:
            source = "compress" if point.artifact_text is None else "artifact"
            net = _step(source, _network, point)
            net_text = artifact.dumps(net)
            figures = _figures(point, net, Path(tmp))
        row.update(figures)
        error = _verdict(figures)
        row.update(status="ok" if error is None else "failed", error=error)
    except _StageError as exc:  # a failing point is a result: record it, go on
        row.update(status="failed", error=str(exc))
    row["elapsed_s"] = round(time.monotonic() - t0, 3)
    row["worker"] = platform.node()
    return PointResult(point.key, row, net_text)


def _network(point: PointSpec) -> Network:
    if point.artifact_text is not None:
        return artifact.loads(point.artifact_text, f"point {point.index} artifact")
    compressor = compressors.load(point.compressor)
    return compressor.prepare(compressor_settings(point), progress=False,
                              say=lambda msg: None)()


def _figures(point: PointSpec, net: Network, tmp: Path) -> dict[str, Any]:
    """The report figures of ``net`` through the point's stages (in ``tmp``)."""
    design = tmp / "design"
    if "generate" in point.stages:
        schedule = _step("generate", generate, net, design, point.arch, "verilog",
                         point.schedule)
    else:
        schedule = _step("plan", make_schedule, make_plan(net), point.arch, point.schedule)
    sim = synth = None
    if "simulate" in point.stages:
        sim = _step("simulate", _simulate, point, net, design, tmp / "build")
    if "synth" in point.stages:
        synth = _step("synth", synthesize, design, tmp / "synth", point.synth)
    return build_report(schedule, accuracies=accuracies(net), sim=sim, synth=synth)


def _simulate(point: PointSpec, net: Network, design: Path, build: Path) -> dict[str, Any]:
    s = point.sim
    x, y = stimulus(net, s.vectors, s.count, s.seed)
    return simulate_design(net, design, x, y,
                           SimConfig(stall_in=s.stall_in, stall_out=s.stall_out, seed=s.seed),
                           build, s.simulator)


class _StageError(Exception):
    """A stage failed: ``stage: the one-line reason``."""


def _step(stage: str, fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except Exception as exc:  # noqa: BLE001 - every failure of a point is its result
        raise _StageError(f"{stage}: {_one_line(exc)}") from None


def _verdict(figures: dict[str, Any]) -> str | None:
    """None when the simulated RTL matched the reference bit for bit (or was not simulated),
    else the one line saying how it disagreed."""
    if "rtl_mismatches" not in figures:
        return None
    problems = []
    if figures["rtl_mismatches"]:
        problems.append(f"{figures['rtl_mismatches']} of {figures['rtl_vectors']} vectors "
                        "disagree with the reference")
    if figures.get("rtl_protocol_errors"):
        problems.append(f"stream protocol: {figures['rtl_protocol_errors'][0]}")
    if figures.get("rtl_tlast_ok") is False:
        problems.append("tlast did not come out with its beat")
    return "simulate: " + "; ".join(problems) if problems else None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or exc.__class__.__name__
    return text if len(text) <= 400 else text[:397] + "..."


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


__all__ = ["PointResult", "VOLATILE", "run_point"]
