"""Benchmark: the compression methods side by side on the digits nets, one command, run as a
design-space sweep (:mod:`hlsgen.sweep`, on a local Dask cluster).

    PYTHONPATH=. .venv/bin/python benchmarks/compression.py [--only NAME,...] [--nets 64-64-10]
    PYTHONPATH=. .venv/bin/python benchmarks/compression.py --quick     # 3 points, short epochs

The grid (every row on the 64-64-10 digits net and on the 64-128-64-10 net) is written as a
sweep spec (``WORK/compression.toml``: one ``[[points]]`` table per row, the compressor
settings of ``hlsgen compress``) and run through :func:`hlsgen.sweep.run_sweep` with the
stages ``compress`` and the plan (no generation, no simulation), on a ``LocalCluster`` of
``--workers`` workers (default 2). The sweep keeps ``WORK/sweep/results.jsonl`` and each
point's artifact, so a rerun skips every finished point. The rows are then read back from
the sweep's results and artifacts:

``int_accuracy`` (the integer reference :func:`hlsgen.numerics.forward` on the 360 test
images), ``multipliers`` (constant multipliers a multiplier-based realization needs: one per
unified block row, one per dense weight, powers of two excluded), ``weight_bits`` (block-kind
map + magnitudes + signs + dense weights), from the plan, and ``lut_eq`` (the cost model's
ECP5 LUT-equivalent estimate of the unrolled design, :mod:`hlsgen.cost`, the report's
``estimate``). Every row's ``"cli"`` is the ``hlsgen compress`` command that reproduces its
artifact bit for bit (same settings, same seed). Rows:

* ``dense-int8`` -- no pruning, no unification, 8-bit weights (fake-quant fine-tuning);
* ``magnitude-1x1`` -- unstructured magnitude pruning (1x1 blocks, 75%, no ADMM) + fine-tuning;
* ``prune-only`` -- micro-structured (row-block) pruning by ADMM, no unification;
* ``admm`` / ``reweighted`` -- unify + prune, the default structure, the two methods;
* ``admm-q8/q4/q2/q1`` -- joint ADMM quantization (``w_scale = "search"``: the projection
  picks each layer's power-of-two scale) at 8, 4, 2 (ternary) and 1 (binary) weight bits on a
  compact structure (2x32 hidden blocks, 60% pruned, all kept blocks unified);
* ``reweighted-q8/q4/q2/q1`` -- the reweighted method on the same compact structure with the
  same joint quantization at 8, 4, 2 and 1 bits;
* ``admm-k2`` / ``admm-q4-k1`` and ``reweighted-k2`` / ``reweighted-q4-k1`` -- subword weights,
  both methods: at most 2 CSD digits (8 bits), and 1 digit (powers of two, no multipliers) at
  4 bits.

Writes ``compression.json``, ``compression.md`` and ``compression.png`` (integer accuracy vs
weight bits, log scale, and vs estimated LUT-equivalents, one column per net, the Pareto
fronts drawn) under ``--out`` (``--quick``: under the work folder, never over the committed
results).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Mapping

# This file's name shadows the `compression` package (the compressor plugin the sweep's
# workers load): run as a script, take its folder off the import path (the workers inherit it).
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_points import cli_of, points_toml, run_points, toml_value  # noqa: E402
del sys.path[0]

from hlsgen import artifact  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

# Compressor settings (the keys of `hlsgen compress`, as its parser types them: floats for
# fractions, ints for counts, (rows, cols) block shapes), the sweep's [[points]] tables.
# Every row spells out the fraction objective (`--objective multipliers`: prune / unify are
# exact block counts), the default before the cost objective; benchmarks/lut_pareto.py
# measures the cost objective.
NETS: dict[str, dict[str, Any]] = {"64-64-10": {"hidden": (64,), "objective": "multipliers"},
                                   "64-128-64-10": {"hidden": (128, 64),
                                                    "objective": "multipliers"}}
COMPACT: dict[str, Any] = {"block": (2, 32), "prune": 0.6, "unify": 1.0,
                           "output_block": (1, 16), "output_prune": 0.4, "output_unify": 1.0}
NO_ADMM: dict[str, Any] = {"admm_epochs": 0}
ROWS: dict[str, tuple[str, dict[str, Any]]] = {
    "dense-int8": ("dense int8", {"prune": 0.0, "unify": 0.0, "output_prune": 0.0,
                                  "output_unify": 0.0, **NO_ADMM}),
    "magnitude-1x1": ("magnitude pruning (unstructured, 75%)",
                      {"block": (1, 1), "prune": 0.75, "unify": 0.0, "output_block": (1, 1),
                       "output_prune": 0.75, "output_unify": 0.0, **NO_ADMM}),
    "prune-only": ("micro-structured pruning only (ADMM)", {"unify": 0.0, "output_unify": 0.0}),
    "admm": ("ADMM unify+prune", {}),
    "reweighted": ("reweighted unify+prune", {"method": "reweighted"}),
    "admm-q8": ("joint ADMM quantization, 8 bits", {**COMPACT, "w_bits": 8,
                                                     "w_scale": "search"}),
    "admm-q4": ("joint ADMM quantization, 4 bits", {**COMPACT, "w_bits": 4,
                                                     "w_scale": "search"}),
    "admm-q2": ("joint ADMM quantization, 2 bits (ternary)",
                {**COMPACT, "w_bits": 2, "w_scale": "search"}),
    "admm-q1": ("joint ADMM quantization, 1 bit (binary)",
                {**COMPACT, "w_bits": 1, "w_scale": "search"}),
    "reweighted-q8": ("reweighted + joint quantization, 8 bits",
                      {**COMPACT, "method": "reweighted", "w_bits": 8, "w_scale": "search"}),
    "reweighted-q4": ("reweighted + joint quantization, 4 bits",
                      {**COMPACT, "method": "reweighted", "w_bits": 4, "w_scale": "search"}),
    "reweighted-q2": ("reweighted + joint quantization, 2 bits (ternary)",
                      {**COMPACT, "method": "reweighted", "w_bits": 2, "w_scale": "search"}),
    "reweighted-q1": ("reweighted + joint quantization, 1 bit (binary)",
                      {**COMPACT, "method": "reweighted", "w_bits": 1, "w_scale": "search"}),
    "admm-k2": ("ADMM, 2-digit CSD weights (8 bits)",
                {**COMPACT, "w_bits": 8, "k_digits": 2, "w_scale": "search"}),
    "admm-q4-k1": ("ADMM, 1-digit (power-of-two) weights, 4 bits",
                   {**COMPACT, "w_bits": 4, "k_digits": 1, "w_scale": "search"}),
    "reweighted-k2": ("reweighted, 2-digit CSD weights (8 bits)",
                      {**COMPACT, "method": "reweighted", "w_bits": 8, "k_digits": 2,
                       "w_scale": "search"}),
    "reweighted-q4-k1": ("reweighted, 1-digit (power-of-two) weights, 4 bits",
                         {**COMPACT, "method": "reweighted", "w_bits": 4, "k_digits": 1,
                          "w_scale": "search"}),
}
SEED = 0
STAGES = ("compress",)  # the sweep's stages: compress (+ the plan), no generation
# --quick: a few points, short training (a smoke run of the pipeline, not the benchmark)
QUICK_ROWS = ("dense-int8", "admm", "admm-q4")
QUICK_NETS = ("64-64-10",)
QUICK_EPOCHS: dict[str, Any] = {"epochs": 5, "admm_epochs": 10, "finetune_epochs": 5}


def settings_of(net: str, name: str, quick: bool) -> dict[str, Any]:
    """A row's compressor settings (the order is the ``cli``'s)."""
    return {**NETS[net], **(QUICK_EPOCHS if quick else {}), **ROWS[name][1], "seed": SEED}


def spec_text(points: list[tuple[str, str, dict[str, Any]]]) -> str:
    """The sweep spec: stages compress (+ the plan), one [[points]] table per row."""
    lines = ["# benchmarks/compression.py's grid (written by it; rows in [[points]] order)",
             "[sweep]", 'name = "compression"', f"stages = {toml_value(list(STAGES))}",
             'compressor = "digits"', "", "[settings]", 'arch = "unrolled"', ""]
    return "\n".join(lines + points_toml(points))


def row_of(net: str, name: str, settings: Mapping[str, Any], result: Mapping[str, Any],
           network: artifact.Network) -> dict[str, Any]:
    """The benchmark row of one finished sweep point (its results row and artifact)."""
    acc = network.meta["accuracy"]
    if result["int_accuracy"] != acc["int"]:
        raise SystemExit(f"{net} {name}: the plan's integer accuracy {result['int_accuracy']} "
                         f"differs from the compressor's {acc['int']}")
    dense_int8 = sum(layer.in_features * layer.out_features for layer in network.layers) * 8
    return {"name": name, "label": ROWS[name][0], "net": net, "cli": cli_of(settings),
            "int_accuracy": result["int_accuracy"], "float_accuracy": acc["float"],
            "multipliers": result["block_multipliers"], "weight_bits": result["weight_bits"],
            "lut_eq": result["estimate"]["lut_eq"],
            "dense_int8_weight_bits": dense_int8,
            "weight_bits_reduction": dense_int8 / result["weight_bits"],
            "w_bits": network.layers[0].w_bits, "blocks": result["blocks"],
            "digits": network.meta["digits"]["histogram"],
            "artifact_sha256": artifact.digest(network), "sweep_point": result["point"],
            "seconds": round(result["elapsed_s"], 1)}


def pareto(rows: list[dict[str, Any]], cost: str = "weight_bits") -> list[dict[str, Any]]:
    """Rows no other row beats in both ``cost`` (lower) and accuracy (higher)."""
    return [r for r in rows if not any(
        o[cost] <= r[cost] and o["int_accuracy"] >= r["int_accuracy"]
        and (o[cost], o["int_accuracy"]) != (r[cost], r["int_accuracy"])
        for o in rows)]


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| net | row | int acc | float (dense) | multipliers | weight bits | x vs dense int8 "
             "| LUT-eq (est.) | CSD digits |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        digits = ", ".join(f"{k}:{v}" for k, v in r["digits"].items())
        lines.append(f"| {r['net']} | {r['name']} | {r['int_accuracy']:.4f} | "
                     f"{r['float_accuracy']:.4f} | {r['multipliers']} | {r['weight_bits']} | "
                     f"{r['weight_bits_reduction']:.1f} | {r['lut_eq']} | {digits} |")
    lines.append("")
    lines.append("Reproduce a row: its `cli` in compression.json (`hlsgen compress ...`). "
                 "LUT-eq: the cost model's ECP5 estimate of the unrolled design "
                 "(`hlsgen/cost.py`), not synthesized.")
    return "\n".join(lines) + "\n"


COSTS = (("weight_bits", "weight bits"), ("lut_eq", "estimated LUT-eq (ECP5)"))


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = [n for n in NETS if any(r["net"] == n for r in rows)]
    fig, axes = plt.subplots(len(COSTS), len(nets), figsize=(6.5 * len(nets), 4.8 * len(COSTS)),
                             squeeze=False)
    for col, net in enumerate(nets):
        sub = [r for r in rows if r["net"] == net]
        for (cost, xlabel), ax in zip(COSTS, axes[:, col]):
            for r in sub:
                ax.scatter(r[cost], r["int_accuracy"], s=24)
                ax.annotate(r["name"], (r[cost], r["int_accuracy"]), fontsize=7,
                            xytext=(3, 3), textcoords="offset points")
            front = sorted(pareto(sub, cost), key=lambda r: r[cost])
            ax.step([r[cost] for r in front], [r["int_accuracy"] for r in front],
                    where="post", color="gray", lw=1, label="Pareto front")
            ax.axhline(sub[0]["float_accuracy"], color="k", ls=":", lw=0.8, label="dense float")
            ax.set_xscale("log")
            ax.set_xlabel(f"{xlabel} (log)")
            ax.set_ylabel("integer accuracy (digits test split)")
            ax.set_title(f"{net}: accuracy vs {xlabel}")
            ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", help="where compression.{json,md,png} go (default "
                   "benchmarks/results; with --quick the work folder)")
    p.add_argument("--work", help="the sweep's folder: the spec and sweep/results.jsonl, kept "
                   "so a rerun skips finished points (default build/compression-sweep, "
                   "build/compression-sweep-quick with --quick)")
    p.add_argument("--only", help="comma-separated row names (default: all)")
    p.add_argument("--nets", help="comma-separated nets (default: all)")
    p.add_argument("--quick", action="store_true", help=f"a smoke run: rows "
                   f"{','.join(QUICK_ROWS)} on {','.join(QUICK_NETS)} (unless --only / --nets), "
                   "epochs cut to " + ", ".join(f"{k}={v}" for k, v in QUICK_EPOCHS.items()))
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    args = p.parse_args(argv)
    names = args.only.split(",") if args.only else list(QUICK_ROWS if args.quick else ROWS)
    nets = args.nets.split(",") if args.nets else list(QUICK_NETS if args.quick else NETS)
    for bad in [n for n in names if n not in ROWS] + [n for n in nets if n not in NETS]:
        print(f"compression.py: unknown row or net {bad!r}; rows: {', '.join(ROWS)}; nets: "
              f"{', '.join(NETS)}", file=sys.stderr)
        return 2
    if args.workers < 1:
        print(f"compression.py: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    work = Path(args.work or ROOT / "build" / ("compression-sweep-quick" if args.quick
                                                else "compression-sweep"))
    out = Path(args.out) if args.out else (work if args.quick
                                           else ROOT / "benchmarks" / "results")
    points = [(net, name, settings_of(net, name, args.quick)) for net in nets for name in names]
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ran = run_points(work, "compression.toml", spec_text(points), points, args.workers,
                     "compression.py")
    if ran is None:
        return 1
    outcome, done = ran
    rows = []
    for net, name, settings, result, network in done:
        row = row_of(net, name, settings, result, network)
        rows.append(row)
        print(f"{net:13s} {name:14s} int {row['int_accuracy']:.4f} "
              f"mult {row['multipliers']:5d} bits {row['weight_bits']:6d} "
              f"(x{row['weight_bits_reduction']:.1f}) LUT-eq {row['lut_eq']:6d} "
              f"{row['seconds']:.0f}s", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    doc = {"benchmark": "compression", "python": platform.python_version(),
           "machine": platform.machine(), "quick": args.quick,
           "sweep": {"spec": spec_text(points), "stages": list(STAGES),
                     "workers": args.workers, "points": outcome.total,
                     "skipped": outcome.skipped, "ran": outcome.ran},
           "total_seconds": round(time.perf_counter() - t0, 1),
           "point_seconds": round(sum(r["seconds"] for r in rows), 1),
           "rows": rows}
    (out / "compression.json").write_text(json.dumps(doc, indent=1) + "\n")
    (out / "compression.md").write_text(markdown(rows))
    plot(rows, out / "compression.png")
    print(f"-> {out}/compression.json, .md, .png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
