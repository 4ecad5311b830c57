"""The flow's stages as plain functions (the CLI and the tests call these, nothing else).

compress -> artifact -> generate (design folder) -> simulate (sim.json) -> rom -> report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from . import numerics
from .artifact import Network, digest
from .blockrom import design_roms
from .manifest import DesignManifest, ManifestError
from .datasets import DIGITS_INPUT, Split, load_digits_split
from .output import write_tree
from .plan import DesignPlan
from .randnet import random_inputs
from .rom import ROM_FORMATS, rom_files
from .sim.runner import SimConfig, compare, simulate


class FlowError(ValueError):
    """A stage was given inputs that do not belong together."""


def digits_compatible(net: Network) -> bool:
    """Whether the network takes the digits images as its input."""
    return net.input_features == 64 and net.input == DIGITS_INPUT and net.output_features >= 10


def reference_accuracy(net: Network, split: Split) -> float:
    """Accuracy of the integer reference model on the test images."""
    return float(np.mean(numerics.predict(numerics.forward(net, split.x_test)) == split.y_test))


def stimulus(net: Network, vectors: str, count: int | None, seed: int
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Input vectors (and labels when known): ``digits`` test images or ``random`` ones."""
    if vectors == "digits":
        if not digits_compatible(net):
            raise FlowError("this network does not take 8x8 digits images (64 unsigned 8-bit "
                            "inputs, frac 4); use --vectors random")
        split = load_digits_split()
        n = len(split.x_test) if count is None else min(count, len(split.x_test))
        return split.x_test[:n], split.y_test[:n]
    if vectors == "random":
        return random_inputs(np.random.default_rng(seed), net, count or 256), None
    raise FlowError(f"unknown vector set {vectors!r}; choose 'digits' or 'random'")


def check_design(net: Network, design_dir: Path) -> None:
    """Raise FlowError unless ``design_dir`` holds a design generated from ``net`` (cheap:
    callers check it before the simulator starts)."""
    regenerate = f"regenerate it with `hlsgen generate ARTIFACT --out {design_dir}`"
    try:
        made_from = DesignManifest.load(Path(design_dir)).artifact_sha256
    except ManifestError as exc:
        raise FlowError(str(exc)) from None
    if made_from != digest(net):
        raise FlowError(f"{design_dir} was generated from another artifact "
                        f"(sha256 {made_from[:12]}); {regenerate}")


def simulate_design(net: Network, design_dir: Path, inputs: np.ndarray,
                    labels: np.ndarray | None = None, config: SimConfig = SimConfig(),
                    build_dir: Path | None = None, simulator: str = "verilator"
                    ) -> dict[str, Any]:
    """Simulate the design on ``inputs`` and compare every output bit with the reference."""
    check_design(net, design_dir)
    result = simulate(Path(design_dir), inputs, config, build_dir, simulator)
    expected = numerics.forward(net, inputs)
    cmp = compare(result.outputs, expected)
    summary: dict[str, Any] = {
        "rtl_vectors": cmp.vectors,
        "rtl_mismatches": cmp.mismatches,
        "rtl_first_mismatches": list(cmp.first_mismatches),
        "rtl_cycles": result.cycles,
        "rtl_protocol_errors": list(result.protocol_errors),
        "rtl_tlast_ok": result.lasts_ok,
        "simulator": f"{result.simulator} {result.tool.version} ({result.tool.source})",
        "stall_in": config.stall_in,
        "stall_out": config.stall_out,
        "seed": config.seed,
    }
    if labels is not None and len(result.outputs) == len(labels):
        summary["rtl_accuracy"] = float(np.mean(numerics.predict(result.outputs) == labels))
    if result.wave_file is not None:
        summary["wave_file"] = str(result.wave_file)
    return summary


def write_roms(plan: DesignPlan, out_dir: Path,
               formats: Sequence[str] = ROM_FORMATS) -> list[str]:
    """Write every ROM image of the design into ``out_dir`` (one atomic folder swap)."""
    files: dict[str, str] = {}
    for img in design_roms(plan):
        files.update(rom_files(img, formats, header=plan.provenance()))
    write_tree(Path(out_dir), files)
    return sorted(files)


def accuracies(net: Network, split: Split | None = None) -> dict[str, float | None]:
    """Float accuracies recorded by the compressor plus the reference model's, when the
    network is a digits classifier."""
    meta = net.meta
    acc: dict[str, float | None] = {
        "float_accuracy": meta.get("float_accuracy"),
        "compressed_float_accuracy": meta.get("compressed_float_accuracy"),
        "int_accuracy": None,
    }
    if digits_compatible(net):
        acc["int_accuracy"] = reference_accuracy(net, split or load_digits_split())
    return acc
