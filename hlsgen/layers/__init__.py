"""Layer kinds: one class per kind, each answering the same contract (see ``base.py``).

A new kind (conv2d, pooling, flatten) is a new module here plus one entry in ``KINDS``.
"""

from __future__ import annotations

from typing import Any

from ..validation import fail, get
from .base import LayerKind, Shape
from .avgpool2d import AvgPool2dLayer
from .conv2d import Conv2dLayer
from .dense import DenseLayer
from .flatten import FlattenLayer
from .maxpool2d import MaxPool2dLayer
from .spatial import SpatialPlan

# the union of the kinds below
Layer = DenseLayer | Conv2dLayer | MaxPool2dLayer | AvgPool2dLayer | FlattenLayer
KINDS: dict[str, type[LayerKind]] = {"dense": DenseLayer, "conv2d": Conv2dLayer,
                                     "maxpool2d": MaxPool2dLayer, "avgpool2d": AvgPool2dLayer,
                                     "flatten": FlattenLayer}


def layer_from_json(obj: Any, index: int, in_shape: Shape) -> Layer:
    """Parse and check one layer of the artifact, given the shape that enters it."""
    kind = get(obj, "type", str, f"layer {index}")
    if kind not in KINDS:
        fail(f"layer {index}", f"unsupported layer type {kind!r}; this hlsgen supports "
             f"{', '.join(repr(k) for k in KINDS)}",
             "upgrade hlsgen or export only supported layers")
    return KINDS[kind].from_json(obj, index, in_shape)  # type: ignore[return-value]


__all__ = ["AvgPool2dLayer", "Conv2dLayer", "DenseLayer", "FlattenLayer", "KINDS", "Layer",
           "LayerKind", "MaxPool2dLayer", "Shape", "SpatialPlan", "layer_from_json"]
