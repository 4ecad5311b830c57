"""``hlsgen``: the command line. One subcommand per stage, and ``run`` for the whole flow
(the examples below are also the ``--help`` epilog)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

from . import __version__, artifact
from .artifact import ArtifactError
from .flow import FlowError, accuracies, simulate_design, stimulus, write_roms
from .generate import generate
from .backends import BACKENDS
from .numerics import WidthError
from .output import OutputError, atomic_write_text
from .plan import make_plan
from .schedules import ARCHITECTURES, Schedule, make_schedule
from .report import build_report, dumps as report_dumps, summary_table
from .rom import ROM_FORMATS, RomError
from .sim.runner import SIMULATORS, SimConfig
from .sim.toolchain import SimulatorError

EXAMPLES = """\
examples:
  hlsgen run --out out                      # the built-in digits demo, end to end
  hlsgen compress --out out/artifact.json   # train + ADMM-compress the digits MLP (needs torch)
  hlsgen generate out/artifact.json --out out/design
  hlsgen simulate out/artifact.json --design out/design --vectors digits --waves
  hlsgen rom out/artifact.json --out out/rom
  hlsgen report out/artifact.json --sim out/sim.json --out out/report.json
  hlsgen run --artifact examples/digits_mlp.json --out out   # no training

`hlsgen COMMAND --help` lists each command's options.
"""

EXPECTED_ERRORS = (ArtifactError, FlowError, WidthError, OutputError, RomError, SimulatorError,
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
    g.add_argument("--w-bits", type=int, help="weight bits (2..16)")
    g.add_argument("--a-bits", type=int, help="activation bits (2..16)")
    g.add_argument("--seed", type=int, help="training seed (same seed, same artifact)")
    g.add_argument("--no-progress", action="store_true", help="hide the training progress bars")


def _compress(args: argparse.Namespace, out: Path) -> artifact.Network:
    try:
        from compression.pipeline import CompressConfig, compress_digits
    except ImportError as exc:
        raise FlowError(f"compression needs torch ({exc}); install it with "
                        "`pip install torch==2.13.0` (CPU build) and `pip install -e .[compress]`")\
            from None
    overrides = {name: getattr(args, name) for name in
                 ("hidden", "block", "prune", "unify", "output_block", "output_prune",
                  "output_unify", "w_bits", "a_bits", "seed")
                 if getattr(args, name, None) is not None}
    config = dataclasses.replace(CompressConfig(), **overrides)
    _say(f"compressing the digits MLP: {config}")
    result = compress_digits(config, progress=not args.no_progress)
    net = dataclasses.replace(result.network, meta={
        **dict(result.network.meta),
        "float_accuracy": result.float_accuracy,
        "compressed_float_accuracy": result.compressed_float_accuracy,
    })
    artifact.save(net, out)
    _say(f"float {result.float_accuracy:.4f}, compressed float "
         f"{result.compressed_float_accuracy:.4f}, integer {result.int_accuracy:.4f} -> {out}")
    return net


def cmd_compress(args: argparse.Namespace) -> int:
    _compress(args, Path(args.out))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    schedule = generate(net, Path(args.out), args.arch, args.backend)
    _say(f"{schedule.plan.name}: {schedule.pe_count} PEs, latency "
         f"{schedule.latency} cycles -> {args.out}")
    return 0


def _sim_config(args: argparse.Namespace) -> SimConfig:
    return SimConfig(stall_in=args.stall_in, stall_out=args.stall_out, seed=args.sim_seed,
                     waves=args.waves)


def _simulate(args: argparse.Namespace, net: artifact.Network, design: Path,
              out: Path) -> dict[str, Any]:
    x, y = stimulus(net, args.vectors, args.count, args.sim_seed)
    _say(f"simulating {len(x)} {args.vectors} vectors on {args.simulator} (stalls in "
         f"{args.stall_in}, out {args.stall_out})")
    t0 = time.monotonic()
    summary = simulate_design(net, design, x, y, _sim_config(args),
                              Path(args.build_dir) if args.build_dir else None,
                              args.simulator)
    summary["vectors"] = args.vectors
    atomic_write_text(out, json.dumps(summary, indent=2, sort_keys=True) + "\n")
    _say(f"{summary['rtl_vectors']} vectors, {summary['rtl_mismatches']} mismatches, "
         f"{summary['rtl_cycles']} cycles ({time.monotonic() - t0:.1f} s) -> {out}")
    if "wave_file" in summary:
        _say(f"waveform: {summary['wave_file']}")
    return summary


def cmd_simulate(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    summary = _simulate(args, net, Path(args.design), Path(args.out))
    return 0 if _sim_ok(summary) else 1


def _sim_ok(summary: dict[str, Any]) -> bool:
    """Every bit matched, the stream rules held, and tlast came out with its beat."""
    return (summary["rtl_mismatches"] == 0 and not summary["rtl_protocol_errors"]
            and summary["rtl_tlast_ok"])


def cmd_rom(args: argparse.Namespace) -> int:
    plan = make_plan(artifact.load(args.artifact))
    files = write_roms(plan, Path(args.out), args.formats)
    _say(f"{len(files)} ROM files -> {args.out}")
    return 0


def _write_report(schedule: Schedule, net: artifact.Network, path: Path,
                  sim: dict[str, Any] | None = None, roms: list[str] | None = None) -> None:
    """Build the report, write it atomically and print its summary table."""
    rep = build_report(schedule, accuracies=accuracies(net), sim=sim, roms=roms)
    atomic_write_text(path, report_dumps(rep))
    print(summary_table(rep))
    _say(f"report -> {path}")


def cmd_report(args: argparse.Namespace) -> int:
    net = artifact.load(args.artifact)
    sim = json.loads(Path(args.sim).read_text()) if args.sim else None
    _write_report(make_schedule(make_plan(net), args.arch), net, Path(args.out), sim)
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    art = out / "artifact.json"
    if args.artifact:
        net = artifact.load(args.artifact)
        artifact.save(net, art)
    else:
        net = _compress(args, art)
    schedule = generate(net, out / "design", args.arch)
    _say(f"generated {schedule.plan.name}: {schedule.pe_count} PEs, latency "
         f"{schedule.latency} -> {out / 'design'}")
    sim = _simulate(args, net, out / "design", out / "sim.json")
    roms = write_roms(schedule.plan, out / "rom", ROM_FORMATS)
    _say(f"{len(roms)} ROM files -> {out / 'rom'}")
    _write_report(schedule, net, Path(args.report) if args.report else out / "report.json",
                  sim, roms)
    ok = _sim_ok(sim)
    if not ok:
        _say("FAILED: the RTL disagrees with the reference model (see sim.json)")
    return 0 if ok else 1


# ------------------------------------------------------------------------------------ parser

def _add_sim_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("simulation (cocotb 2.x on Verilator or Icarus)")
    g.add_argument("--simulator", choices=SIMULATORS, default="verilator",
                   help="verilator (default) or icarus (Debian's iverilog)")
    g.add_argument("--vectors", choices=("digits", "random"), default="digits",
                   help="digits: every test image (default); random: random inputs")
    g.add_argument("--count", type=int, help="number of vectors (default: all test images, "
                   "or 256 random)")
    g.add_argument("--stall-in", type=float, default=0.25,
                   help="probability the source idles a cycle (default 0.25)")
    g.add_argument("--stall-out", type=float, default=0.25,
                   help="probability the sink applies backpressure a cycle (default 0.25)")
    g.add_argument("--sim-seed", type=int, default=0, help="seed of the stalls and random vectors")
    g.add_argument("--waves", action="store_true", help="dump a waveform (dump.vcd in the build "
                   "folder; open it with GTKWave or Surfer)")
    g.add_argument("--build-dir", help="simulator build folder (default: DESIGN.sim_build/"
                   "SIMULATOR beside the design folder)")


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
    p.add_argument("--arch", choices=ARCHITECTURES, default="unrolled")
    _add_compress_args(p)
    _add_sim_args(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("compress", help="train and ADMM-compress the digits MLP into an artifact")
    p.add_argument("--out", default="artifact.json", help="artifact path (default: artifact.json)")
    _add_compress_args(p)
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("generate", help="generate Verilog from an artifact")
    p.add_argument("artifact", help="compressed network (artifact.json)")
    p.add_argument("--out", required=True, help="design folder to (re)create")
    p.add_argument("--arch", choices=ARCHITECTURES, default="unrolled")
    p.add_argument("--backend", choices=BACKENDS, default="verilog")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("simulate", help="simulate a generated design against the reference")
    p.add_argument("artifact", help="the artifact the design was generated from")
    p.add_argument("--design", required=True, help="design folder from `hlsgen generate`")
    p.add_argument("--out", default="sim.json", help="results (default: sim.json)")
    _add_sim_args(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("rom", help="export weight ROM images (.mem, .coe, .intel.mif, .hex)")
    p.add_argument("artifact")
    p.add_argument("--out", required=True, help="ROM folder to (re)create")
    p.add_argument("--formats", type=_formats, default=ROM_FORMATS,
                   help=f"comma-separated, default {','.join(ROM_FORMATS)}")
    p.set_defaults(func=cmd_rom)

    p = sub.add_parser("report", help="resource and accuracy report of an artifact")
    p.add_argument("artifact")
    p.add_argument("--sim", help="sim.json from `hlsgen simulate` to include")
    p.add_argument("--out", default="report.json", help="report path (default: report.json)")
    p.add_argument("--arch", choices=ARCHITECTURES, default="unrolled")
    p.set_defaults(func=cmd_report)
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
