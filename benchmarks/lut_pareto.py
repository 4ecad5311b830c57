"""Benchmark: measured LUTs at equal accuracy: hlsgen compressed for the hardware cost vs
the peers (HGQ2 + da4ml, unstructured pruning + da4ml), one command, run as a sweep.

    PYTHONPATH=. .venv/bin/python benchmarks/lut_pareto.py [--only NAME,...] [--nets 64-64-10]
        [--render-only]

Every hlsgen point is a ``hlsgen compress`` setting (``--objective luts``: the budgeted
projection of :mod:`compression.budget`; ``--widths auto``: the input and activation widths
of :mod:`compression.widths`) run through :func:`hlsgen.sweep.run_sweep` with the stages
``compress``, ``generate``, ``simulate`` (Verilator, all 360 test images: every design
bit-exact with the reference or the row fails) and ``synth`` (Yosys ``synth_ecp5 -nodsp``,
no place and route): ``lut_eq`` is *measured* (LUT4 + 2 x CCU2C), beside the cost model's
estimate (:mod:`hlsgen.cost`) and their ratio. A rerun with the same ``--work`` skips
finished points.

The peers come from ``benchmarks/results/peers.json`` (``benchmarks/peers.py``: HGQ2 at a
sweep of beta + da4ml) and ``benchmarks/results/unstructured_128_64.json``
(``benchmarks/hardware.py`` on ``benchmarks/artifacts/unstructured_1x1_128_64.json``: 75%
magnitude pruning of the 64-128-64-10 net + da4ml), synthesized by the same Yosys command,
read as they are: this script never retrains a peer. The targets of the
cost-objective issue are checked against them and printed in the markdown:

* 64-64-10: hlsgen's smallest measured LUT-eq at integer accuracy >= 0.98 against the
  smallest HGQ2 + da4ml point at >= 0.98 (goal: <= 0.5x);
* 64-128-64-10: hlsgen's smallest at >= 0.969 against unstructured 75% + da4ml (goal: <=
  0.25x), and against the smallest HGQ2 + da4ml point at >= 0.969 (goal: <= 0.5x, as on
  64-64-10).

Writes ``lut_pareto.json``, ``lut_pareto.md`` and ``lut_pareto.png`` (integer accuracy vs
measured LUT-eq, hlsgen and the peers in one chart per net) under ``--out``.

``--render-only`` runs no sweep: it takes hlsgen's rows from the ``lut_pareto.json`` already
under ``--out`` (as an earlier sweep measured them), re-reads the peers' files (e.g. after
``peers.py`` added points) and rewrites the three files with the goals checked again.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Mapping

# This folder holds compression.py, which shadows the `compression` package the sweep's
# workers load: run as a script, take the folder off the import path.
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    del sys.path[0]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from da4ml_flow import machine  # noqa: E402
from sweep_points import cli_of, points_toml, run_points  # noqa: E402
del sys.path[0]

from hlsgen import artifact  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = "ecp5_nodsp"
NETS: dict[str, dict[str, Any]] = {"64-64-10": {"hidden": (64,)},
                                   "64-128-64-10": {"hidden": (128, 64)}}
FLOORS = {"64-64-10": 0.98, "64-128-64-10": 0.969}
# the goals checked: (net, the peer's flow name starts with, the peer's point label, goal
# ratio, whether the peer must reach the floor too: the unstructured baseline is one point)
GOALS: tuple[tuple[str, str, str, float, bool], ...] = (
    ("64-64-10", "HGQ2", "smallest HGQ2 + da4ml point", 0.5, True),
    ("64-128-64-10", "unstructured", "unstructured 75% + da4ml", 0.25, False),
    ("64-128-64-10", "HGQ2", "smallest HGQ2 + da4ml point", 0.5, True),
)
COST = {"objective": "luts", "widths": "auto", "w_bits": 4, "w_scale": "search"}
# name -> (label, nets it runs on, compressor settings)
POINTS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "multipliers": ("--objective multipliers, 8-bit (the default before the cost objective)",
                    ("64-64-10",), {"objective": "multipliers"}),
    "luts": ("--objective luts --widths auto, 4-bit weights (budget: the fractions' cost)",
             tuple(NETS), COST),
    "luts-tol0": ("the same, --width-tol 0", tuple(NETS), {**COST, "width_tol": 0.0}),
    "luts-9k": ("the same, --max-luts 9000", ("64-64-10",), {**COST, "max_luts": 9000}),
    "luts-7k": ("the same, --max-luts 7000", ("64-64-10",), {**COST, "max_luts": 7000}),
    "luts-20k": ("the same, --max-luts 20000", ("64-128-64-10",), {**COST, "max_luts": 20000}),
    "luts-14k": ("the same, --max-luts 14000", ("64-128-64-10",), {**COST, "max_luts": 14000}),
    # per-feature input widths (compression.widths, WRAP; an always-zero pixel is dropped)
    "luts-9k-inw": ("luts-9k, --input-widths auto", ("64-64-10",),
                    {**COST, "max_luts": 9000, "input_widths": "auto"}),
    "luts-14k-inw": ("luts-14k, --input-widths auto", ("64-128-64-10",),
                     {**COST, "max_luts": 14000, "input_widths": "auto"}),
    # the accuracy floor (compression.floor): the budget searched on a validation split
    "floor-975": ("--width-tol 0 --min-accuracy 0.975 (budget searched, validation split)",
                  ("64-64-10",), {**COST, "width_tol": 0.0, "min_accuracy": 0.975}),
}
SEED = 0


def settings_of(net: str, name: str) -> dict[str, Any]:
    return {**NETS[net], **POINTS[name][2], "seed": SEED}


def spec_text(points: list[tuple[str, str, dict[str, Any]]]) -> str:
    lines = ["# benchmarks/lut_pareto.py's points (written by it; in [[points]] order)",
             "[sweep]", 'name = "lut-pareto"',
             'stages = ["compress", "generate", "simulate", "synth"]',
             'compressor = "digits"', "", "[settings]", 'arch = "unrolled"',
             'simulator = "verilator"', 'vectors = "digits"', f'targets = ["{TARGET}"]',
             "pnr = false", ""]
    return "\n".join(lines + points_toml(points))


def row_of(net: str, name: str, settings: Mapping[str, Any], result: Mapping[str, Any],
           network: artifact.Network) -> dict[str, Any]:
    synth = result["synth"][TARGET]
    est = result["estimate"]["lut_eq"]
    return {"flow": "hlsgen", "name": name, "label": POINTS[name][0], "net": net,
            "cli": cli_of(settings), "int_accuracy": result["int_accuracy"],
            # a floor search's phase accuracies are the validation split's: no test float
            "float_accuracy": (None if "accuracy_floor" in network.meta
                               else network.meta["accuracy"]["float"]),
            "rtl_vectors": result["rtl_vectors"], "rtl_mismatches": result["rtl_mismatches"],
            "lut": synth["lut"], "carry": synth["carry"], "ff": synth["ff"],
            "lut_eq": synth["lut_eq"], "lut_eq_estimate": est,
            "measured_over_estimate": round(synth["lut_eq"] / est, 3),
            "input": network.input.to_json(),
            "input_bits": (None if network.input_bits is None else sum(network.input_bits)),
            "activation_bits": [layer.output.bits for layer in network.layers],
            "w_bits": [layer.w_bits for layer in network.layers],
            "blocks": result["blocks"], "adders": result.get("adders"),
            "artifact_sha256": artifact.digest(network), "sweep_point": result["point"],
            "yosys_s": synth.get("yosys_s"), "seconds": round(result["elapsed_s"], 1)}


def peer_rows(path: Path) -> list[dict[str, Any]]:
    """The peers' measured points (benchmarks/peers.py's rows), as they are."""
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    rows = []
    for r in doc.get("rows", []):
        if r.get("lut_eq") is None or r.get("int_accuracy") is None:
            continue
        rows.append({**r, "flow": r.get("flow", "HGQ2 + da4ml")})
    return rows


def baseline_rows(path: Path, net: str) -> list[dict[str, Any]]:
    """The da4ml rows of a ``benchmarks/hardware.py`` result (unstructured pruning + da4ml on
    the same Yosys flow), as peer rows of ``net``."""
    if not path.exists():
        return []
    doc = json.loads(path.read_text())
    return [{"flow": "unstructured 75% + da4ml", "net": net, "name": r["design"],
             "int_accuracy": r["int_accuracy"], "lut_eq": r["lut_eq"], "lut": r["lut"],
             "carry": r["carry"], "ff": r["ff"], "source": str(path),
             "latency_cutoff": doc.get("latency_cutoff"), "yosys_s": r.get("yosys_s")}
            for r in doc.get("rows", []) if str(r.get("flow", "")).startswith("da4ml")]


def smallest(rows: list[dict[str, Any]], net: str, floor: float,
             flow: str | None = None, prefix: str | None = None) -> dict[str, Any] | None:
    ok = [r for r in rows if r["net"] == net and r["int_accuracy"] >= floor
          and (flow is None or r["flow"] == flow)
          and (prefix is None or str(r["flow"]).startswith(prefix))]
    return min(ok, key=lambda r: r["lut_eq"], default=None)


def goals(rows: list[dict[str, Any]], peers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for net, prefix, peer, goal, peer_at_floor in GOALS:
        floor = FLOORS[net]
        ours = smallest(rows, net, floor, flow="hlsgen")
        theirs = smallest(peers, net, floor if peer_at_floor else 0.0, prefix=prefix)
        ratio = None if ours is None or theirs is None else ours["lut_eq"] / theirs["lut_eq"]
        out.append({"net": net, "floor": floor, "goal": goal, "peer": peer,
                    "hlsgen": None if ours is None else {k: ours[k] for k in
                                                         ("name", "lut_eq", "int_accuracy")},
                    "peer_point": None if theirs is None else {
                        k: theirs.get(k) for k in ("flow", "beta", "seed", "lut_eq",
                                                   "int_accuracy")},
                    "ratio": None if ratio is None else round(ratio, 3),
                    "met": None if ratio is None else ratio <= goal})
    return out


def markdown(rows: list[dict[str, Any]], peers: list[dict[str, Any]],
             checks: list[dict[str, Any]], doc: Mapping[str, Any]) -> str:
    lines = ["# Measured LUT-eq at equal accuracy: hlsgen (cost objective) vs peers",
             "", "Yosys `synth_ecp5 -nodsp`, LUT-eq = LUT4 + 2 x CCU2C; hlsgen rows "
             "simulated on Verilator over the 360 test images (mismatches column).", "",
             "| net | flow | point | int acc | LUT-eq | LUT4 | CCU2C | FF | estimate | "
             "meas./est. | input | act. bits | mismatches |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['net']} | hlsgen | {r['name']} | {r['int_accuracy']:.4f} | "
                     f"{r['lut_eq']} | {r['lut']} | {r['carry']} | {r['ff']} | "
                     f"{r['lut_eq_estimate']} | {r['measured_over_estimate']} | "
                     f"{_input_text(r)} | {r['activation_bits']} | "
                     f"{r['rtl_mismatches']}/{r['rtl_vectors']} |")
    for r in peers:
        point = (f"beta {r['beta']} seed {r.get('seed', 0)}" if r.get("beta") is not None
                 else r.get("name", "-"))
        lines.append(f"| {r['net']} | {r['flow']} | {point} | "
                     f"{r['int_accuracy']:.4f} | {r['lut_eq']} | {r.get('lut', '-')} | "
                     f"{r.get('carry', '-')} | {r.get('ff', '-')} | - | - | - | - | - |")
    lines += ["", "Goals:", ""]
    for c in checks:
        if c["ratio"] is None:
            missing = [who for who, pt in (("hlsgen", c["hlsgen"]), (c["peer"], c["peer_point"]))
                       if pt is None]
            lines.append(f"- {c['net']} at >= {c['floor']} vs {c['peer']}: no comparison yet "
                         f"(no measured point: {', '.join(missing)})")
        else:
            pp = c["peer_point"]
            which = ("" if pp.get("beta") is None
                     else f" (beta {pp['beta']:g} seed {pp.get('seed') or 0})")
            lines.append(f"- {c['net']} at >= {c['floor']}: hlsgen {c['hlsgen']['name']} "
                         f"{c['hlsgen']['lut_eq']} LUT-eq ({c['hlsgen']['int_accuracy']:.4f}) "
                         f"vs {c['peer']}{which} {pp['lut_eq']} "
                         f"({pp['int_accuracy']:.4f}): {c['ratio']}x, goal <= "
                         f"{c['goal']}x: {'met' if c['met'] else 'NOT met'}")
    lines += ["", f"- command: `{doc['command']}`"]
    if doc.get("rendered_by"):
        lines.append(f"- re-rendered (hlsgen rows as that command measured them, peers "
                     f"re-read, no new hlsgen run): `{doc['rendered_by']}`")
    lines += [f"- machine: {doc['machine']}",
              "- reproduce an hlsgen point: its `cli` in lut_pareto.json; peers: "
              "benchmarks/peers.json's commands", ""]
    return "\n".join(lines)


def _input_text(r: Mapping[str, Any]) -> str:
    """The input width; with per-feature widths, the bits kept of the 64 digits pixels'."""
    bits = r["input"]["bits"]
    kept = r.get("input_bits")
    return f"{bits}b" if kept is None else f"{bits}b, {kept}/{64 * bits} bits kept"


def plot(rows: list[dict[str, Any]], peers: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    nets = [n for n in NETS if any(r["net"] == n for r in rows + peers)]
    fig, axes = plt.subplots(1, len(nets), figsize=(6.5 * len(nets), 4.8), squeeze=False)
    for ax, net in zip(axes[0], nets):
        flows: dict[str, list[dict[str, Any]]] = {}
        for r in rows + peers:
            if r["net"] == net:
                flows.setdefault(str(r["flow"]), []).append(r)
        for flow, sub in flows.items():
            sub = sorted(sub, key=lambda r: r["lut_eq"])
            ax.plot([r["lut_eq"] for r in sub], [r["int_accuracy"] for r in sub], "o",
                    label=flow)
            for r in sub:
                tag = r.get("name") or (f"beta {r.get('beta'):g}"
                                        + (f" seed {r['seed']}" if r.get("seed") else ""))
                ax.annotate(str(tag), (r["lut_eq"], r["int_accuracy"]), fontsize=6,
                            xytext=(3, 3), textcoords="offset points")
        ax.axhline(FLOORS[net], color="gray", ls=":", lw=0.8, label=f"floor {FLOORS[net]}")
        ax.set_xscale("log")
        ax.set_xlabel("measured LUT-eq (Yosys synth_ecp5 -nodsp, log)")
        ax.set_ylabel("integer accuracy (digits test split)")
        ax.set_title(f"{net}: accuracy vs measured LUTs")
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    p.add_argument("--work", default=str(ROOT / "build" / "lut-pareto"),
                   help="the sweep's folder (kept: a rerun skips finished points)")
    p.add_argument("--peers", default=str(ROOT / "benchmarks" / "results" / "peers.json"))
    p.add_argument("--baseline", default=str(ROOT / "benchmarks" / "results" /
                                             "unstructured_128_64.json"),
                   help="benchmarks/hardware.py's result for the 64-128-64-10 unstructured "
                   "75%% artifact (its da4ml row is the 64-128-64-10 peer)")
    p.add_argument("--only", help="comma-separated point names (default: all)")
    p.add_argument("--nets", help="comma-separated nets (default: all)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--render-only", action="store_true",
                   help="run no sweep: take hlsgen's rows from --out/lut_pareto.json, re-read "
                   "the peers and rewrite lut_pareto.{json,md,png} (e.g. after peers.py added "
                   "points)")
    args = p.parse_args(argv)
    command = ("PYTHONPATH=. python benchmarks/lut_pareto.py "
               + " ".join(argv if argv is not None else sys.argv[1:]))
    out = Path(args.out)
    if args.render_only:
        return render_only(args, out, command)
    names = args.only.split(",") if args.only else list(POINTS)
    nets = args.nets.split(",") if args.nets else list(NETS)
    for bad in [n for n in names if n not in POINTS] + [n for n in nets if n not in NETS]:
        print(f"lut_pareto.py: unknown point or net {bad!r}; points: {', '.join(POINTS)}; "
              f"nets: {', '.join(NETS)}", file=sys.stderr)
        return 2
    points = [(net, name, settings_of(net, name)) for name in names for net in nets
              if net in POINTS[name][1]]
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ran = run_points(work, "lut_pareto.toml", spec_text(points), points, args.workers,
                     "lut_pareto.py")
    if ran is None:
        return 1
    rows = []
    for net, name, settings, result, network in ran[1]:
        rows.append(row_of(net, name, settings, result, network))
        r = rows[-1]
        print(f"{net:13s} {name:9s} int {r['int_accuracy']:.4f} LUT-eq {r['lut_eq']:6d} "
              f"(est. {r['lut_eq_estimate']}) FF {r['ff']} mismatches {r['rtl_mismatches']}",
              flush=True)
    doc = {"benchmark": "lut_pareto", "command": command,
           "machine": machine(),
           "python": platform.python_version(), "target": TARGET,
           "total_seconds": round(time.perf_counter() - t0, 1),
           "spec": spec_text(points), "rows": rows}
    write(doc, args, out)
    return 0


def render_only(args: argparse.Namespace, out: Path, command: str) -> int:
    """Rewrite the results from the hlsgen rows of ``out/lut_pareto.json`` and the peers'
    files as they are now; no hlsgen run."""
    if args.only or args.nets:
        print("lut_pareto.py: --render-only runs no points, so --only/--nets do not apply; "
              "drop them (or drop --render-only to run the sweep)", file=sys.stderr)
        return 2
    path = out / "lut_pareto.json"
    try:
        old = json.loads(path.read_text())
        rows = old["rows"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"lut_pareto.py: --render-only needs the hlsgen rows of an earlier sweep in "
              f"{path} ({exc}); run without --render-only first, or point --out at its folder",
              file=sys.stderr)
        return 2
    keep = ("benchmark", "command", "machine", "python", "target", "total_seconds", "spec")
    doc = {**{k: old[k] for k in keep if k in old}, "rows": rows, "rendered_by": command}
    write(doc, args, out)
    return 0


def write(doc: dict[str, Any], args: argparse.Namespace, out: Path) -> None:
    """Read the peers, check the goals and write lut_pareto.{json,md,png} under ``out``."""
    rows = doc["rows"]
    peers = peer_rows(Path(args.peers)) + baseline_rows(Path(args.baseline), "64-128-64-10")
    checks = goals(rows, peers)
    peers_from = Path(args.peers).resolve()
    if peers_from.is_relative_to(ROOT):
        peers_from = peers_from.relative_to(ROOT)
    doc = {**doc, "peers_from": str(peers_from), "peers": peers, "goals": checks}
    md, png = markdown(rows, peers, checks, doc), out / "lut_pareto.png"
    out.mkdir(parents=True, exist_ok=True)
    plot(rows, peers, png)
    (out / "lut_pareto.md").write_text(md)
    (out / "lut_pareto.json").write_text(json.dumps(doc, indent=1) + "\n")
    print(f"-> {out}/lut_pareto.json, .md, .png")
    for c in checks:
        print(f"goal {c['net']} vs {c['peer']}: ratio {c['ratio']} (<= {c['goal']}: "
              f"{c['met']})")


if __name__ == "__main__":
    sys.exit(main())
