"""Lattice ECP5 parts and nextpnr-ecp5 place and route.

Place and route is out of context (``--out-of-context``): the designs' AXI4-Stream buses are
wider than any package has pins (the digits MLP's ports are ~600 bits), so no I/O buffers are
inserted and the ports stay internal; Fmax is the register-to-register figure of the core.
``--timing-allow-fail`` makes nextpnr finish and report when the target frequency is missed
(nextpnr 0.11 exits with an error otherwise).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..tools import Tool, ToolError, find, last_error_line
from .design import SynthError
from .progress import Progress, heartbeat, nextpnr_step

NETLIST_FILE = "netlist.json"
REPORT_FILE = "pnr.json"
LOG_FILE = "nextpnr.log"


@dataclass(frozen=True)
class Ecp5Part:
    """An LFE5U part's name, nextpnr flag and site counts (nextpnr 0.11 ``--report``
    ``utilization.*.available``, measured)."""

    key: str          # "25k"
    name: str         # "LFE5U-25F"
    comb: int         # TRELLIS_COMB sites (LUT4s; a CCU2C takes two)
    ff: int           # TRELLIS_FF sites
    mult18: int       # MULT18X18D
    dp16kd: int       # 18 Kib block RAMs

    @property
    def flag(self) -> str:
        return f"--{self.key}"


PARTS = (
    Ecp5Part("25k", "LFE5U-25F", 24288, 24288, 28, 56),
    Ecp5Part("45k", "LFE5U-45F", 43848, 43848, 72, 108),
    Ecp5Part("85k", "LFE5U-85F", 83640, 83640, 156, 208),
)
DEVICES = ("auto", *(p.key for p in PARTS))
# nextpnr adds feed-through LUTs for flip-flops and cannot pack every slice; a design whose
# synthesis LUT-equivalents exceed this share of a part's LUT sites is not tried on it.
COMB_FILL = 0.8
# Near full, placement slows by an order of magnitude (a 16.5k LUT-eq, 17.9k FF design did not
# finish placing on the 24k-site LFE5U-25F in 25 minutes; it places in minutes on the 45F), so
# ``--device auto`` picks the smallest part whose LUT sites and flip-flops are at most this full.
AUTO_FILL = 0.7


def part(device: str) -> Ecp5Part:
    """``"25k"``, ``"LFE5U-25F"`` or ``"lfe5u-25f"`` -> the part."""
    key = device.strip().lower()
    for p in PARTS:
        if key in (p.key, p.name.lower()):
            return p
    raise ValueError(f"unknown ECP5 device {device!r}; choose from {', '.join(DEVICES)}")


def shortfall(p: Ecp5Part, counts: Mapping[str, int]) -> str | None:
    """Why a design with synthesis ``counts`` does not fit part ``p``, or None if it fits."""
    need_comb = counts["lut_eq"] + 2 * counts.get("lutram", 0)
    if counts["dsp"] > p.mult18:
        return f"{counts['dsp']} MULT18X18D > {p.mult18}"
    if counts["bram"] > p.dp16kd:
        return f"{counts['bram']} DP16KD > {p.dp16kd}"
    if counts["ff"] > p.ff:
        return f"{counts['ff']} flip-flops > {p.ff}"
    if need_comb > COMB_FILL * p.comb:
        return (f"{need_comb} LUT-equivalents > {COMB_FILL:.0%} of its {p.comb} LUT sites")
    return None


def roomy(p: Ecp5Part, counts: Mapping[str, int]) -> bool:
    """Whether the design fills at most ``AUTO_FILL`` of the part's LUT and flip-flop sites."""
    need_comb = counts["lut_eq"] + 2 * counts.get("lutram", 0)
    return need_comb <= AUTO_FILL * p.comb and counts["ff"] <= AUTO_FILL * p.ff


def smallest_fit(counts: Mapping[str, int]) -> Ecp5Part | None:
    """The smallest part the design fits with room to place (``AUTO_FILL``), else the smallest
    it fits at all."""
    fits = [p for p in PARTS if shortfall(p, counts) is None]
    return next((p for p in fits if roomy(p, counts)), fits[0] if fits else None)


def choose_part(device: str, counts: Mapping[str, int]) -> tuple[Ecp5Part | None, str]:
    """The part to place on and a note. ``"auto"``: the smallest that fits, or None with the
    reason when none does. A named part that is too small raises SynthError naming one that
    fits."""
    if device == "auto":
        chosen = smallest_fit(counts)
        if chosen is not None:
            return chosen, (f"{chosen.name}, the smallest LFE5U that fits"
                            + (f" at most {AUTO_FILL:.0%} full" if roomy(chosen, counts) else ""))
        return None, (f"too big for the largest ECP5, {PARTS[-1].name}: "
                      f"{shortfall(PARTS[-1], counts)}")
    asked = part(device)
    why = shortfall(asked, counts)
    if why is None:
        return asked, f"{asked.name}, as asked"
    fits = smallest_fit(counts)
    fix = (f"use device {fits.key!r} ({fits.name})" if fits is not None else
           f"it does not fit even {PARTS[-1].name} ({shortfall(PARTS[-1], counts)})")
    raise SynthError(f"the design does not fit {asked.name} ({why}); {fix}")


@dataclass(frozen=True)
class PnrResult:
    """Post-route figures read from nextpnr's ``--report`` JSON."""

    fmax_mhz: Mapping[str, float]               # achieved, per clock
    utilization: Mapping[str, tuple[int, int]]  # bel type -> (used, available)
    seconds: float


def parse_report(text: str) -> tuple[dict[str, float], dict[str, tuple[int, int]]]:
    """(Fmax per clock, utilization per bel type) from nextpnr ``--report`` JSON."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SynthError(f"nextpnr wrote an unreadable --report ({exc})") from None
    fmax = {str(clk): float(v["achieved"]) for clk, v in (doc.get("fmax") or {}).items()
            if isinstance(v, dict) and isinstance(v.get("achieved"), (int, float))}
    util = {str(bel): (int(v.get("used", 0)), int(v.get("available", 0)))
            for bel, v in (doc.get("utilization") or {}).items() if isinstance(v, dict)}
    return fmax, util


def nextpnr_args(p: Ecp5Part, *, package: str, speed: int, freq_mhz: float,
                 seed: int) -> list[str]:
    return [p.flag, "--package", package, "--speed", str(speed), "--out-of-context",
            "--freq", f"{freq_mhz:g}", "--timing-allow-fail", "--seed", str(seed),
            "--json", NETLIST_FILE, "--report", REPORT_FILE, "-l", LOG_FILE, "-q"]


_NO_BELS = re.compile(r"no BELs remaining to implement cell type '([^']+)'")


def place_and_route(folder: Path, p: Ecp5Part, *, package: str, speed: int, freq_mhz: float,
                    seed: int, tool: Tool | None = None, stage_name: str = "nextpnr",
                    progress: Progress | None = None, every_s: float = 15.0,
                    timeout: float | None = None) -> PnrResult:
    """Place and route ``folder/netlist.json`` (written by ``synth_ecp5 -json``) on ``p``."""
    tool = tool or find("nextpnr-ecp5")
    report = folder / REPORT_FILE
    report.unlink(missing_ok=True)
    start = time.monotonic()
    with heartbeat(progress, stage_name, folder / LOG_FILE, nextpnr_step, every_s):
        done = tool.run(nextpnr_args(p, package=package, speed=speed, freq_mhz=freq_mhz,
                                     seed=seed), cwd=folder, timeout=timeout,
                        log=folder / "nextpnr.stdout")
    if done.returncode != 0:
        log_text = (folder / LOG_FILE).read_text(encoding="utf-8", errors="replace") \
            if (folder / LOG_FILE).is_file() else done.stderr
        full = _NO_BELS.search(log_text)
        if full:
            bigger = [q for q in PARTS if q.comb > p.comb]
            fix = f"use device {bigger[0].key!r} ({bigger[0].name})" if bigger else \
                "no larger ECP5 exists"
            raise SynthError(f"the design does not fit {p.name}: nextpnr ran out of "
                             f"{full.group(1)} sites; {fix} (log: {folder / LOG_FILE})")
        raise ToolError(f"nextpnr-ecp5 failed with exit status {done.returncode} in {folder}: "
                        f"{last_error_line(log_text)} (full log: {folder / LOG_FILE})")
    if not report.is_file():
        raise SynthError(f"nextpnr finished but wrote no {report}; see {folder / LOG_FILE}")
    fmax, util = parse_report(report.read_text(encoding="utf-8"))
    return PnrResult(fmax, util, time.monotonic() - start)
