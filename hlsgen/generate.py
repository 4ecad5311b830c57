"""Artifact -> plan -> backends -> a design folder (``rtl/``, ``design.json``)."""

from __future__ import annotations

from pathlib import Path

from .artifact import Network
from .output import write_tree
from .plan import DesignPlan, make_plan
from .verilog import manifest, render_verilog


def design_files(plan: DesignPlan) -> dict[str, str]:
    """Every file of a design folder for ``plan``, by relative path."""
    rtl = render_verilog(plan)
    files = {f"rtl/{name}": text for name, text in rtl.items()}
    files["design.json"] = manifest(plan, list(rtl))
    return files


def generate(net: Network, out_dir: Path, arch: str = "unrolled") -> DesignPlan:
    """Plan ``net`` and write its design folder atomically; returns the plan."""
    plan = make_plan(net, arch)
    write_tree(Path(out_dir), design_files(plan))
    return plan
