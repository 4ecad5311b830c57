"""The Verilog backend: renders a DesignPlan into ``rtl/*.v`` files.

All widths come from the plan. This module only names things and formats expressions
(sums of already-sized terms); it makes no arithmetic decisions.
"""

from __future__ import annotations

import json

from .artifact import BlockKind
from .pe import PEPlan
from .plan import DesignPlan, LayerPlan
from .templating import render, v_bits, v_lit, v_sext

SKID_FILE = "hlsgen_axis_skid.v"


def _file_header(plan: DesignPlan, what: str) -> str:
    return (f"// {what}\n// {plan.header}. Do not edit: regenerate with `hlsgen generate`.\n"
            "`timescale 1ns/1ps\n`default_nettype none\n\n")


_FOOTER = "\n`default_nettype wire\n"


def top_module(plan: DesignPlan) -> str:
    return f"{plan.name}_top"


def _layer_module(plan: DesignPlan, layer: LayerPlan) -> str:
    return f"{plan.name}_layer{layer.index}"


def _pe_module(plan: DesignPlan, layer: LayerPlan, pe: PEPlan) -> str:
    return f"{plan.name}_l{layer.index}_pe{pe.index}"


def _dense_row_sum(pe: PEPlan, r: int) -> str:
    """``x0 * 8'sd3 - x2 + ...`` for one row of a dense PE; zero weights contribute nothing."""
    terms = []
    for c, w in enumerate(pe.coeffs[r]):
        if w == 0:
            continue
        mag = abs(w)
        term = f"x{c}" if mag == 1 else f"x{c} * {v_lit(mag, pe.out_width)}"
        terms.append(("- " if w < 0 else "+ ") + term)
    if not terms:
        return v_lit(0, pe.out_width)
    first = terms[0]
    text = (first[2:] if first.startswith("+") else "-" + first[2:])
    return " ".join([text] + terms[1:])


def _row_sum(layer: LayerPlan, index: int) -> str:
    """Bias plus rounding constant plus every PE output of one row, at accumulator width."""
    row = layer.rows[index]
    parts = [v_lit(row.bias + layer.round_const, layer.acc_width)]
    for pe_index, local in row.terms:
        pe = layer.pes[pe_index]
        parts.append(v_sext(f"pe{pe_index}_y", layer.acc_width, pe.out_width,
                            local * pe.out_width))
    return " + ".join(parts)


def _requant_expr(layer: LayerPlan, q: str) -> str:
    """Saturate the shifted accumulator ``q`` (only where its range demands) into the output."""
    ob = layer.out_type.bits
    if layer.q_width >= ob:
        value = f"{q}[{ob - 1}:0]"
    else:
        value = v_sext(q, ob, layer.q_width)
    if layer.clamp_lo is not None:
        value = f"({q} < {v_lit(layer.clamp_lo, layer.q_width)}) ? {v_bits(layer.clamp_lo, ob)} : {value}"
    if layer.clamp_hi is not None:
        value = f"({q} > {v_lit(layer.clamp_hi, layer.q_width)}) ? {v_bits(layer.clamp_hi, ob)} : {value}"
    return value


def _render_layer(plan: DesignPlan, layer: LayerPlan) -> dict[str, str]:
    """The layer module and one module per kept block, each in its own file."""
    files = {}
    pe_modules = {}
    for pe in layer.pes:
        name = _pe_module(plan, layer, pe)
        pe_modules[pe.index] = name
        if pe.kind is BlockKind.UNIFIED:
            text = render("verilog/pe_unified.v.j2", module=name, pe=pe, layer=layer,
                          xs=[f"x{c}" for c in range(len(pe.cols))])
        else:
            used = [c for c in range(len(pe.cols)) if any(row[c] for row in pe.coeffs)]
            text = render("verilog/pe_dense.v.j2", module=name, pe=pe, layer=layer,
                          dense_sums=[_dense_row_sum(pe, r) for r in range(len(pe.rows))],
                          used_cols=used)
        files[f"{name}.v"] = (_file_header(plan, f"{pe.kind.name.lower()} PE {pe.index} of "
                                           f"layer {layer.index}") + text + _FOOTER)
    module = _layer_module(plan, layer)
    files[f"{module}.v"] = _file_header(plan, f"layer {layer.index} ({layer.name})") + render(
        "verilog/layer.v.j2", module=module, layer=layer,
        pe_modules=pe_modules,
        pe_inputs={pe.index: [f"in{c}" for c in pe.cols] for pe in layer.pes},
        row_sums={r.index: _row_sum(layer, r.index) for r in layer.rows},
        requant_expr=lambda q: _requant_expr(layer, q)) + _FOOTER
    return files


def render_verilog(plan: DesignPlan) -> dict[str, str]:
    """Every RTL file of the design, by file name."""
    files = {SKID_FILE: _file_header(plan, "AXI4-Stream skid buffer (hand-written, shared)")
             + render("verilog/hlsgen_axis_skid.v.j2") + _FOOTER}
    for layer in plan.layers:
        files.update(_render_layer(plan, layer))
    files[f"{top_module(plan)}.v"] = (
        _file_header(plan, f"top level of {plan.name}")
        + render("verilog/top_unrolled.v.j2", module=top_module(plan), plan=plan,
                 layer_modules={l.index: _layer_module(plan, l) for l in plan.layers})
        + _FOOTER)
    return files


def manifest(plan: DesignPlan, files: list[str]) -> str:
    """``design.json``: what a testbench or a synthesis script needs to drive the design."""
    doc = {
        "generator": f"hlsgen {plan.generator}",
        "artifact_sha256": plan.artifact_hash,
        "arch": plan.arch,
        "name": plan.name,
        "top": top_module(plan),
        "sources": [f"rtl/{f}" for f in files],
        "in_features": plan.in_features,
        "in_bits": plan.in_type.bits,
        "in_signed": plan.in_type.signed,
        "out_features": plan.out_features,
        "out_bits": plan.out_type.bits,
        "out_signed": plan.out_type.signed,
        "latency": plan.latency,
        "initiation_interval": 1,
    }
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
