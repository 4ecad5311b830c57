"""Checks shared by every part of the IR: each failure is one ArtifactError naming where,
what and the fix."""

from __future__ import annotations

import re
from typing import Any

from .fixedpoint import QType

MAX_BITS = 16  # widest activation or weight the generator accepts
REGENERATE = "regenerate the artifact with `hlsgen compress`"
NAME_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_. \-]{0,63}")


class ArtifactError(ValueError):
    """A malformed, corrupt, tampered or unsupported artifact. The message names the fix."""


def fail(where: str, problem: str, fix: str = REGENERATE) -> None:
    raise ArtifactError(f"{where}: {problem} ({fix})")


def check_int(where: str, value: Any, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(where, f"expected an integer, got {value!r}")
    if not lo <= value <= hi:
        fail(where, f"value {value} is outside [{lo}, {hi}]")
    return value


def check_qtype(where: str, q: QType) -> None:
    check_int(f"{where}.bits", q.bits, 2, MAX_BITS)
    check_int(f"{where}.frac", q.frac, -32, 32)
    if not isinstance(q.signed, bool):
        fail(f"{where}.signed", f"expected true/false, got {q.signed!r}")


def check_name(where: str, name: object) -> None:
    # names end up in file names, HDL identifiers and comments: keep them plain
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        fail(where, f"name {name!r} must be 1-64 characters of letters, digits, spaces, '_', '.' "
             "or '-'", "rename it in the model or the artifact")


def get(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    """``obj[key]`` of the given JSON type, or an ArtifactError naming the field."""
    if not isinstance(obj, dict) or key not in obj:
        fail(where, f"missing field {key!r}")
    value = obj[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        fail(f"{where}.{key}", f"expected {names}, got {type(value).__name__}")
    return value


def qtype_from_json(obj: Any, where: str) -> QType:
    return QType(bits=get(obj, "bits", int, where), frac=get(obj, "frac", int, where),
                 signed=get(obj, "signed", bool, where))
