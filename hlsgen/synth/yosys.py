"""Running Yosys on a staged design folder: a script of relative paths, ``stat -json`` for the
counts, and the generic-cell counts of the RTL itself (``yosys_cell_counts``)."""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Mapping

from ..tools import Tool, find
from .design import DesignSources, SynthError, read_design, stage
from .progress import Progress, heartbeat, yosys_step

STAT_FILE = "stat.json"
SCRIPT_FILE = "synth.ys"
LOG_FILE = "yosys.log"


@dataclass(frozen=True)
class YosysRun:
    """What one Yosys run left: cell counts by type, wall time, and its folder."""

    cells: Mapping[str, int]
    seconds: float
    folder: Path


def script(design: DesignSources, commands: Iterable[str]) -> str:
    """A Yosys script reading every source (relative paths), running ``commands`` and writing
    ``stat -json`` to ``stat.json``."""
    lines = ["# written by hlsgen.synth; run from a copy of the design folder"]
    lines += [f"read_verilog -sv {src}" for src in design.sources]
    lines += list(commands)
    lines.append(f"tee -q -o {STAT_FILE} stat -json")
    return "\n".join(lines) + "\n"


def parse_stat(text: str) -> dict[str, int]:
    """Cell counts by type from ``stat -json``: the whole-design entry when there is one,
    else the sum over modules."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SynthError(f"Yosys wrote an unreadable stat -json ({exc})") from None
    design = doc.get("design") if isinstance(doc, dict) else None
    entries = [design] if isinstance(design, dict) else \
        list((doc.get("modules") or {}).values()) if isinstance(doc, dict) else []
    if not entries:
        raise SynthError("Yosys's stat -json holds neither a design nor modules")
    cells: dict[str, int] = {}
    for entry in entries:
        for kind, count in (entry.get("num_cells_by_type") or {}).items():
            cells[kind] = cells.get(kind, 0) + int(count)
    return dict(sorted(cells.items()))


def run_yosys(design: DesignSources, folder: Path, commands: Iterable[str], *,
              tool: Tool | None = None, stage_name: str = "yosys",
              progress: Progress | None = None, every_s: float = 15.0,
              timeout: float | None = None) -> YosysRun:
    """Stage ``design`` into ``folder`` and run Yosys there on a script of ``commands``.

    Yosys's own log is ``folder/yosys.log`` (written while it runs); a failure raises one
    ToolError line quoting its last error."""
    tool = tool or find("yosys")
    stage(design, folder)
    (folder / SCRIPT_FILE).write_text(script(design, commands), encoding="utf-8")
    stat = folder / STAT_FILE
    stat.unlink(missing_ok=True)
    start = time.monotonic()
    with heartbeat(progress, stage_name, folder / LOG_FILE, yosys_step, every_s):
        tool.run(["-q", "-l", LOG_FILE, "-s", SCRIPT_FILE], cwd=folder, timeout=timeout,
                 check=True, log=folder / "yosys.stdout")
    if not stat.is_file():
        raise SynthError(f"Yosys finished but wrote no {stat}; see {folder / LOG_FILE}")
    return YosysRun(parse_stat(stat.read_text(encoding="utf-8")), time.monotonic() - start,
                    folder)


# no opt_clean: logic whose result nothing reads (before an all-pruned layer) still counts
GENERIC_COMMANDS = ("hierarchy -check -top {top}", "proc", "flatten")


def yosys_cell_counts(design_dir: Path, work_dir: Path | None = None) -> dict[str, int]:
    """Generic Yosys cells (``$mul``, ``$add``, ``$sub``, ``$shl``, ``$dff``, ...) of a design
    folder's RTL after ``hierarchy -check -top TOP; proc; flatten``: what the Verilog itself
    asks for, before any optimization, technology mapping or constant folding."""
    design = read_design(Path(design_dir))
    commands = [c.format(top=design.top) for c in GENERIC_COMMANDS]
    if work_dir is not None:
        return dict(run_yosys(design, Path(work_dir), commands).cells)
    with tempfile.TemporaryDirectory(prefix="hlsgen-cells-") as tmp:
        return dict(run_yosys(design, Path(tmp), commands).cells)


def count_cells(design_dir: Path, cell_types: Iterable[str],
                work_dir: Path | None = None) -> dict[str, int]:
    """The counts of ``cell_types`` (e.g. ``["$mul", "$add"]``) in a design folder's RTL, as
    :func:`yosys_cell_counts` finds them; a type that does not occur counts 0."""
    counts = yosys_cell_counts(design_dir, work_dir)
    return {t: counts.get(t, 0) for t in cell_types}


def parse_stat_modules(text: str) -> dict[str, dict[str, int]]:
    """Cell counts by type of every module in ``stat -json`` (a hierarchical design)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SynthError(f"Yosys wrote an unreadable stat -json ({exc})") from None
    modules = doc.get("modules") if isinstance(doc, dict) else None
    if not isinstance(modules, dict) or not modules:
        raise SynthError("Yosys's stat -json holds no modules")
    return {name.lstrip("\\"): {k: int(v) for k, v in
                                sorted((entry.get("num_cells_by_type") or {}).items())}
            for name, entry in modules.items()}


def module_cell_counts(design_dir: Path, work_dir: Path, command: str
                       ) -> dict[str, dict[str, int]]:
    """Technology cells per module of a design folder when synthesized without flattening:
    ``command`` is a Yosys synth command with ``{top}`` and ``-noflatten`` (e.g.
    ``synth_ecp5 -nodsp -noflatten -top {top}``). Each layer of an hlsgen design is a
    module, so this measures the layers one by one."""
    design = read_design(Path(design_dir))
    run = run_yosys(design, Path(work_dir), [command.format(top=design.top)])
    return parse_stat_modules((run.folder / STAT_FILE).read_text(encoding="utf-8"))
