"""Average pooling over non-overlapping power-of-two windows (see ``_pool.py`` for the
fields). Rounding: the exact window sum is requantized by ``s = log2(Kh*Kw)`` bits,
``(sum + (1 << (s-1))) >> s`` (round half up, as every requantize), back to the input type
(:func:`hlsgen.numerics.pool_avg`); nothing can saturate. PyTorch's ``AvgPool2d`` followed
by rounding half up to the input's grid computes the same value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..fixedpoint import QType
from ..numerics import pool_avg
from ._pool import PoolLayer


@dataclass(frozen=True, eq=False)
class AvgPool2dLayer(PoolLayer):
    kind: ClassVar[str] = "avgpool2d"
    type: str = field(default="avgpool2d", init=False)

    def pool(self, maps: np.ndarray, in_q: QType) -> np.ndarray:
        return pool_avg(maps, self.kernel, in_q)

    def pool_shift(self) -> int:
        return self.sum_shift()
