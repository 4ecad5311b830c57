"""Benchmark: generation time, Verilator build time and memory, and simulation throughput vs
network size.

    .venv/bin/python benchmarks/generate_and_simulate.py [--out benchmarks/results/gen_sim.json]

For random micro-structured networks of growing width (W-W-10, 4x4 blocks, 50% pruned, 30%
unified, 20% dense: an adder-heavy mix) and the committed digits example it reports the
adders of the multiplier-free datapath, block multipliers, generated lines of Verilog, the
time to plan+render, the Verilator build time (verilate + C++ compile) and the build's peak
memory (the largest child process), and the simulated vectors per second (no stalls). Prints
a table and writes JSON. Timings depend on the machine and its load; ccache speeds rebuilds
(``CCACHE_DISABLE=1`` measures cold builds, as the committed results do).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from hlsgen import artifact, numerics
from hlsgen.generate import design, generate
from hlsgen.randnet import random_inputs, random_network
from hlsgen.schedules import ScheduleOptions
from hlsgen.sim.runner import SimConfig, compare, simulate

ROOT = Path(__file__).resolve().parent.parent


def _child_peak_mib() -> float:
    """Peak resident memory of the largest child process so far (Linux: KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def measure(name: str, net: artifact.Network, vectors: int, work: Path) -> dict:
    t0 = time.perf_counter()
    schedule, rendered = design(net)
    t_gen = time.perf_counter() - t0
    generate(net, work / "design")
    x = random_inputs(np.random.default_rng(0), net, vectors)
    cfg = SimConfig(stall_in=0.0, stall_out=0.0)
    t0 = time.perf_counter()
    simulate(work / "design", x[:2], cfg, work / "build")        # build + a tiny run
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = simulate(work / "design", x, cfg, work / "build")       # already built
    t_sim = time.perf_counter() - t0
    mism = compare(res.outputs, numerics.forward(net, x)).mismatches
    tot = schedule.plan.totals()
    return {
        "design": name, "layers": [l.out_features for l in schedule.plan.layers],
        "adders": schedule.adders, "block_multipliers": tot["block_multipliers"],
        "dense_multipliers": tot["dense_multipliers"], "weight_bits": tot["weight_bits"],
        "verilog_files": sum(n.endswith(".v") for n in rendered.files),
        "verilog_lines": sum(t.count("\n") for n, t in rendered.files.items()
                             if n.endswith(".v")),
        "generate_s": round(t_gen, 3), "build_s": round(t_build, 2),
        "sim_vectors": vectors, "sim_s": round(t_sim, 2),
        "vectors_per_s": round(vectors / t_sim, 1), "cycles": res.cycles, "mismatches": mism,
    }


def measure_isolated(name: str, width: int | None, vectors: int) -> dict:
    """One case in a child process, so its build's peak memory is its own."""
    code = ("import json, sys; sys.path.insert(0, %r); import generate_and_simulate as g; "
            "print(json.dumps(g.run_case(%r, %r, %d)))") % (str(Path(__file__).parent), name,
                                                              width, vectors)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_case(name: str, width: int | None, vectors: int) -> dict:
    net = artifact.load(ROOT / "examples" / "digits_mlp.json") if width is None else \
        random_network(np.random.default_rng(width), [width, width, 10], (4, 4),
                       kind_probs=(0.5, 0.3, 0.2), name=f"rand{width}")
    work = Path(tempfile.mkdtemp(prefix="hlsgen-bench-"))
    try:
        row = measure(name, net, vectors, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    row["build_peak_mib"] = round(_child_peak_mib(), 1)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gen_sim.json"))
    ap.add_argument("--vectors", type=int, default=500)
    args = ap.parse_args()
    cases = [(f"random {w}-{w}-10", w) for w in (16, 32, 64, 128, 256)]
    cases.append(("digits example", None))
    rows = []
    for name, width in cases:
        rows.append(measure_isolated(name, width, args.vectors))
        r = rows[-1]
        print(f"{r['design']:<20} adders {r['adders']:>6}  block mults {r['block_multipliers']:>6}/"
              f"{r['dense_multipliers']:<6} files {r['verilog_files']} lines {r['verilog_lines']:>7}"
              f"  gen {r['generate_s']:>6.2f}s  build {r['build_s']:>7.1f}s "
              f"{r['build_peak_mib']:>7.0f} MiB  sim {r['vectors_per_s']:>8.1f} vec/s"
              f"  mismatches {r['mismatches']}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": f"{platform.platform()}, {os.cpu_count()} cores",
                               "ccache": bool(shutil.which("ccache"))
                               and not os.environ.get("CCACHE_DISABLE"),
                               "build_args": list(SimConfig().build_args),
                               "levels_per_stage": ScheduleOptions().levels_per_stage,
                               "command": "python benchmarks/generate_and_simulate.py",
                               "rows": rows}, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
