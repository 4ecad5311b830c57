"""``hlsgen``: the command line. One subcommand per stage, and ``run`` for the whole flow
(the examples below are also the ``--help`` epilog)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from . import __version__, artifact, compressors
from .artifact import ArtifactError
from .flow import (FlowError, accuracies, check_design, check_roms, csim_design, csim_ok,
                   fit_roms, simulate_design, stimulus, write_roms)
from .backends import BACKENDS
from .generate import generate
from .numerics import WidthError
from .output import OutputError, Stage, atomic_write_text, check_target, mirror_tree
from .plan import make_plan
from .manifest import DesignManifest
from .report import build_report, dumps as report_dumps, summary_table, synth_table
from .rom import ROM_FORMATS, RomError
from .addergraph import DSP_POLICIES
from .schedules import ARCHITECTURES, FoldedSchedule, Schedule, ScheduleOptions, make_schedule
from .sim.runner import SIMULATORS, SimConfig, default_build_dir
from .sim.toolchain import SimulatorError, find_simulator, require_cocotb
from .synth import DEVICES, TARGETS, SynthConfig, SynthError, synthesize
from .sweep import SweepError, SweepOptions, load_spec, run_sweep
from .tools import ToolError, find

EXAMPLES = """\
examples:
  hlsgen run --out out                      # the built-in digits demo, end to end
  hlsgen compress --out out/artifact.json   # train + ADMM-compress the digits MLP (needs torch)
  hlsgen generate out/artifact.json --out out/design
  hlsgen simulate out/artifact.json --design out/design --vectors digits --waves
  hlsgen rom out/artifact.json --out out/rom
  hlsgen run --arch folded --pes 4,2 --out out_folded   # P processing elements per layer
  hlsgen rom new.json --fit out_folded/design --out new_rom   # new weights, same RTL
  hlsgen simulate new.json --design out_folded/design --rom new_rom --vectors random
  hlsgen generate out/artifact.json --backend hls --out out/hls   # HLS C++ for Vitis HLS
  hlsgen csim out/artifact.json --design out/hls --out out/csim.json  # g++ C simulation
  hlsgen report out/artifact.json --sim out/sim.json --out out/report.json
  hlsgen run --artifact examples/digits_mlp.json --out out   # no training
  hlsgen sweep examples/sweep.toml --out sw # a design-space sweep on Dask (local cluster)

`hlsgen COMMAND --help` lists each command's options.
"""

EXPECTED_ERRORS = (ArtifactError, FlowError, WidthError, OutputError, RomError, SimulatorError,
                   ToolError, SynthError, SweepError,
                   FileNotFoundError, ValueError)


def _block(text: str) -> tuple[int, int]:
    try:
        r, c = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"block shape must look like 4x4, got {text!r}") from None
    if r < 1 or c < 1:
        raise argparse.ArgumentTypeError("block dimensions must be >= 1")
    return r, c


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(",") if v)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") \
            from None


def _formats(text: str) -> tuple[str, ...]:
    fmts = tuple(f.strip() for f in text.split(",") if f.strip())
    bad = [f for f in fmts if f not in ROM_FORMATS]
    if bad:
        raise argparse.ArgumentTypeError(f"unknown ROM format(s) {bad}; choose from "
                                         f"{','.join(ROM_FORMATS)}")
    return fmts


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability in [0, 1), got {text!r}")
    return value


def _say(msg: str) -> None:
    print(f"[hlsgen] {msg}", flush=True)


# ------------------------------------------------------------------------------------ stages

def _add_compress_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("compression (ADMM on the digits MLP)")
    g.add_argument("--hidden", type=_ints, help="hidden layer sizes, e.g. 64 or 64,32")
    g.add_argument("--block", type=_block, help="hidden layers' block shape ROWSxCOLS "
                   "(default 1x16)")
    g.add_argument("--prune", type=float, help="hidden layers: fraction of blocks pruned (0..1)")
    g.add_argument("--unify", type=float, help="hidden layers: fraction of the remaining "
                   "blocks unified")
    g.add_argument("--output-block", type=_block, help="output layer's block shape "
                   "(default 1x4: the most sensitive layer gets finer blocks)")
    g.add_argument("--output-prune", type=float, help="output layer: fraction pruned")
    g.add_argument("--output-unify", type=float, help="output layer: fraction unified")
    g.add_argument("--w-bits", type=int, help="weight bits (1..16; 2 ternary, 1 binary: "
                   "every kept weight +-m, every kept block unified)")
    g.add_argument("--a-bits", type=int, help="activation bits (2..16)")
    g.add_argument("--seed", type=int, help="training seed (same seed, same artifact)")
    g.add_argument("--method", choices=("admm", "reweighted"), help="ADMM (default) or "
                   "reweighted dynamic regularization towards the micro-structure")
    g.add_argument("--w-scale", choices=("range", "search"), help="per-layer power-of-two "
                   "weight scale: from the weights' range (default), or chosen by the projection "
                   "in every ADMM step (joint quantization; use it below 8 bits)")
    g.add_argument("--k-digits", type=int, help="at most K nonzero canonical-signed-digit "
                   "digits per weight magnitude (K-1 adders each)")
    g.add_argument("--objective", choices=("luts", "multipliers", "bits"), help="what the "
                   "projection trades distance against: a hardware-cost budget where every "
                   "block picks its kind and digit count by accuracy per LUT (luts, default; "
                   "budget: --max-luts, else what the block fractions cost), exactly the block "
                   "fractions (multipliers: --prune/--unify are counts, as before the cost "
                   "objective), or the stored weight bits (bits: the folded design's ROMs)")
    g.add_argument("--max-luts", type=int, help="with --objective luts: the design's budget in "
                   "estimated ECP5 LUT-eq (hlsgen/cost.py)")
    g.add_argument("--cost-reg", type=float, help="with --objective luts: weight of the "
                   "W-step's differentiable cost surrogate (a group lasso priced per block by "
                   "its modelled adders; default 0: off)")
    g.add_argument("--in-bits", type=int, help="convert the inputs to this many bits (default: "
                   "the data's own 8-bit type; 5 holds the 0..16 digits pixels exactly)")
    g.add_argument("--widths", choices=("fixed", "auto", "all"), help="auto: choose the input "
                   "width and each hidden layer's activation width (at most --a-bits) as the "
                   "narrowest within --width-tol of the training accuracy; all: also each "
                   "layer's weight width (at most --w-bits)")
    g.add_argument("--input-widths", choices=("fixed", "auto"), help="auto: each input "
                   "feature keeps the fewest bits holding its largest training value (0: "
                   "always 0, dropped); larger values wrap (the artifact's input_bits)")
    g.add_argument("--width-tol", type=float, help="training-accuracy loss allowed per width "
                   "choice (default 0.005)")
    g.add_argument("--min-accuracy", type=float, help="with --objective luts: search the LUT "
                   "budget for the smallest design whose integer accuracy on a validation "
                   "part of the training split (20%%, stratified) is at least this; trains "
                   "up to --floor-steps times")
    g.add_argument("--floor-steps", type=int, help="with --min-accuracy: compressions the "
                   "budget search may run (default 6)")
    g.add_argument("--epochs", type=int, help="dense training epochs (default 60)")
    g.add_argument("--admm-epochs", type=int, help="ADMM/reweighted epochs (default 200)")
    g.add_argument("--finetune-epochs", type=int, help="fine-tuning epochs (default 100)")
    g.add_argument("--checkpoint", help="checkpoint file: saved during training, resumed "
                   "from when it exists (same settings)")
    g.add_argument("--checkpoint-every", type=int, help="ADMM epochs between checkpoints "
                   "(default 10)")
    g.add_argument("--no-progress", action="store_true", help="hide the training progress bars")
    g.add_argument("--model", help="what to compress: mlp (the digits MLP, default), cnn (the "
                   "built-in digits CNN) or FILE.py:FACTORY (your nn.Module; see README, "
                   "'Your own network')")
    g.add_argument("--data", help="your data: an .npz with x_train, y_train, x_test, y_test "
                   "(x in the shape the model takes; inputs are quantized to --a-bits with a "
                   "power-of-two scale covering x_train); default: the digits split")
    g.add_argument("--conv-block", type=_block, help="conv layers' block shape over the "
                   "[O, Kh*Kw*C] matrix (default 1xC: C input channels at one kernel position)")
    g.add_argument("--conv-prune", type=float, help="conv layers: fraction of blocks pruned")
    g.add_argument("--conv-unify", type=float, help="conv layers: fraction unified")


COMPRESS_OPTIONS = ("hidden", "block", "prune", "unify", "output_block", "output_prune",
                    "output_unify", "w_bits", "a_bits", "seed", "method", "w_scale", "k_digits",
                    "objective", "max_luts", "cost_reg", "in_bits", "widths", "width_tol",
                    "input_widths",
                    "min_accuracy", "floor_steps", "epochs", "admm_epochs", "finetune_epochs", "checkpoint", "checkpoint_every",
                    "model", "data", "conv_block", "conv_prune", "conv_unify")


def _compression(args: argparse.Namespace) -> Callable[[], artifact.Network]:
    """Find the compressor (a plugin: hlsgen never imports torch) and check the settings,
    before any output is touched or any training starts; returns the function that trains
    and compresses."""
    try:
        compressor = compressors.load("digits")
    except compressors.CompressorError as exc:
        raise FlowError(str(exc)) from None
    overrides = {name: getattr(args, name) for name in COMPRESS_OPTIONS
                 if getattr(args, name, None) is not None}
    try:
        make = compressor.prepare(overrides, progress=not args.no_progress, say=_say)
    except ValueError as exc:
        raise FlowError(f"invalid compression settings: {exc}; change the matching option "
                        "(see `hlsgen compress --help`)") from None

    def run() -> artifact.Network:
        try:
            return make()
        except compressors.CompressionFailed as exc:
            raise FlowError(str(exc)) from None

    return run


def cmd_compress(args: argparse.Namespace) -> int:
    out = check_target(Path(args.out), folder=False, option="--out")  # before training
    net = _compression(args)()
    artifact.save(net, out)
    _say(f"artifact -> {args.out}")
    return 0


def _schedule_options(args: argparse.Namespace) -> ScheduleOptions:
    """The schedule options a command was given (``rom`` takes only the folded ones)."""
    d = ScheduleOptions()
    levels = getattr(args, "levels_per_stage", d.levels_per_stage)
    if levels < 1:
        raise ValueError(f"--levels-per-stage must be >= 1, got {levels}")
    budget = getattr(args, "cycle_budget", d.cycle_budget)
    if budget < 1:
        raise ValueError(f"--cycle-budget must be >= 1, got {budget}")
    return ScheduleOptions(levels_per_stage=levels, dsp=getattr(args, "dsp", d.dsp),
                           pes=getattr(args, "pes", None) or (),
                           rom_depths=getattr(args, "rom_depth", None) or (),
                           cycle_budget=budget)


def _add_folded_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("folded architecture (--arch folded)")
    g.add_argument("--pes", type=_ints, help="processing elements per layer, e.g. 4,2 (0 or "
                   "missing: enough for about --cycle-budget cycles per inference)")
    g.add_argument("--cycle-budget", type=int, default=ScheduleOptions().cycle_budget,
                   help="the default PEs' target cycles per layer walk (default %(default)s)")
    g.add_argument("--rom-depth", type=_ints, help="ROM words per layer (default: the busiest "
                   "PE's), headroom for weights loaded later with `hlsgen rom --fit`")


def cmd_generate(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    schedule = generate(net, Path(args.out), args.arch, args.backend, _schedule_options(args))
    timing = (f"latency {schedule.latency} cycles" if args.backend != "hls"
              else "HLS C++, the HLS tool schedules the latency")
    _say(f"{schedule.plan.name}: {schedule.adders} adders, {timing} -> {args.out}")
    return 0


def _sim_config(args: argparse.Namespace) -> SimConfig:
    return SimConfig(stall_in=args.stall_in, stall_out=args.stall_out, seed=args.sim_seed,
                     waves=args.waves)


def _stimulus(args: argparse.Namespace, net: artifact.Network
              ) -> tuple[np.ndarray, np.ndarray | None]:
    """The vectors to simulate, or a FlowError naming the artifact when they do not fit."""
    try:
        return stimulus(net, args.vectors, args.count, args.sim_seed)
    except FlowError as exc:
        source = getattr(args, "artifact", None) or "the compressed network"
        raise FlowError(f"{source}: {exc}") from None


def _require_simulator(name: str) -> None:
    """cocotb and the simulator, or the SimulatorError saying how to install them."""
    require_cocotb()
    find_simulator(name)


def _simulate(args: argparse.Namespace, net: artifact.Network, design: Path,
              vectors: tuple[np.ndarray, np.ndarray | None], build_dir: Path,
              sim_path: Path, rom: Path | None = None) -> dict[str, Any]:
    """Simulate ``design`` on ``vectors``; returns the sim.json summary (not written)."""
    x, y = vectors
    _say(f"simulating {len(x)} {args.vectors} vectors on {args.simulator} (stalls in "
         f"{args.stall_in}, out {args.stall_out}; build folder {build_dir})")
    t0 = time.monotonic()
    summary = simulate_design(net, design, x, y, _sim_config(args), build_dir, args.simulator,
                              rom)
    summary["vectors"] = args.vectors
    if rom is not None:
        summary["rom_dir"] = str(rom)
    summary["artifact_sha256"] = artifact.digest(net)
    _say(f"{summary['rtl_vectors']} vectors, {summary['rtl_mismatches']} mismatches, "
         f"{summary['rtl_cycles']} cycles ({time.monotonic() - t0:.1f} s) -> {sim_path}")
    if "wave_file" in summary:
        _say(f"waveform: {summary['wave_file']}")
    if "cycles_per_inference" in summary:
        _say(f"no stalls: latency {summary['rtl_latency_cycles']} cycles, "
             f"{summary['cycles_per_inference']} cycle(s) per inference")
    return summary


def _sim_text(summary: dict[str, Any]) -> str:
    return json.dumps(summary, indent=2, sort_keys=True) + "\n"


def cmd_simulate(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    out = check_target(Path(args.out), folder=False, option="--out")
    design = Path(args.design).absolute()
    build = check_target(Path(args.build_dir) if args.build_dir
                         else default_build_dir(design, args.simulator), folder=True,
                         option="--build-dir")
    vectors = _stimulus(args, net)
    rom = Path(args.rom).absolute() if args.rom else None
    if rom is None:
        check_design(net, design)
    else:
        check_roms(net, design, rom)
    _require_simulator(args.simulator)
    summary = _simulate(args, net, design, vectors, build, out, rom)
    atomic_write_text(out, _sim_text(summary))
    return 0 if _sim_ok(summary) else 1


def _sim_ok(summary: dict[str, Any]) -> bool:
    """Every bit matched, the stream rules held, and tlast came out with its beat."""
    return (summary["rtl_mismatches"] == 0 and not summary["rtl_protocol_errors"]
            and summary["rtl_tlast_ok"])


def _require_csim() -> None:
    """g++ and the ap_types headers (the hlsgen[hls] extra), or one SimulatorError line."""
    from .sim.csim import find_ap_types
    find_ap_types()
    find("gxx")


def _require_hls_arch(arch: str) -> None:
    from .backends.hls import LAYER_TEMPLATES
    if arch not in LAYER_TEMPLATES:
        raise FlowError(f"--hls renders the {', '.join(LAYER_TEMPLATES)} architecture, not "
                        f"{arch!r} (its HLS variant is not written yet); drop --hls or use "
                        f"--arch {next(iter(LAYER_TEMPLATES))}")


def _csim(net: artifact.Network, design: Path, vectors: tuple[np.ndarray, np.ndarray | None],
          build_dir: Path, what: str, csim_path: Path) -> dict[str, Any]:
    """C-simulate the HLS design on ``vectors``; returns the csim.json summary (not written)."""
    x, y = vectors
    _say(f"C-simulating {len(x)} {what} vectors with g++ (build folder {build_dir})")
    summary = csim_design(net, design, x, y, build_dir)
    summary["vectors"] = what
    summary["artifact_sha256"] = artifact.digest(net)
    _say(f"{summary['csim_vectors']} vectors, {summary['csim_mismatches']} mismatches "
         f"(g++ compile {summary['csim_compile_s']} s) -> {csim_path}")
    return summary


def cmd_csim(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    out = check_target(Path(args.out), folder=False, option="--out")
    design = Path(args.design).absolute()
    build = check_target(Path(args.build_dir) if args.build_dir
                         else default_build_dir(design, "csim"), folder=True,
                         option="--build-dir")
    vectors = _stimulus(args, net)
    check_design(net, design)
    if DesignManifest.load(design).backend != "hls":
        raise FlowError(f"{design} is not an HLS design; generate one with `hlsgen generate "
                        f"{args.artifact} --backend hls --out DESIGN`")
    _require_csim()
    summary = _csim(net, design, vectors, build, args.vectors, out)
    atomic_write_text(out, _sim_text(summary))
    return 0 if csim_ok(summary) else 1


def cmd_rom(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    out = check_target(Path(args.out), folder=True, option="--out")
    if args.fit:
        schedule = fit_roms(net, Path(args.fit))
        _say(f"fitted into {args.fit}'s ROM capacity: " + ", ".join(
            f"layer {l.index} {l.busiest}/{l.depth} words" for l in schedule.layers))
    else:
        schedule = make_schedule(make_plan(net), "folded", _schedule_options(args))
    files = write_roms(schedule, out, args.formats)
    _say(f"{len(files)} ROM files -> {args.out}")
    return 0


def _report(schedule: Schedule, net: artifact.Network, sim: dict[str, Any] | None = None,
            roms: list[str] | None = None,
            synth: dict[str, Any] | None = None,
            csim: dict[str, Any] | None = None) -> dict[str, Any]:
    return build_report(schedule, accuracies=accuracies(net), sim=sim, roms=roms, synth=synth,
                        csim=csim)


def _read_results(path: Path, what: str, redo: str) -> Any:
    """A JSON results file, or a FlowError naming the file and the fix."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FlowError(f"{path}: no such {what} results; {redo}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FlowError(f"{path}: not readable {what} results ({exc}); {redo}") from None


def _read_sim(path: Path, net: artifact.Network, artifact_path: str) -> dict[str, Any]:
    """A sim.json of this artifact, or a FlowError naming the file and the fix."""
    redo = f"rerun `hlsgen simulate {artifact_path} --design DESIGN --out {path}`"
    sim = _read_results(path, "simulation", redo)
    if not isinstance(sim, dict) or not isinstance(sim.get("rtl_vectors"), int):
        raise FlowError(f"{path}: not a sim.json from `hlsgen simulate` (no rtl_vectors); {redo}")
    made_from = sim.get("artifact_sha256")
    if made_from is not None and made_from != artifact.digest(net):
        raise FlowError(f"{path} holds the simulation of another artifact (sha256 "
                        f"{str(made_from)[:12]}); {redo}")
    return sim


def _synth_config(args: argparse.Namespace) -> SynthConfig:
    return SynthConfig(targets=args.targets, pnr=not args.no_pnr, device=args.device,
                       freq_mhz=args.freq)


def _synthesize(args: argparse.Namespace, design: Path, folder: Path,
                sha: str) -> dict[str, Any]:
    """Synthesize ``design`` into ``folder`` (tool logs per target, ``synth.json``)."""
    t0 = time.monotonic()
    result = synthesize(design, folder / "work", _synth_config(args),
                        progress=lambda msg: _say(f"[{time.monotonic() - t0:5.0f} s] {msg}"))
    doc = {"artifact_sha256": sha, "synth": result}
    atomic_write_text(folder / "synth.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
    return result


def _require_synth(args: argparse.Namespace) -> None:
    _synth_config(args)          # bad settings are one line before any work
    find("yosys")
    if not args.no_pnr and any(t != "xilinx" for t in args.targets):
        find("nextpnr-ecp5")


def cmd_synth(args: argparse.Namespace) -> int:
    out = check_target(Path(args.out), folder=True, option="--out")
    design = Path(args.design)
    sha = DesignManifest.load(design).artifact_sha256
    _require_synth(args)
    with Stage() as stage:
        result = _synthesize(args, design, stage.folder(out, option="--out"), sha)
    print(synth_table(result))
    _say(f"synthesis -> {out / 'synth.json'}")
    return 0


def _read_synth(path: Path, net: artifact.Network) -> dict[str, Any]:
    """The ``synth`` results of a synth.json made from this artifact's design."""
    redo = f"rerun `hlsgen synth --design DESIGN --out {path.parent}`"
    doc = _read_results(path, "synthesis", redo)
    if not isinstance(doc, dict) or not isinstance(doc.get("synth"), dict):
        raise FlowError(f"{path}: not a synth.json from `hlsgen synth`; {redo}")
    if doc.get("artifact_sha256") != artifact.digest(net):
        raise FlowError(f"{path} holds the synthesis of another artifact's design; {redo}")
    return doc["synth"]


def cmd_report(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    out = check_target(Path(args.out), folder=False, option="--out")
    sim = _read_sim(Path(args.sim), net, args.artifact) if args.sim else None
    synth = _read_synth(Path(args.synth), net) if args.synth else None
    rep = _report(make_schedule(make_plan(net), args.arch, _schedule_options(args)), net, sim,
                  synth=synth)
    atomic_write_text(out, report_dumps(rep))
    print(summary_table(rep))
    _say(f"report -> {args.out}")
    return 0


# -------------------------------------------------------------------------------------- run

RUN_OUTPUTS = ("artifact.json", "design", "sim.json", "rom", "synth", "report.json",
               "hls", "csim.json")  # hls, csim.json: with --hls
LEGACY_OUTPUTS = ("sim_build",)   # the build folder earlier versions kept inside OUT
MIRROR = "run_design"             # the design's copy at a fixed path inside the build folder


@dataclass(frozen=True)
class RunPaths:
    """Where a run writes: OUT (replaced as a whole), the report, the simulator build cache."""

    out: Path
    report: Path
    build: Path

    @property
    def report_inside(self) -> bool:
        return self.report.parent == self.out


def _run_paths(args: argparse.Namespace) -> RunPaths:
    """Check every location a run writes before any work; creates nothing."""
    out = check_target(Path(args.out), folder=True, option="--out")
    report = Path(args.report).absolute() if args.report else out / "report.json"
    build = (Path(args.build_dir).absolute() if args.build_dir
             else out.with_name(out.name + ".sim_build"))
    paths = RunPaths(out, report, build)
    if paths.report_inside:
        if report.name in RUN_OUTPUTS and report.name != "report.json":
            raise OutputError(f"--report {report} would overwrite the run's {report.name}; "
                              "choose another name")
    elif out in report.parents or report == out:
        raise OutputError(f"--report {report} is --out {out} or lies in a subfolder of it; "
                          "put the report directly in OUT or outside it")
    else:
        check_target(report, folder=False, option="--report")
    if build == out or out in build.parents:
        raise OutputError(f"--build-dir {build} lies inside --out {out}, which a run replaces "
                          f"as a whole; choose a folder outside it (default "
                          f"{out.name}.sim_build beside OUT)")
    check_target(build, folder=True, option="--build-dir")
    _check_previous_run(paths)
    return paths


def _check_previous_run(paths: RunPaths) -> None:
    """A run replaces OUT as a whole: refuse an OUT holding anything a run did not write."""
    if not paths.out.is_dir():
        return
    ours = set(RUN_OUTPUTS) | set(LEGACY_OUTPUTS) | ({paths.report.name}
                                                     if paths.report_inside else set())
    foreign = sorted(p.name for p in paths.out.iterdir() if p.name not in ours)
    if foreign:
        shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
        raise OutputError(f"{paths.out} holds {shown}, which `hlsgen run` did not write; a run "
                          "replaces OUT as a whole: move them away or choose another --out")


def _run_outcome(sim: dict[str, Any], csim: dict[str, Any] | None = None) -> int:
    """A finished run's exit status: 0 when the RTL (and the C-sim) matched, 1 when one
    disagreed (its outputs are kept: a mismatch is a result, not a crash)."""
    status = 0
    if not _sim_ok(sim):
        _say("FAILED: the RTL disagrees with the reference model (see sim.json and the report)")
        status = 1
    if csim is not None and not csim_ok(csim):
        _say("FAILED: the HLS C simulation disagrees with the reference model (see csim.json)")
        status = 1
    return status


def _net_source(args: argparse.Namespace) -> Callable[[], artifact.Network]:
    """Where a run's network comes from, checked before any work: the ``--artifact`` (it
    loads and ``--vectors`` fits it) or the compressor (torch installed, settings valid)."""
    if not args.artifact:
        return _compression(args)
    net = artifact.load(args.artifact)
    _stimulus(args, net)
    return lambda: net


def cmd_run(args: argparse.Namespace) -> int:
    # 1. everything cheap to check, before any work and before any output is touched
    paths = _run_paths(args)
    _schedule_options(args)
    make_net = _net_source(args)
    _require_simulator(args.simulator)
    if args.hls:
        _require_hls_arch(args.arch)
        _require_csim()
    if args.synth:
        _require_synth(args)
    # 2. the whole output in a temporary sibling of OUT, swapped in only if every stage
    #    succeeded (a simulation with mismatches has succeeded: its result is kept)
    with Stage() as stage:
        tmp = stage.folder(paths.out, option="--out")
        net = make_net()
        vectors = _stimulus(args, net)
        artifact.save(net, tmp / "artifact.json")
        schedule = generate(net, tmp / "design", args.arch, options=_schedule_options(args))
        _say(f"generated {schedule.plan.name}: {schedule.adders} adders, latency "
             f"{schedule.latency} -> {paths.out / 'design'}")
        # Verilator simulates a copy at a fixed path in the persistent build folder: the
        # temporary folder's name changes every run, and with it every path Verilator sees.
        mirror = mirror_tree(tmp / "design", paths.build / MIRROR)
        sim = _simulate(args, net, mirror, vectors, paths.build / args.simulator,
                        paths.out / "sim.json")
        atomic_write_text(tmp / "sim.json", _sim_text(sim))
        csim = None
        if args.hls:
            generate(net, tmp / "hls", args.arch, "hls", _schedule_options(args))
            _say(f"generated the HLS C++ of {schedule.plan.name} -> {paths.out / 'hls'}")
            csim = _csim(net, tmp / "hls", vectors, paths.build / "csim", args.vectors,
                         paths.out / "csim.json")
            atomic_write_text(tmp / "csim.json", _sim_text(csim))
        roms = write_roms(schedule if isinstance(schedule, FoldedSchedule)
                          else make_schedule(schedule.plan, "folded",
                                             _schedule_options(args)),
                          tmp / "rom", ROM_FORMATS)
        _say(f"{len(roms)} ROM files -> {paths.out / 'rom'}")
        synth = _synthesize(args, tmp / "design", tmp / "synth", artifact.digest(net)) \
            if args.synth else None
        rep = _report(schedule, net, sim, roms, synth, csim)
        stage.text(paths.report, report_dumps(rep), option="--report")
    print(summary_table(rep))
    _say(f"report -> {paths.report}")
    return _run_outcome(sim, csim)


# ------------------------------------------------------------------------------------ sweep

def cmd_sweep(args: argparse.Namespace) -> int:
    if args.scheduler and args.workers:
        raise ValueError("--workers sizes the local cluster; with --scheduler the cluster's "
                         "own workers run the points: drop --workers")
    spec = load_spec(args.spec)
    options = SweepOptions(out=Path(args.out), scheduler=args.scheduler, workers=args.workers,
                           retry_failed=args.retry_failed)
    outcome = run_sweep(spec, options, say=lambda msg: _say(f"[sweep] {msg}"))
    print(outcome.pareto)
    out = Path(args.out)
    _say(f"{outcome.ok} ok, {outcome.failed} failed of {outcome.total} points "
         f"({outcome.skipped} already done, {outcome.elapsed_s:.0f} s) -> "
         f"{out / 'results.jsonl'}, {out / 'summary.md'}"
         + (f", {out / 'pareto.png'}" if outcome.png else ""))
    return 0 if outcome.failed == 0 else 1


# ------------------------------------------------------------------------------------ parser

def _add_sim_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulation (cocotb 2.x on Verilator or Icarus)")
    g.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                   help="verilator (default) or icarus (Debian's iverilog)")
    g.add_argument("--vectors", choices=("digits", "random"), default="digits",
                   help="digits: every test image (default); random: random inputs")
    g.add_argument("--count", type=_positive, help="number of vectors (default: all test images, "
                   "or 256 random)")
    g.add_argument("--stall-in", type=_probability, default=0.25,
                   help="probability the source idles a cycle (default 0.25)")
    g.add_argument("--stall-out", type=_probability, default=0.25,
                   help="probability the sink applies backpressure a cycle (default 0.25)")
    g.add_argument("--sim-seed", type=int, default=0, help="seed of the stalls and random vectors")
    g.add_argument("--waves", action="store_true", help="dump a waveform (dump.vcd in the build "
                   "folder; open it with GTKWave or Surfer)")
    g.add_argument("--build-dir", help="simulator build folder, a persistent cache kept "
                   "between runs (default: `run` OUT.sim_build/SIMULATOR beside OUT, `simulate` "
                   "DESIGN.sim_build/SIMULATOR beside the design folder)")


def _add_schedule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--arch", choices=ARCHITECTURES, default="unrolled")
    p.add_argument("--levels-per-stage", type=int, default=ScheduleOptions().levels_per_stage,
                   help="adder levels between pipeline registers (default %(default)s; fewer: "
                   "higher clock, more latency and registers)")
    p.add_argument("--dsp", choices=DSP_POLICIES, default=ScheduleOptions().dsp,
                   help="constant multipliers: 'never' (default: shift-and-add, no DSP), "
                   "'auto' (a multiplier where the constant needs 3+ signed digits), 'always' "
                   "(every constant that is not a power of two)")
    _add_folded_args(p)


def _targets(text: str) -> tuple[str, ...]:
    names = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in names if t not in TARGETS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown synthesis target(s) {bad}; choose from "
                                         f"{','.join(TARGETS)}")
    return names


def _add_synth_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("synthesis (Yosys and nextpnr-ecp5, the hlsgen[synth] extra)")
    g.add_argument("--targets", type=_targets, default=TARGETS,
                   help=f"comma-separated, default {','.join(TARGETS)}")
    g.add_argument("--no-pnr", action="store_true", help="skip ECP5 place and route (no Fmax)")
    g.add_argument("--device", choices=DEVICES, default="auto",
                   help="ECP5 part for place and route (default: the smallest that fits)")
    g.add_argument("--freq", type=float, default=150.0,
                   help="place-and-route target clock in MHz (default 150)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hlsgen",
        description="Generate FPGA hardware from micro-structured compressed neural networks. "
                    "Start with `hlsgen run --out out`: it trains and compresses a digits MLP, "
                    "generates Verilog, simulates every test image and writes out/report.json.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES)
    parser.add_argument("--version", action="version", version=f"hlsgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("run", help="the whole flow: compress, generate, simulate, ROMs, report")
    p.add_argument("--out", default="out", help="output folder (default: out)")
    p.add_argument("--report", help="report path (default: OUT/report.json)")
    p.add_argument("--artifact", help="start from this artifact instead of compressing")
    _add_schedule_args(p)
    _add_compress_args(p)
    _add_sim_args(p)
    p.add_argument("--hls", action="store_true", help="also generate the HLS C++ (OUT/hls/) and "
                   "C-simulate it with g++ on the same vectors (OUT/csim.json; the hlsgen[hls] "
                   "extra)")
    p.add_argument("--synth", action="store_true", help="also synthesize the design "
                   "(hlsgen synth: OUT/synth/, report.json's synth figures)")
    _add_synth_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compress", help="train and ADMM-compress the digits MLP into an artifact")
    p.add_argument("--out", default="artifact.json", help="artifact path (default: artifact.json)")
    _add_compress_args(p)
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("generate", help="generate Verilog (or HLS C++) from an artifact")
    p.add_argument("artifact", help="compressed network (artifact.json)")
    p.add_argument("--out", required=True, help="design folder to (re)create")
    _add_schedule_args(p)
    p.add_argument("--backend", choices=BACKENDS, default="verilog")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("simulate", help="simulate a generated design against the reference")
    p.add_argument("artifact", help="the artifact the design was generated from")
    p.add_argument("--design", required=True, help="design folder from `hlsgen generate`")
    p.add_argument("--out", default="sim.json", help="results (default: sim.json)")
    p.add_argument("--rom", help="a folded design: run it with the ROM images in this folder "
                   "(`hlsgen rom ARTIFACT --fit DESIGN`) instead of its own; the design may "
                   "come from another artifact of the same layer shapes")
    _add_sim_args(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("csim", help="C-simulate a generated HLS C++ design with g++ against "
                       "the reference (the hlsgen[hls] extra)")
    p.add_argument("artifact", help="the artifact the design was generated from")
    p.add_argument("--design", required=True, help="design folder from `hlsgen generate "
                   "--backend hls`")
    p.add_argument("--out", default="csim.json", help="results (default: csim.json)")
    g = p.add_argument_group("C simulation (g++ with the ap_types headers of hls4ml)")
    g.add_argument("--vectors", choices=("digits", "random"), default="digits",
                   help="digits: every test image (default); random: random inputs")
    g.add_argument("--count", type=_positive, help="number of vectors (default: all test "
                   "images, or 256 random)")
    g.add_argument("--sim-seed", type=int, default=0, help="seed of the random vectors")
    g.add_argument("--build-dir", help="g++ build folder (default DESIGN.sim_build/csim beside "
                   "the design): objects, binary, logs, and the vectors and expected outputs "
                   "the Vitis HLS script takes")
    p.set_defaults(func=cmd_csim)

    p = sub.add_parser("rom", help="export weight ROM images (.mem, .coe, .intel.mif, .hex)")
    p.add_argument("artifact")
    p.add_argument("--out", required=True, help="ROM folder to (re)create")
    p.add_argument("--formats", type=_formats, default=ROM_FORMATS,
                   help=f"comma-separated, default {','.join(ROM_FORMATS)}")
    p.add_argument("--fit", help="a folded design folder: write this artifact's ROM images "
                   "into that design's ROM capacity (re-balanced for it), or say what does "
                   "not fit; without it, the images of `generate --arch folded` with the "
                   "options below")
    _add_folded_args(p)
    p.set_defaults(func=cmd_rom)

    p = sub.add_parser("synth", help="synthesize a design (Yosys, nextpnr-ecp5): LUTs, FFs, "
                       "DSPs, BRAMs, Fmax")
    p.add_argument("--design", required=True, help="design folder from `hlsgen generate`")
    p.add_argument("--out", required=True, help="folder to (re)create: synth.json and the "
                   "tools' logs and netlists per target")
    _add_synth_args(p)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("report", help="resource and accuracy report of an artifact")
    p.add_argument("artifact")
    p.add_argument("--sim", help="sim.json from `hlsgen simulate` to include")
    p.add_argument("--synth", help="synth.json from `hlsgen synth` to include")
    p.add_argument("--out", default="report.json", help="report path (default: report.json)")
    _add_schedule_args(p)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("sweep", help="a design-space sweep (TOML spec) on Dask: results.jsonl, "
                       "pareto.png, summary.md")
    p.add_argument("spec", help="sweep spec (TOML; see examples/sweep.toml)")
    p.add_argument("--out", required=True, help="sweep folder: created, or resumed (points "
                   "with a result are skipped)")
    p.add_argument("--scheduler", help="tcp://HOST:PORT of an existing Dask cluster (default: "
                   "a local cluster sized to this machine)")
    p.add_argument("--workers", type=_positive, help="local cluster workers (default: one per "
                   "core)")
    p.add_argument("--retry-failed", action="store_true", help="re-run points recorded as "
                   "failed")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except EXPECTED_ERRORS as exc:
        print(f"hlsgen {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hlsgen {args.command}: interrupted; earlier outputs are intact", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
