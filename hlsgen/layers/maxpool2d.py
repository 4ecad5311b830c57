"""Max pooling over non-overlapping power-of-two windows (see ``_pool.py`` for the fields):
each output is the largest integer of its window; the type is unchanged."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..fixedpoint import QType
from ..numerics import pool_max
from ._pool import PoolLayer


@dataclass(frozen=True, eq=False)
class MaxPool2dLayer(PoolLayer):
    kind: ClassVar[str] = "maxpool2d"
    type: str = field(default="maxpool2d", init=False)

    def pool(self, maps: np.ndarray, in_q: QType) -> np.ndarray:
        return pool_max(maps, self.kernel)
