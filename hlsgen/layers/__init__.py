"""Layer kinds: one class per kind, each answering the same contract (see ``base.py``).

A new kind (conv2d, pooling, flatten) is a new module here plus one entry in ``KINDS``.
"""

from __future__ import annotations

from typing import Any

from ..validation import fail, get
from .base import LayerKind, Shape
from .dense import DenseLayer

Layer = DenseLayer  # the union of the kinds below
KINDS: dict[str, type[LayerKind]] = {"dense": DenseLayer}


def layer_from_json(obj: Any, index: int, in_shape: Shape) -> Layer:
    """Parse and check one layer of the artifact, given the shape that enters it."""
    kind = get(obj, "type", str, f"layer {index}")
    if kind not in KINDS:
        fail(f"layer {index}", f"unsupported layer type {kind!r}; this hlsgen supports "
             f"{', '.join(repr(k) for k in KINDS)}",
             "upgrade hlsgen or export only supported layers")
    return KINDS[kind].from_json(obj, index, in_shape)  # type: ignore[return-value]


__all__ = ["DenseLayer", "KINDS", "Layer", "LayerKind", "Shape", "layer_from_json"]
