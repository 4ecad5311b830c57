"""Benchmark: the compression methods side by side on the digits nets, one command.

    PYTHONPATH=. .venv/bin/python benchmarks/compression.py [--only NAME,...] [--nets 64-64-10]

Every row is one ``hlsgen compress`` run (its exact arguments are the row's ``"cli"``; run them
to reproduce it bit for bit, same seed same artifact) on the 64-64-10 digits net and on the
64-128-64-10 net, measured on the artifact it writes: ``int_accuracy`` (the integer reference
:func:`hlsgen.numerics.forward` on the 360 test images), ``multipliers`` (constant multipliers
a multiplier-based realization needs: one per unified block row, one per dense weight, powers
of two excluded) and ``weight_bits`` (block-kind map + magnitudes + signs + dense weights),
both from :func:`hlsgen.plan.make_plan`. Rows:

* ``dense-int8`` -- no pruning, no unification, 8-bit weights (fake-quant fine-tuning);
* ``magnitude-1x1`` -- unstructured magnitude pruning (1x1 blocks, 75%, no ADMM) + fine-tuning;
* ``prune-only`` -- micro-structured (row-block) pruning by ADMM, no unification;
* ``admm`` / ``reweighted`` -- unify + prune, the default structure, the two methods;
* ``admm-q8/q4/q2/q1`` -- joint ADMM quantization (``--w-scale search``: the projection picks
  each layer's power-of-two scale) at 8, 4, 2 (ternary) and 1 (binary) weight bits on a compact
  structure (2x32 hidden blocks, 60% pruned, all kept blocks unified);
* ``reweighted-q4`` -- the reweighted method on the same compact structure at 4 bits;
* ``admm-k2`` / ``admm-q4-k1`` -- subword weights: at most 2 CSD digits (8 bits), and 1 digit
  (powers of two, no multipliers) at 4 bits.

Writes ``compression.json``, ``compression.md`` and ``compression.png`` (integer accuracy vs
weight bits, log scale, the Pareto front drawn) under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hlsgen import artifact
from hlsgen.plan import make_plan

ROOT = Path(__file__).resolve().parent.parent

NETS = {"64-64-10": ["--hidden", "64"], "64-128-64-10": ["--hidden", "128,64"]}
COMPACT = ["--block", "2x32", "--prune", "0.6", "--unify", "1", "--output-block", "1x16",
           "--output-prune", "0.4", "--output-unify", "1"]
ROWS: dict[str, tuple[str, list[str]]] = {
    "dense-int8": ("dense int8", ["--prune", "0", "--unify", "0", "--output-prune", "0",
                                  "--output-unify", "0", "--admm-epochs", "0"]),
    "magnitude-1x1": ("magnitude pruning (unstructured, 75%)",
                      ["--block", "1x1", "--prune", "0.75", "--unify", "0", "--output-block",
                       "1x1", "--output-prune", "0.75", "--output-unify", "0",
                       "--admm-epochs", "0"]),
    "prune-only": ("micro-structured pruning only (ADMM)", ["--unify", "0",
                                                            "--output-unify", "0"]),
    "admm": ("ADMM unify+prune", []),
    "reweighted": ("reweighted unify+prune", ["--method", "reweighted"]),
    "admm-q8": ("joint ADMM quantization, 8 bits", COMPACT + ["--w-bits", "8",
                                                              "--w-scale", "search"]),
    "admm-q4": ("joint ADMM quantization, 4 bits", COMPACT + ["--w-bits", "4",
                                                              "--w-scale", "search"]),
    "admm-q2": ("joint ADMM quantization, 2 bits (ternary)",
                COMPACT + ["--w-bits", "2", "--w-scale", "search"]),
    "admm-q1": ("joint ADMM quantization, 1 bit (binary)",
                COMPACT + ["--w-bits", "1", "--w-scale", "search"]),
    "reweighted-q4": ("reweighted + joint quantization, 4 bits",
                      COMPACT + ["--method", "reweighted", "--w-bits", "4", "--w-scale", "search"]),
    "admm-k2": ("ADMM, 2-digit CSD weights (8 bits)", COMPACT + ["--w-bits", "8", "--k-digits",
                                                                 "2", "--w-scale", "search"]),
    "admm-q4-k1": ("ADMM, 1-digit (power-of-two) weights, 4 bits",
                   COMPACT + ["--w-bits", "4", "--k-digits", "1", "--w-scale", "search"]),
}


def run_row(name: str, net: str, workdir: Path) -> dict[str, Any]:
    label, extra = ROWS[name]
    out = workdir / f"{net}-{name}.json"
    cli = ["hlsgen", "compress", *NETS[net], *extra, "--seed", "0", "--out", "artifact.json"]
    args = [sys.executable, "-m", "hlsgen.cli", "compress", *NETS[net], *extra, "--seed", "0",
            "--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{net} {name}: hlsgen compress failed:\n{proc.stderr}")
    network = artifact.load(out)
    totals = make_plan(network).totals()
    acc = network.meta["accuracy"]
    dense_int8 = sum(layer.in_features * layer.out_features for layer in network.layers) * 8
    return {"name": name, "label": label, "net": net, "cli": cli,
            "int_accuracy": acc["int"], "float_accuracy": acc["float"],
            "multipliers": totals["block_multipliers"], "weight_bits": totals["weight_bits"],
            "dense_int8_weight_bits": dense_int8,
            "weight_bits_reduction": dense_int8 / totals["weight_bits"],
            "w_bits": network.layers[0].w_bits, "blocks": totals["blocks"],
            "digits": network.meta["digits"]["histogram"],
            "artifact_sha256": artifact.digest(network), "seconds": round(seconds, 1)}


def pareto(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows no other row beats in both weight bits (fewer) and accuracy (higher)."""
    return [r for r in rows if not any(
        o["weight_bits"] <= r["weight_bits"] and o["int_accuracy"] >= r["int_accuracy"]
        and (o["weight_bits"], o["int_accuracy"]) != (r["weight_bits"], r["int_accuracy"])
        for o in rows)]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| net | row | int acc | float (dense) | multipliers | weight bits | x vs dense int8 "
             "| CSD digits |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        digits = ", ".join(f"{k}:{v}" for k, v in r["digits"].items())
        lines.append(f"| {r['net']} | {r['name']} | {r['int_accuracy']:.4f} | "
                     f"{r['float_accuracy']:.4f} | {r['multipliers']} | {r['weight_bits']} | "
                     f"{r['weight_bits_reduction']:.1f} | {digits} |")
    lines.append("")
    lines.append("Reproduce a row: its `cli` in compression.json (`hlsgen compress ...`).")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = sorted({r["net"] for r in rows})
    fig, axes = plt.subplots(1, len(nets), figsize=(6.5 * len(nets), 4.8), squeeze=False)
    for ax, net in zip(axes[0], nets):
        sub = [r for r in rows if r["net"] == net]
        for r in sub:
            ax.scatter(r["weight_bits"], r["int_accuracy"], s=24)
            ax.annotate(r["name"], (r["weight_bits"], r["int_accuracy"]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        front = sorted(pareto(sub), key=lambda r: r["weight_bits"])
        ax.step([r["weight_bits"] for r in front], [r["int_accuracy"] for r in front],
                where="post", color="gray", lw=1, label="Pareto front")
        ax.axhline(sub[0]["float_accuracy"], color="k", ls=":", lw=0.8, label="dense float")
        ax.set_xscale("log")
        ax.set_xlabel("weight bits (log)")
        ax.set_ylabel("integer accuracy (digits test split)")
        ax.set_title(f"{net}")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--only", help="comma-separated row names (default: all)")
    p.add_argument("--nets", default=",".join(NETS), help="comma-separated nets")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(ROWS)
    nets = args.nets.split(",")
    for bad in [n for n in names if n not in ROWS] + [n for n in nets if n not in NETS]:
        print(f"compression.py: unknown row or net {bad!r}; rows: {', '.join(ROWS)}; nets: "
              f"{', '.join(NETS)}", file=sys.stderr)
        return 2
    rows = []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for net in nets:
            for name in names:
                row = run_row(name, net, Path(tmp))
                rows.append(row)
                print(f"{net:13s} {name:14s} int {row['int_accuracy']:.4f} "
                      f"mult {row['multipliers']:5d} bits {row['weight_bits']:6d} "
                      f"(x{row['weight_bits_reduction']:.1f}) {row['seconds']:.0f}s", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "compression", "python": platform.python_version(),
           "machine": platform.machine(), "total_seconds": round(time.perf_counter() - t0, 1),
           "rows": rows}
    (out / "compression.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "compression.md").write_text(markdown(rows))
    plot(rows, out / "compression.png")
    print(f"-> {out}/compression.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
