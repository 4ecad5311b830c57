"""The report: accuracy at every level of the flow, hardware cost against the dense baseline,
and simulation figures, as JSON and as a table a person reads."""

from __future__ import annotations

import json
from typing import Any, Mapping

from . import cost
from .schedules import FoldedSchedule, Schedule, UnrolledSchedule


def build_report(schedule: Schedule, *, accuracies: Mapping[str, float | None],
                 sim: Mapping[str, Any] | None = None,
                 roms: list[str] | None = None,
                 synth: Mapping[str, Any] | None = None,
                 csim: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Assemble ``report.json``: accuracies, resources (from the plan), simulation results."""
    plan = schedule.plan
    totals = plan.totals()
    rep: dict[str, Any] = {
        "design": plan.name,
        "arch": schedule.arch,
        "artifact_sha256": plan.artifact_hash,
        "generator": f"hlsgen {plan.generator}",
        **accuracies,  # exact fractions: rounding is for the table, not the data
        **totals,
        "multipliers": schedule.multipliers,
        "adders": schedule.adders,
        "dsp_policy": schedule.dsp,
        "latency_cycles": schedule.latency,
        "initiation_interval": schedule.initiation_interval,
        "multiplier_reduction": _ratio(totals["dense_multipliers"], totals["block_multipliers"]),
        "weight_bit_reduction": _ratio(totals["dense_weight_bits"], totals["weight_bits"]),
        "layers": [
            {"name": l.name, "in": l.in_features, "out": l.out_features, "block": list(l.block),
             "blocks": {k: l.blocks.get(k, 0) for k in ("pruned", "unified", "dense")},
             "block_multipliers": l.block_multipliers,
             "dense_multipliers": l.dense_multipliers,
             "adders": s.adder_count, "multipliers": s.multiplier_count,
             "pipeline_stages": s.stages, "latency_cycles": s.latency,
             "weight_bits": l.weight_bits, "dense_weight_bits": l.dense_weight_bits,
             "acc_width": l.acc_width, "shift": l.shift}
            for l, s in zip(plan.layers, schedule.layers)
        ],
    }
    if plan.input_bits is not None:  # per-feature input widths (WRAP; 0: dropped)
        rep["input_bits"] = list(plan.input_bits)
        rep["input_type_bits"] = plan.in_type.bits
    if isinstance(schedule, FoldedSchedule):
        rep.update(_folded(schedule))
    if isinstance(schedule, UnrolledSchedule):
        costs = cost.estimate(schedule)
        rep["estimate"] = {**cost.totals(costs), "model": cost.CALIBRATION}
        for entry, c in zip(rep["layers"], costs):
            entry.update(lut_eq_estimate=c.lut_eq, ff_estimate=c.ff)
    if sim is not None:
        rep.update({k: sim[k] for k in ("rtl_accuracy", "rtl_vectors", "rtl_mismatches",
                                        "rtl_cycles", "rtl_protocol_errors", "rtl_tlast_ok",
                                        "simulator", "cycles_per_inference",
                                        "rtl_latency_cycles") if k in sim})
    if csim is not None:  # the HLS C++ design's C simulation (hlsgen csim, run --hls)
        rep.update({k: csim[k] for k in ("csim_vectors", "csim_mismatches", "csim_accuracy",
                                        "csim_tlast_ok", "csim_compile_s", "csim_compiler")
                    if k in csim})
    if roms is not None:
        rep["rom_files"] = roms
    if synth is not None:
        rep["synth"] = dict(synth)
        if "estimate" in rep:
            rep["estimate_vs_synth"] = _versus(rep["estimate"], synth)
    return rep


# The targets whose cells the cost model predicts: ECP5 (LUT-eq = LUT4 + 2 x CCU2C); with DSPs
# on, the multipliers' DSP blocks too.
ESTIMATED_TARGETS = ("ecp5_nodsp", "ecp5")


def _versus(est: Mapping[str, Any], synth: Mapping[str, Any]) -> dict[str, Any]:
    """Each estimated figure beside the measured one, with measured / estimate."""
    out: dict[str, Any] = {}
    for name in ESTIMATED_TARGETS:
        r = synth.get(name)
        if not isinstance(r, Mapping) or "lut_eq" not in r:
            continue
        if name == "ecp5_nodsp" and est["dsp"]:
            continue  # the model's LUT-eq assumes the multipliers are DSP blocks
        out[name] = {k: {"estimate": est[k], "measured": r[m],
                         "ratio": _ratio(r[m], est[k])}
                     for k, m in (("lut_eq", "lut_eq"), ("ff", "ff"), ("dsp", "dsp"))}
    return out


def _folded(schedule: FoldedSchedule) -> dict[str, Any]:
    """A folded design's figures: ROM bits, the cycle lower bound, and per layer P, the ROM
    (depth x width, bits), the busiest PE's blocks and words, and the layer's bound."""
    return {
        "rom_bits": schedule.rom_bits,
        # max over layers of ceil(kept_blocks / P): the layers overlap, so the slowest
        # layer's walk bounds the interval between inferences
        "cycles_lower_bound": schedule.cycles_lower_bound,
        "folded_layers": [
            {"name": l.plan.name, "kept_blocks": l.kept_blocks, "pes": l.pes,
             "rom_depth": l.depth, "rom_width": l.pes * l.capacity.pe_width,
             "rom_pe_width": l.capacity.pe_width, "rom_bits": l.rom_bits,
             "busiest_pe_blocks": l.busiest_blocks, "busiest_pe_words": l.busiest,
             "cycles_lower_bound": l.lower_bound, "walk_cycles": l.depth,
             "multipliers": l.multiplier_count}
            for l in getattr(schedule, "folded_layers", schedule.layers)],
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


def _pct(v: Any) -> str:
    return f"{100 * v:.2f}%" if isinstance(v, (int, float)) else "n/a"


def summary_table(rep: Mapping[str, Any]) -> str:
    """The human summary printed at the end of a run."""
    b = rep["blocks"]
    rows = [
        ("float accuracy (dense, float)", _pct(rep.get("float_accuracy"))),
        ("compressed float accuracy", _pct(rep.get("compressed_float_accuracy"))),
        ("integer reference accuracy", _pct(rep.get("int_accuracy"))),
        ("RTL accuracy", _pct(rep.get("rtl_accuracy"))),
        ("RTL vectors / mismatches",
         f"{rep.get('rtl_vectors', 'n/a')} / {rep.get('rtl_mismatches', 'n/a')}"),
        ("blocks pruned / unified / dense", f"{b['pruned']} / {b['unified']} / {b['dense']}"),
        ("block multipliers (dense baseline)",
         f"{rep['block_multipliers']} ({rep['dense_multipliers']}, "
         f"x{rep['multiplier_reduction']})"),
        ("RTL adders / multipliers", f"{rep['adders']} / {rep['multipliers']}"),
        ("weight bits (dense baseline)",
         f"{rep['weight_bits']} ({rep['dense_weight_bits']}, x{rep['weight_bit_reduction']})"),
        ("latency / II (cycles)", f"{rep['latency_cycles']} / {rep['initiation_interval']}"),
    ]
    if rep.get("input_bits") is not None:
        bits = rep["input_bits"]
        rows.append(("input bits kept / of (features dropped)",
                     f"{sum(bits)} / {len(bits) * rep['input_type_bits']} "
                     f"({sum(b == 0 for b in bits)})"))
    if rep.get("min_accuracy") is not None:
        rows.insert(3, ("validation integer accuracy (floor)",
                        f"{_pct(rep.get('validation_int_accuracy'))} (>= "
                        f"{_pct(rep['min_accuracy'])})"))
    if "rtl_latency_cycles" in rep:
        rows.append(("latency / interval measured (no stalls)",
                     f"{rep['rtl_latency_cycles']} / {rep['cycles_per_inference']} (plan "
                     f"x{_ratio(rep['rtl_latency_cycles'], rep['latency_cycles'])} / "
                     f"x{_ratio(rep['cycles_per_inference'], rep['initiation_interval'])})"))
    if "csim_vectors" in rep:
        rows.append(("C-sim (g++) vectors / mismatches",
                     f"{rep['csim_vectors']} / {rep['csim_mismatches']}"))
    if "rtl_cycles" in rep:
        rows.append(("RTL cycles, all vectors (with stalls)", str(rep["rtl_cycles"])))
    for l in rep.get("folded_layers", ()):
        rows.append((f"{l['name']}: PEs, ROM depth x width (bits)",
                     f"{l['pes']}, {l['rom_depth']} x {l['rom_width']} ({l['rom_bits']})"))
        rows.append((f"{l['name']}: kept / busiest-PE blocks, bound",
                     f"{l['kept_blocks']} / {l['busiest_pe_blocks']}, {l['cycles_lower_bound']}"))
    if "cycles_lower_bound" in rep:
        rows.append(("cycles per inference (measured / bound)",
                     f"{rep.get('cycles_per_inference', 'n/a')} / {rep['cycles_lower_bound']}"))
        rows.append(("ROM bits", str(rep["rom_bits"])))
    if "estimate" in rep:
        e = rep["estimate"]
        rows.append(("estimate: ECP5 LUT-eq / FF / DSP", f"{e['lut_eq']} / {e['ff']} / {e['dsp']}"))
    rows += _synth_rows(rep.get("synth") or {})
    for name, v in (rep.get("estimate_vs_synth") or {}).items():
        rows.append((f"{name} measured / estimate",
                     ", ".join(f"{k} {x['measured']}/{x['estimate']} (x{x['ratio']})"
                               for k, x in v.items() if x["estimate"] or x["measured"])))
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 24)
    title = f"hlsgen report: {rep['design']} ({rep['arch']}, artifact {rep['artifact_sha256'][:12]})"
    body = "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
    return f"{title}\n{line}\n{body}\n{line}"


def _synth_rows(synth: Mapping[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name, r in synth.items():
        what = f"{r.get('lut', 'n/a')} LUT, {r.get('carry', 'n/a')} carry, {r.get('ff', 'n/a')} FF, " \
               f"{r.get('dsp', 'n/a')} DSP, {r.get('bram', 'n/a')} BRAM"
        if "lut_eq" in r:
            what += f" = {r['lut_eq']} LUT-eq"
        rows.append((f"synth {name}", what))
        if "fmax_mhz" in r:
            rows.append((f"synth {name} Fmax (post-route, {r.get('device', '?')})",
                         f"{r['fmax_mhz']} MHz"))
    return rows


def synth_table(synth: Mapping[str, Any]) -> str:
    """The synthesis figures alone, as printed by ``hlsgen synth``."""
    rows = _synth_rows(synth)
    width = max((len(k) for k, _ in rows), default=0)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def dumps(rep: Mapping[str, Any]) -> str:
    return json.dumps(rep, indent=2, sort_keys=True) + "\n"
