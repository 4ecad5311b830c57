"""Benchmark: generation time, Verilator build time and simulation throughput vs network size.

    .venv/bin/python benchmarks/generate_and_simulate.py [--out benchmarks/results/gen_sim.json]

For random micro-structured networks of growing width (and the committed digits example, if
present) it reports PEs, multipliers, weight bits, generated lines of Verilog, the time to
plan+render, the Verilator build time and the simulated vectors per second (no stalls).
Prints a table and writes JSON. Timings depend on the machine; ccache makes builds faster.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from hlsgen import artifact, numerics
from hlsgen.generate import design_files, generate
from hlsgen.plan import make_plan
from hlsgen.randnet import random_inputs, random_network
from hlsgen.sim.runner import SimConfig, compare, simulate

ROOT = Path(__file__).resolve().parent.parent


def measure(name: str, net: artifact.Network, vectors: int, work: Path) -> dict:
    t0 = time.perf_counter()
    plan = make_plan(net)
    files = design_files(plan)
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
    tot = plan.totals()
    return {
        "design": name, "layers": [l.out_features for l in plan.layers],
        "pes": plan.pe_count, "multipliers": tot["multipliers"],
        "dense_multipliers": tot["dense_multipliers"], "weight_bits": tot["weight_bits"],
        "verilog_lines": sum(t.count("\n") for n, t in files.items() if n.endswith(".v")),
        "generate_s": round(t_gen, 3), "build_s": round(t_build, 2),
        "sim_vectors": vectors, "sim_s": round(t_sim, 2),
        "vectors_per_s": round(vectors / t_sim, 1), "cycles": res.cycles, "mismatches": mism,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gen_sim.json"))
    ap.add_argument("--vectors", type=int, default=500)
    args = ap.parse_args()
    cases = []
    for width in (16, 32, 64, 128):
        net = random_network(np.random.default_rng(width), [width, width, 10], (4, 4),
                             kind_probs=(0.75, 0.2, 0.05), name=f"rand{width}")
        cases.append((f"random {width}-{width}-10", net))
    example = ROOT / "examples" / "digits_mlp.json"
    if example.is_file():
        cases.append(("digits example", artifact.load(example)))
    rows = []
    for name, net in cases:
        work = Path(tempfile.mkdtemp(prefix="hlsgen-bench-"))
        try:
            rows.append(measure(name, net, args.vectors, work))
        finally:
            shutil.rmtree(work, ignore_errors=True)
        r = rows[-1]
        print(f"{r['design']:<22} PEs {r['pes']:>4}  mults {r['multipliers']:>5}/"
              f"{r['dense_multipliers']:<6} lines {r['verilog_lines']:>6}  gen {r['generate_s']:>6.3f}s"
              f"  build {r['build_s']:>6.2f}s  sim {r['vectors_per_s']:>8.1f} vec/s"
              f"  mismatches {r['mismatches']}", flush=True)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": platform.platform(), "ccache": bool(shutil.which("ccache")),
                               "rows": rows}, indent=2) + "\n")
    print(f"-> {out}")


if __name__ == "__main__":
    main()
