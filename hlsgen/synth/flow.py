"""``synthesize``: every requested target of one design folder, one after another (never two
tools at once), with ECP5 place and route, as a dict ready for ``report["synth"]``."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..tools import Tool, find
from .design import SynthError, read_design
from .ecp5 import DEVICES, choose_part, part, place_and_route
from .targets import TARGETS, classify, target
from .yosys import run_yosys

TargetReport = dict[str, "float | int | str"]


@dataclass(frozen=True)
class SynthConfig:
    """What to synthesize and how.

    ``device`` is the ECP5 part for place and route: ``"auto"`` (the smallest LFE5U-25F/45F/85F
    the synthesis counts fit; none fitting skips place and route with the reason recorded) or
    ``"25k"``/``"45k"``/``"85k"`` (too small raises SynthError naming a part that fits).
    ``timeout_s`` bounds each tool run; ``heartbeat_s`` is the progress interval."""

    targets: tuple[str, ...] = TARGETS
    pnr: bool = True
    device: str = "auto"
    freq_mhz: float = 150.0
    package: str = "CABGA381"   # offered by all three LFE5U sizes; pins unused out of context
    speed: int = 6              # the slowest (cheapest) grade, nextpnr's default
    seed: int = 1
    timeout_s: float | None = None
    heartbeat_s: float = 15.0

    def __post_init__(self) -> None:
        if not self.targets:
            raise ValueError("SynthConfig.targets is empty; name at least one of "
                             f"{', '.join(TARGETS)}")
        for name in self.targets:
            target(name)
        if len(set(self.targets)) != len(self.targets):
            raise ValueError(f"SynthConfig.targets repeats a target: {self.targets}")
        if self.device != "auto":
            part(self.device)
        if not self.freq_mhz > 0:
            raise ValueError(f"SynthConfig.freq_mhz must be positive, got {self.freq_mhz}")
        if self.speed not in (6, 7, 8):
            raise ValueError(f"SynthConfig.speed must be 6, 7 or 8, got {self.speed}")


def _say(progress: Callable[[str], None] | None, text: str) -> None:
    if progress is not None:
        progress(text)


def synthesize(design_dir: Path, work_dir: Path, config: SynthConfig = SynthConfig(),
               progress: Callable[[str], None] | None = None) -> dict[str, TargetReport]:
    """Synthesize ``design_dir`` for every target of ``config``, in ``work_dir/<target>/``.

    Returns ``{target: {"lut", "carry", "ff", "dsp", "bram", ..., "fmax_mhz"}}``, every figure
    measured (``fmax_mhz`` where nextpnr ran; ``lut_eq`` on ECP5). Raises ToolError when Yosys or
    nextpnr is missing or fails, SynthError when the design folder is unusable or does not fit
    the part asked for."""
    design = read_design(Path(design_dir))
    work_dir = Path(work_dir)
    yosys = find("yosys")
    nextpnr = find("nextpnr-ecp5") if config.pnr and any(
        target(t).writes_netlist for t in config.targets) else None
    results: dict[str, TargetReport] = {}
    for name in config.targets:
        spec = target(name)
        folder = work_dir / name
        command = spec.yosys_command(design.top)
        _say(progress, f"{name}: yosys {command.split(' -json')[0]} "
                       f"({len(design.sources)} sources)")
        synth = run_yosys(design, folder, [command], tool=yosys, stage_name=f"{name}: yosys",
                          progress=progress, every_s=config.heartbeat_s,
                          timeout=config.timeout_s)
        counts = classify(spec, synth.cells)
        entry: TargetReport = dict(counts)
        entry.update(tool=f"yosys {yosys.version}", command=command,
                     yosys_s=round(synth.seconds, 1))
        _say(progress, f"{name}: yosys done in {synth.seconds:.0f} s: {counts['lut']} LUT, "
                       f"{counts['carry']} carry, {counts['ff']} FF, {counts['dsp']} DSP, "
                       f"{counts['bram']} BRAM")
        if spec.writes_netlist and nextpnr is not None:
            entry.update(_pnr(folder, counts, config, nextpnr, name, progress))
        results[name] = entry
    return results


def _pnr(folder: Path, counts: dict[str, int], config: SynthConfig, tool: Tool, name: str,
         progress: Callable[[str], None] | None) -> TargetReport:
    chosen, note = choose_part(config.device, counts)
    if chosen is None:
        _say(progress, f"{name}: place and route skipped: {note}")
        return {"pnr": f"skipped: {note}"}
    _say(progress, f"{name}: nextpnr-ecp5 on {note}, out of context, {config.freq_mhz:g} MHz "
                   "target")
    start = time.monotonic()
    pnr = place_and_route(folder, chosen, package=config.package, speed=config.speed,
                          freq_mhz=config.freq_mhz, seed=config.seed, tool=tool,
                          stage_name=f"{name}: nextpnr", progress=progress,
                          every_s=config.heartbeat_s, timeout=config.timeout_s)
    if not pnr.fmax_mhz:
        raise SynthError(f"nextpnr reported no clock in {folder}/pnr.json; the design has no "
                         "register-to-register path on aclk")
    clock, fmax = min(pnr.fmax_mhz.items(), key=lambda kv: kv[1])
    comb_used, comb_avail = pnr.utilization.get("TRELLIS_COMB", (0, 0))
    entry: TargetReport = {
        "fmax_mhz": round(fmax, 2),
        "fmax_clock": clock,
        "clocks": len(pnr.fmax_mhz),
        "freq_target_mhz": config.freq_mhz,
        "device": chosen.name,
        "package": config.package,
        "speed": config.speed,
        "out_of_context": 1,
        "pnr": "done",
        "pnr_tool": f"nextpnr-ecp5 {tool.version}",
        "comb_used": comb_used,
        "comb_available": comb_avail,
        "comb_pct": round(100.0 * comb_used / comb_avail, 1) if comb_avail else 0.0,
        "pnr_s": round(time.monotonic() - start, 1),
    }
    _say(progress, f"{name}: nextpnr done in {entry['pnr_s']:.0f} s: Fmax {fmax:.1f} MHz "
                   f"({clock}), {comb_used}/{comb_avail} LUT sites on {chosen.name}")
    return entry


__all__ = ["DEVICES", "SynthConfig", "SynthError", "synthesize"]
