"""The flow's stages as plain functions (the CLI and the tests call these, nothing else).

compress -> artifact -> generate (design folder) -> simulate (sim.json) -> rom -> report.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from . import numerics
from .artifact import Network, digest
from .blockrom import rom_tree
from .manifest import DesignManifest, ManifestError
from .datasets import Split, load_digits_split
from .output import write_tree
from .plan import make_plan
from .randnet import random_inputs
from .rom import ROM_FORMATS
from .schedules import FoldedSchedule
from .schedules.folded import FitError, fit
from .sim.runner import CocotbExecutor, SimConfig, compare

STEADY_VECTORS = 16  # vectors of the no-stall run that measures interval and latency


class FlowError(ValueError):
    """A stage was given inputs that do not belong together."""


def digits_compatible(net: Network) -> bool:
    """Whether the network takes the digits images as its input: 64 unsigned features (of
    any width: the pixels are converted to the network's input type, see :func:`as_input`)
    and at least 10 outputs."""
    return net.input_features == 64 and not net.input.signed and net.output_features >= 10


def as_input(net: Network, split: Split, x: np.ndarray) -> np.ndarray:
    """The split's integer inputs converted to the network's input type
    (:func:`hlsgen.numerics.convert`; the identity when the types agree)."""
    return numerics.convert(x, split.input_type, net.input)


def reference_accuracy(net: Network, split: Split) -> float:
    """Accuracy of the integer reference model on the test images."""
    x = as_input(net, split, split.x_test)
    return float(np.mean(numerics.predict(numerics.forward(net, x)) == split.y_test))


def stimulus(net: Network, vectors: str, count: int | None, seed: int
             ) -> tuple[np.ndarray, np.ndarray | None]:
    """Input vectors (and labels when known): ``digits`` test images or ``random`` ones."""
    if vectors == "digits":
        if not digits_compatible(net):
            raise FlowError("this network does not take 8x8 digits images (64 unsigned "
                            "inputs, at least 10 outputs); use --vectors random")
        split = load_digits_split()
        n = len(split.x_test) if count is None else min(count, len(split.x_test))
        return as_input(net, split, split.x_test[:n]), split.y_test[:n]
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


def check_roms(net: Network, design_dir: Path, rom_dir: Path) -> None:
    """Raise FlowError unless ``rom_dir`` holds ROM images of ``net`` written for the folded
    design in ``design_dir`` (``hlsgen rom NET --fit DESIGN``)."""
    redo = f"write them with `hlsgen rom ARTIFACT --fit {design_dir} --out {rom_dir}`"
    manifest = _folded_manifest(design_dir, "--rom")
    for cap in manifest.folded:
        side = Path(rom_dir) / f"{cap.rom}.json"
        try:
            doc = json.loads(side.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise FlowError(f"{rom_dir} holds no readable {side.name}; {redo}") from None
        if not isinstance(doc, dict) or (doc.get("width"), doc.get("depth")) != \
                (cap.pes * cap.pe_width, cap.depth):
            raise FlowError(f"{side}: not {cap.depth} words of {cap.pes * cap.pe_width} bits, "
                            f"the capacity of {design_dir}; {redo}")
        if f"sha256:{digest(net)[:16]}" not in str(doc.get("header", "")):
            raise FlowError(f"{rom_dir} holds the ROM images of another artifact; {redo}")


def simulate_design(net: Network, design_dir: Path, inputs: np.ndarray,
                    labels: np.ndarray | None = None, config: SimConfig = SimConfig(),
                    build_dir: Path | None = None, simulator: str = "verilator",
                    rom_dir: Path | None = None) -> dict[str, Any]:
    """Simulate the design on ``inputs`` and compare every output bit with the reference.

    A folded design runs with its own ROM images, or with those in ``rom_dir`` (another
    artifact's, fitted to the design); it is also run once more without stalls on a few
    vectors to measure its steady-state interval (``cycles_per_inference``)."""
    if rom_dir is None:
        check_design(net, design_dir)
    else:
        check_roms(net, design_dir, rom_dir)
    executor = CocotbExecutor(Path(design_dir), simulator, build_dir, config, rom_dir)
    executor.build()
    result = executor.run(inputs)
    expected = numerics.output_vectors(net, inputs)
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
    summary["cycles_per_inference"], summary["rtl_latency_cycles"] = measure_timing(
        executor, inputs, config.seed)
    return summary


def measure_timing(executor: CocotbExecutor, inputs: np.ndarray, seed: int = 0
                   ) -> tuple[int, int]:
    """A no-stall run of ``STEADY_VECTORS`` vectors (input always valid, output always
    ready): the steady-state interval between results (the largest gap between output beats
    over the second half; the first results still fill the pipeline) and the latency (cycles
    from the acceptance of the first vector's first input beat to its result).

    A design taking ``in_beats > 1`` beats per vector (a streaming CNN: one pixel per beat)
    is fed its beats back to back, vector after vector without a gap, so the interval is
    what the design sustains (at least ``in_beats``: one beat per clock at most) and the
    latency includes streaming the first vector in."""
    x = np.resize(np.asarray(inputs), (STEADY_VECTORS, np.asarray(inputs).shape[1]))
    result = executor.run(x, SimConfig(stall_in=0.0, stall_out=0.0, seed=seed))
    cycles = result.output_cycles
    if len(cycles) != STEADY_VECTORS or result.first_in_cycle is None \
            or len(result.input_cycles) != STEADY_VECTORS:
        raise FlowError(f"the no-stall run gave {len(cycles)} of {STEADY_VECTORS} results; "
                        f"see {executor.build_dir / 'sim.log'}")
    half = STEADY_VECTORS // 2
    interval = int(max(b - a for a, b in zip(cycles[half - 1:], cycles[half:])))
    return interval, int(cycles[0] - result.first_in_cycle)


def csim_design(net: Network, design_dir: Path, inputs: np.ndarray,
                labels: np.ndarray | None = None, build_dir: Path | None = None
                ) -> dict[str, Any]:
    """C-simulate the HLS design (g++) on ``inputs`` and compare every output bit with the
    reference; the testbench checks them itself too. Returns the csim.json summary."""
    from .sim.csim import CsimExecutor  # late: only this stage needs it

    check_design(net, design_dir)
    expected = numerics.output_vectors(net, inputs)
    executor = CsimExecutor(Path(design_dir), build_dir)
    executor.build()
    result = executor.run(inputs, expected)
    cmp = compare(result.outputs, expected)
    summary: dict[str, Any] = {
        "csim_vectors": cmp.vectors,
        "csim_mismatches": cmp.mismatches,
        "csim_first_mismatches": list(cmp.first_mismatches),
        "csim_tlast_ok": result.lasts_ok,
        "csim_errors": list(result.protocol_errors),
        "csim_compile_s": round(executor.compile_seconds or 0.0, 2),
        "csim_compiler": f"g++ {result.tool.version} ({result.tool.source})",
        "csim_generated_warnings": len(executor.generated_warnings),
        "csim_header_warnings": len(executor.header_warnings),
        "csim_build_dir": str(executor.build_dir),
    }
    if labels is not None and len(result.outputs) == len(labels):
        summary["csim_accuracy"] = float(np.mean(numerics.predict(result.outputs) == labels))
    return summary


def csim_ok(summary: dict[str, Any]) -> bool:
    """Every bit and every ``last`` matched, and the testbench agreed."""
    return (summary["csim_mismatches"] == 0 and summary["csim_tlast_ok"]
            and not summary["csim_errors"])


def write_roms(schedule: FoldedSchedule, out_dir: Path,
               formats: Sequence[str] = ROM_FORMATS) -> list[str]:
    """Write every ROM image of a folded schedule into ``out_dir`` (one atomic folder swap):
    the walk ROMs a folded design of this schedule loads, and the kind and bias maps."""
    files = rom_tree(schedule, tuple(formats))
    write_tree(Path(out_dir), files)
    return sorted(files)


def fit_roms(net: Network, design_dir: Path) -> FoldedSchedule:
    """``net`` scheduled into the ROM capacity of the folded design in ``design_dir``
    (FitError naming what does not fit)."""
    plan = make_plan(net)
    manifest = _folded_manifest(design_dir, "--fit")
    schedule = fit(plan, manifest.folded)
    spatial = any(hasattr(lp, "in_shape") for lp in plan.layers)
    if manifest.structure != plan.structure_digest() and (manifest.structure or spatial):
        what = ("its layer kinds, sizes, per-feature input widths or feature-map geometry "
                "(kernel, stride, padding, pooling) differ from the design's"
                if manifest.structure else
                "the design records no layer structure (an older hlsgen made it)")
        raise FitError(f"{design_dir}: the artifact cannot run on this design: {what}; "
                       "generate a design for this artifact")
    return schedule


def _folded_manifest(design_dir: Path, option: str) -> DesignManifest:
    """The manifest of the folded design in ``design_dir`` (FlowError for anything else)."""
    try:
        manifest = DesignManifest.load(Path(design_dir))
    except ManifestError as exc:
        raise FlowError(str(exc)) from None
    if not manifest.folded:
        raise FlowError(f"{design_dir} is a {manifest.arch} design, which loads no ROM; "
                        f"{option} needs a folded design (`hlsgen generate --arch folded`)")
    return manifest


def accuracies(net: Network, split: Split | None = None) -> dict[str, float | None]:
    """Float accuracies recorded by the compressor plus the reference model's, when the
    network is a digits classifier."""
    meta = net.meta
    acc: dict[str, float | None] = {
        "float_accuracy": meta.get("float_accuracy"),
        "compressed_float_accuracy": meta.get("compressed_float_accuracy"),
        "int_accuracy": None,
    }
    floor = meta.get("accuracy_floor")
    if isinstance(floor, Mapping) and isinstance(meta.get("accuracy"), Mapping):
        # chosen by an accuracy floor (compression/floor.py): the floor and the chosen
        # design's integer accuracy on the validation split that judged it
        acc["min_accuracy"] = floor.get("min_accuracy")
        acc["validation_int_accuracy"] = meta["accuracy"].get("validation_int")
    if digits_compatible(net):
        acc["int_accuracy"] = reference_accuracy(net, split or load_digits_split())
    return acc
