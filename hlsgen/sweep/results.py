"""The sweep's outputs: ``results.jsonl`` (one JSON object per finished point, appended as
points finish), the Pareto fronts (accuracy against each cost), ``pareto.png`` and
``summary.md``."""

from __future__ import annotations

import io
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from .. import __version__
from ..output import OutputError, atomic_write_text, plain_mode

RESULTS = "results.jsonl"
ARTIFACTS = "artifacts"
PARETO_PNG = "pareto.png"
SUMMARY = "summary.md"
OUTPUTS = (RESULTS, ARTIFACTS, PARETO_PNG, SUMMARY)

# (row field, axis label): accuracy is maximized, every cost minimized
COSTS = (("lut_eq", "LUT-equivalents (ECP5)"), ("weight_bits", "weight bits"),
         ("latency_cycles", "latency (cycles)"), ("adders", "adders"))


def read_results(path: Path) -> dict[str, dict[str, Any]]:
    """The rows of a results file by point key (a later row of a point replaces an earlier
    one; a line cut short by an interruption is ignored, and its point runs again)."""
    rows: dict[str, dict[str, Any]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return rows
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(row, dict) and isinstance(row.get("point"), str):
            rows[row["point"]] = row
    return rows


@dataclass(frozen=True)
class ResultsFile:
    """Appends rows to ``results.jsonl``, each line flushed to disk before the next point is
    counted done, so an interrupted sweep keeps every finished point."""

    path: Path

    def append(self, row: Mapping[str, Any]) -> None:
        line = json.dumps(row, sort_keys=True, allow_nan=False) + "\n"
        with open(self.path, "a+b") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() > 0:   # an earlier run stopped mid-line: start a fresh one
                fh.seek(-1, os.SEEK_END)
                if fh.read(1) != b"\n":
                    fh.write(b"\n")
            fh.write(line.encode("utf-8"))
            fh.flush()
            os.fsync(fh.fileno())


def check_out_dir(out: Path) -> Path:
    """The sweep folder: new, or one a sweep wrote (it is resumed, never replaced)."""
    out = Path(out).absolute()
    if out.exists():
        if not out.is_dir():
            raise OutputError(f"{out} is a file, not a folder; choose another --out")
        foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUTS)
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise OutputError(f"{out} holds {shown}, which `hlsgen sweep` did not write; "
                              "choose another --out")
    return out


# ---------------------------------------------------------------------------- the figures

def accuracy(row: Mapping[str, Any]) -> float | None:
    """The point's accuracy: the simulated RTL's when simulated, else the integer
    reference model's."""
    for key in ("rtl_accuracy", "int_accuracy"):
        if isinstance(row.get(key), (int, float)):
            return float(row[key])
    return None


def cost(row: Mapping[str, Any], name: str) -> float | None:
    """A cost figure of the row (``lut_eq`` from the first synthesis target that has it)."""
    if name == "lut_eq":
        for target in (row.get("synth") or {}).values():
            if isinstance(target, dict) and isinstance(target.get("lut_eq"), (int, float)):
                return float(target["lut_eq"])
        return None
    value = row.get(name)
    return float(value) if isinstance(value, (int, float)) else None


def pareto_front(rows: Sequence[Mapping[str, Any]], name: str) -> list[Mapping[str, Any]]:
    """The rows no other row beats (accuracy at least as high and cost at most as low, one
    of them strictly), by increasing cost."""
    pts = [(cost(r, name), accuracy(r), r) for r in rows]
    pts = [(c, a, r) for c, a, r in pts if c is not None and a is not None]
    pts.sort(key=lambda p: (p[0], -p[1], p[2]["index"]))
    front, best = [], None
    for c, a, r in pts:
        if best is None or a > best:
            front.append(r)
            best = a
    return front


def costs_present(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """The costs some finished row has (``adders`` only when no LUT-equivalents exist)."""
    have = [(n, label) for n, label in COSTS if any(cost(r, n) is not None for r in rows)]
    if any(n == "lut_eq" for n, _ in have):
        have = [(n, label) for n, label in have if n != "adders"]
    return have


# ------------------------------------------------------------------------------ the outputs

def _params(row: Mapping[str, Any], axes: Sequence[str]) -> str:
    params = row.get("params") or {}
    shown = [f"{k}={_fmt(params[k])}" for k in axes if k in params]
    return ", ".join(shown) or f"point {row.get('index')}"


def _fmt(value: Any) -> str:
    if isinstance(value, list):   # a block shape as 1x16, anything else as [a,b]
        if len(value) == 2 and all(type(v) is int for v in value):
            return f"{value[0]}x{value[1]}"
        return "[" + ",".join(str(v) for v in value) + "]"
    if isinstance(value, str) and "/" in value:
        return Path(value).name
    return str(value)


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def pareto_table(rows: Sequence[Mapping[str, Any]], axes: Sequence[str]) -> str:
    """The Pareto fronts as Markdown tables, one per cost."""
    ok = [r for r in rows if r.get("status") == "ok" and accuracy(r) is not None]
    if not ok:
        return ("no Pareto front: no finished point has an accuracy (simulate digits "
                "classifiers on vectors = \"digits\")")
    parts = []
    for name, label in costs_present(ok):
        front = pareto_front(ok, name)
        lines = [f"### Pareto front: accuracy vs {label}", "",
                 f"| point | settings | accuracy | {label} | RTL mismatches |",
                 "|---:|---|---:|---:|---:|"]
        for r in front:
            lines.append(f"| {r['index']} | {_params(r, axes)} | {_pct(accuracy(r))} | "
                         f"{_fmt(int(cost(r, name) or 0))} | {r.get('rtl_mismatches', 'n/a')} |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def summary_markdown(name: str, rows: Sequence[Mapping[str, Any]], total: int,
                     axes: Sequence[str], elapsed_s: float) -> str:
    ok = [r for r in rows if r.get("status") == "ok"]
    failed = [r for r in rows if r.get("status") != "ok"]
    lines = [f"# Sweep {name}", "",
             f"{len(rows)} of {total} points finished: {len(ok)} ok, {len(failed)} failed "
             f"(this run {elapsed_s:.0f} s). Accuracy is the simulated RTL's on the test "
             "vectors, else the integer reference model's.", "",
             "| point | settings | status | accuracy | weight bits | adders | latency | "
             "LUT-eq |",
             "|---:|---|---|---:|---:|---:|---:|---:|"]
    for r in sorted(rows, key=lambda r: r["index"]):
        lut = cost(r, "lut_eq")
        lines.append(f"| {r['index']} | {_params(r, axes)} | {r.get('status')} | "
                     f"{_pct(accuracy(r))} | {r.get('weight_bits', 'n/a')} | "
                     f"{r.get('adders', 'n/a')} | {r.get('latency_cycles', 'n/a')} | "
                     f"{'n/a' if lut is None else int(lut)} |")
    lines += ["", pareto_table(rows, axes), ""]
    if failed:
        lines += ["## Failed points", ""]
        lines += [f"- point {r['index']} ({_params(r, axes)}): {r.get('error')}"
                  for r in sorted(failed, key=lambda r: r["index"])]
        lines.append("")
    return "\n".join(lines)


def write_pareto_png(path: Path, name: str, rows: Sequence[Mapping[str, Any]]) -> bool:
    """Accuracy against each cost, the front drawn as a step line; False when matplotlib is
    missing (the `sweep` extra installs it) or no finished point has figures."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        return False
    del matplotlib
    ok = [r for r in rows if r.get("status") == "ok" and accuracy(r) is not None]
    costs = costs_present(ok)
    if not costs:
        return False
    fig = Figure(figsize=(4.2 * len(costs), 3.6), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, len(costs), squeeze=False)[0]
    for ax, (cname, label) in zip(axes, costs):
        pts = [(cost(r, cname), accuracy(r)) for r in ok if cost(r, cname) is not None]
        ax.scatter([c for c, _ in pts], [100 * a for _, a in pts], s=18, color="0.6",
                   label="points")
        front = pareto_front(ok, cname)
        ax.step([cost(r, cname) for r in front], [100 * accuracy(r) for r in front],
                where="post", marker="o", color="C0", label="Pareto front")
        ax.set_xlabel(label)
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right", fontsize="small")
    fig.suptitle(f"sweep {name}: accuracy vs cost ({len(ok)} points)")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, metadata={"Software": f"hlsgen {__version__}"})
    _write_bytes(path, buf.getvalue())
    return True


def _write_bytes(path: Path, data: bytes) -> None:
    """Replace ``path`` by ``data`` through a temporary sibling and a rename."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, plain_mode(path, folder=False))
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


def write_summary(out: Path, name: str, rows: Iterable[Mapping[str, Any]], total: int,
                  axes: Sequence[str], elapsed_s: float) -> tuple[str, bool]:
    """Write ``summary.md`` and ``pareto.png``; returns the Markdown and whether the PNG was
    drawn."""
    rows = list(rows)
    text = summary_markdown(name, rows, total, axes, elapsed_s)
    atomic_write_text(out / SUMMARY, text)
    drawn = write_pareto_png(out / PARETO_PNG, name, rows)
    return text, drawn
