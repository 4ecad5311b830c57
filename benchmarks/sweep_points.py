"""What the sweep-driven benchmarks (``compression.py``, ``lut_pareto.py``) share: a point's
compressor settings as an ``hlsgen compress`` command line and as sweep-spec TOML."""

from __future__ import annotations

import json
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
