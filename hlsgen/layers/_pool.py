"""What max and average pooling share (``maxpool2d.py``, ``avgpool2d.py``).

JSON: ``{"type", "name", "channels", "in_height", "in_width", "kernel": [Kh, Kw],
"output"}``. Windows are non-overlapping (stride = kernel), without padding; rows and
columns that do not fill a window are dropped (PyTorch's floor mode). Both sides of the
kernel are powers of two, so a window's address bits are a shift and, for the average, the
division is the requantize shift ``log2(Kh*Kw)``. The output type is the input type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..blocks import input_width
from ..fixedpoint import QType
from ..layerplan import LayerPlan
from ..validation import check_name, fail, get, qtype_from_json
from .base import LayerKind, Shape
from .spatial import (MAX_KERNEL, as_maps, check_chain, check_same_type, map_fields, pair,
                      passthrough_plan)

FIX = "use power-of-two pooling windows no larger than the map, or re-export the model"


@dataclass(frozen=True, eq=False)
class PoolLayer(LayerKind):
    kind: ClassVar[str] = ""

    name: str
    in_chw: tuple[int, int, int]
    kernel: tuple[int, int]
    output: QType

    @property
    def in_shape(self) -> Shape:
        return tuple(self.in_chw)

    @property
    def out_shape(self) -> Shape:
        c, h, w = self.in_chw
        return (c, h // self.kernel[0], w // self.kernel[1])

    @property
    def stride(self) -> tuple[int, int]:
        return self.kernel

    @property
    def padding(self) -> tuple[int, int]:
        return (0, 0)

    def validate(self, index: int, in_shape: Shape, in_q: QType) -> None:
        where = f"layer {index} ({self.name!r})"
        check_name(f"layer {index}", self.name)
        check_chain(where, "channels", in_shape, self.in_chw)
        _check_kernel(where, self.in_chw, self.kernel)
        check_same_type(where, self.output, in_q)

    def to_json(self) -> dict[str, Any]:
        c, h, w = self.in_chw
        return {"type": self.kind, "name": self.name, "channels": c, "in_height": h,
                "in_width": w, "kernel": list(self.kernel), "output": self.output.to_json()}

    @classmethod
    def from_json(cls, obj: Any, index: int, in_shape: Shape) -> "PoolLayer":
        where = f"layer {index}"
        name = get(obj, "name", str, where)
        where = f"layer {index} ({name!r})"
        chw = map_fields(obj, where)
        check_chain(where, "channels", in_shape, chw)
        kernel = pair(obj, "kernel", where, 1, MAX_KERNEL)
        _check_kernel(where, chw, kernel)
        return cls(name=name, in_chw=chw, kernel=kernel,
                   output=qtype_from_json(get(obj, "output", dict, where), f"{where}.output"))

    def pool(self, maps: np.ndarray, in_q: QType) -> np.ndarray:
        raise NotImplementedError

    def execute(self, x: np.ndarray, in_q: QType) -> np.ndarray:
        return self.pool(as_maps(x, self.in_chw), in_q)

    def sum_shift(self) -> int:
        return (self.kernel[0] * self.kernel[1]).bit_length() - 1

    def plan(self, index: int, in_q: QType) -> LayerPlan:
        # the average's window sum is exact: log2(Kh*Kw) bits wider than an input
        xw = input_width(in_q)
        return passthrough_plan(index, self.name, self.kind, in_q, self.in_chw,
                                tuple(self.out_shape), self.kernel,
                                acc_width=xw + self.sum_shift(), shift=self.pool_shift(),
                                in_width=xw)

    def pool_shift(self) -> int:
        return 0


def _check_kernel(where: str, chw: tuple[int, int, int], kernel: tuple[int, int]) -> None:
    for side, k in zip(chw[1:], kernel):
        if k & (k - 1) or k < 1:
            fail(f"{where}.kernel", f"{list(kernel)} is not a pair of powers of two", FIX)
        if k > side:
            fail(f"{where}.kernel", f"{list(kernel)} is larger than the {chw[1]}x{chw[2]} map",
                 FIX)
