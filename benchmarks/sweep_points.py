"""What the sweep-driven benchmarks (``compression.py``, ``lut_pareto.py``) share: a point's
compressor settings as an ``hlsgen compress`` command line and as sweep-spec TOML."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Mapping


def cli_value(key: str, value: Any) -> str:
    """One setting as ``hlsgen compress`` spells it (block shapes ``RxC``, lists ``a,b``)."""
    if isinstance(value, tuple):
        return "x".join(map(str, value)) if key.endswith("block") else ",".join(map(str, value))
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)


def cli_of(settings: Mapping[str, Any]) -> list[str]:
    """The ``hlsgen compress`` command with these settings (in their order)."""
    args = ["hlsgen", "compress"]
    for key, value in settings.items():
        args += [f"--{key.replace('_', '-')}", cli_value(key, value)]
    return args + ["--out", "artifact.json"]


def toml_value(value: Any) -> str:
    """A setting as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)
    return repr(value)


def points_toml(points: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    """One ``[[points]]`` table per ``(net, name, settings)``."""
    lines: list[str] = []
    for net, name, settings in points:
        lines += [f"[[points]]   # {net} {name}"]
        lines += [f"{k} = {toml_value(v)}" for k, v in settings.items()]
        lines.append("")
    return lines


def run_points(work: Path, spec_file: str, text: str,
               points: list[tuple[str, str, dict[str, Any]]], workers: int, tool: str):
    """Write the spec ``text`` to ``work/spec_file`` and run it as a sweep in ``work/sweep``
    (finished points are skipped). Returns the sweep's outcome and, per point, its
    ``(net, name, settings, result row, network)``; ``None`` (after one line on stderr naming
    the point) when a point failed."""
    from hlsgen import artifact
    from hlsgen.sweep import SweepOptions, load_spec, run_sweep
    from hlsgen.sweep.results import ARTIFACTS, RESULTS, read_results

    spec_path = work / spec_file
    spec_path.write_text(text)
    spec = load_spec(spec_path)
    outcome = run_sweep(spec, SweepOptions(out=work / "sweep", workers=workers),
                        say=lambda msg: print(f"[sweep] {msg}", flush=True))
    results = read_results(work / "sweep" / RESULTS)
    done = []
    for (net, name, settings), point in zip(points, spec.points):
        result = results.get(point.key)
        if result is None or result.get("status") != "ok":
            why = "no result" if result is None else result.get("error")
            print(f"{tool}: {net} {name} (sweep point {point.key}) failed: {why}; see "
                  f"{work / 'sweep' / 'summary.md'}, rerun to retry", file=sys.stderr)
            return None
        network = artifact.load(work / "sweep" / ARTIFACTS / f"{point.key}.json")
        done.append((net, name, settings, result, network))
    return outcome, done
