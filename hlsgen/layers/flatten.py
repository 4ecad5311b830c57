"""Flatten a feature map ``(C, H, W)`` into ``C*H*W`` features in PyTorch's order: feature
``c*H*W + y*W + x`` is channel ``c`` of the pixel at row ``y``, column ``x``. The values and
their type are unchanged. JSON: ``{"type": "flatten", "name", "channels", "in_height",
"in_width", "output"}``. In hardware it is wiring: the pixels of a map are collected and
their channels placed at these positions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..blocks import input_width
from ..fixedpoint import QType
from ..layerplan import LayerPlan
from ..validation import check_name, get, qtype_from_json
from .base import LayerKind, Shape
from .spatial import as_maps, check_chain, check_same_type, map_fields, passthrough_plan


@dataclass(frozen=True, eq=False)
class FlattenLayer(LayerKind):
    kind: ClassVar[str] = "flatten"

    name: str
    in_chw: tuple[int, int, int]
    output: QType
    type: str = field(default="flatten", init=False)

    @property
    def in_shape(self) -> Shape:
        return tuple(self.in_chw)

    @property
    def out_shape(self) -> Shape:
        c, h, w = self.in_chw
        return (c * h * w,)

    @property
    def out_features(self) -> int:
        return self.out_shape[0]

    def validate(self, index: int, in_shape: Shape, in_q: QType) -> None:
        where = f"layer {index} ({self.name!r})"
        check_name(f"layer {index}", self.name)
        check_chain(where, "channels", in_shape, self.in_chw)
        check_same_type(where, self.output, in_q)

    def to_json(self) -> dict[str, Any]:
        c, h, w = self.in_chw
        return {"type": "flatten", "name": self.name, "channels": c, "in_height": h,
                "in_width": w, "output": self.output.to_json()}

    @classmethod
    def from_json(cls, obj: Any, index: int, in_shape: Shape) -> "FlattenLayer":
        where = f"layer {index}"
        name = get(obj, "name", str, where)
        where = f"layer {index} ({name!r})"
        chw = map_fields(obj, where)
        check_chain(where, "channels", in_shape, chw)
        return cls(name=name, in_chw=chw,
                   output=qtype_from_json(get(obj, "output", dict, where), f"{where}.output"))

    def execute(self, x: np.ndarray, in_q: QType) -> np.ndarray:
        maps = as_maps(x, self.in_chw)
        return maps.reshape(maps.shape[0], -1)

    def plan(self, index: int, in_q: QType) -> LayerPlan:
        xw = input_width(in_q)
        return passthrough_plan(index, self.name, self.kind, in_q, self.in_chw,
                                self.out_shape, (1, 1), acc_width=xw, shift=0, in_width=xw)
