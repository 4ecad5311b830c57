"""What the feature-map layer kinds (conv2d, maxpool2d, avgpool2d, flatten) share: the plan
that carries their geometry, and the checks of their JSON geometry fields.

A feature map is ``(C, H, W)``. Between layers the golden model passes arrays
``[N, C, H, W]``; a flat vector of ``C*H*W`` features (the network input, or what a flatten
produced) is read as a map in PyTorch's order (feature ``c*H*W + y*W + x``). The hardware
streams a map one pixel (all ``C`` channels, channel 0 in the least significant bits) per
beat, rows top to bottom, pixels left to right (raster order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..fixedpoint import QType
from ..layerplan import LayerPlan
from ..validation import check_int, fail, get
from .base import Shape

MAX_SIDE = 1 << 12      # largest feature-map height or width
MAX_CHANNELS = 1 << 12  # most channels of a feature map
MAX_KERNEL = 16         # largest kernel side


@dataclass(frozen=True)
class SpatialPlan(LayerPlan):
    """A feature-map layer's neutral plan: the weighted part as for a dense layer (a conv's
    ``[O, Kh*Kw*C]`` matrix evaluated once per output pixel on its window; nothing for
    pooling and flatten) plus the geometry the streaming hardware needs."""

    in_shape: tuple[int, int, int]    # (C, H, W) entering the layer
    out_shape: tuple[int, ...]        # (C', H', W') or (features,) after a flatten
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]


def shape_text(shape: Shape) -> str:
    return f"{shape[0]} features" if len(shape) == 1 else "x".join(map(str, shape)) + " tensor"


def accepts(in_shape: Shape, chw: tuple[int, int, int]) -> bool:
    """Whether a layer declared for the map ``chw`` can take ``in_shape``: the map itself, or
    a flat vector of as many features (the network input is flat)."""
    return tuple(in_shape) == tuple(chw) or tuple(in_shape) == (chw[0] * chw[1] * chw[2],)


def as_maps(x: np.ndarray, chw: tuple[int, int, int]) -> np.ndarray:
    """A batch as ``[N, C, H, W]`` (flat vectors are read in PyTorch's order)."""
    x = np.asarray(x, dtype=np.int64)
    return x.reshape(x.shape[0], *chw)


def pair(obj: Any, key: str, where: str, lo: int, hi: int) -> tuple[int, int]:
    """A JSON field of two integers in ``[lo, hi]`` (a single integer means both)."""
    value = get(obj, key, (list, int), where)
    if isinstance(value, int):
        value = [value, value]
    if len(value) != 2 or not all(isinstance(v, int) and not isinstance(v, bool)
                                  and lo <= v <= hi for v in value):
        fail(f"{where}.{key}", f"expected two integers in [{lo}, {hi}] (or one for both), "
             f"got {value!r}", "fix the geometry field in the artifact or re-export the model")
    return (value[0], value[1])


def map_fields(obj: Any, where: str, prefix: str = "in_") -> tuple[int, int, int]:
    """``(channels, height, width)`` from ``channels``/``{prefix}height``/``{prefix}width``."""
    c = check_int(f"{where}.channels", get(obj, "channels", int, where), 1, MAX_CHANNELS)
    h = check_int(f"{where}.{prefix}height", get(obj, f"{prefix}height", int, where), 1,
                  MAX_SIDE)
    w = check_int(f"{where}.{prefix}width", get(obj, f"{prefix}width", int, where), 1,
                  MAX_SIDE)
    return (c, h, w)


def check_chain(where: str, field: str, in_shape: Shape, chw: tuple[int, int, int]) -> None:
    """The declared input map must be what the previous layer produces."""
    if not accepts(in_shape, chw):
        fail(f"{where}.{field}", f"the layer takes a {shape_text(chw)} but the previous layer "
             f"(or the network input) produces a {shape_text(in_shape)}",
             "fix the layer's channels/height/width or re-export the model")


def check_same_type(where: str, out: QType, in_q: QType) -> None:
    if out != in_q:
        fail(f"{where}.output", f"{out} differs from the input type {in_q}; pooling and "
             "flatten keep their input type", "set output to the previous layer's output")


def passthrough_plan(index: int, name: str, kind: str, in_q: QType, in_shape: tuple[int, int, int],
                     out_shape: tuple[int, ...], kernel: tuple[int, int], acc_width: int,
                     shift: int, in_width: int) -> SpatialPlan:
    """The plan of a layer without weights (pooling, flatten)."""
    n_in = in_shape[0] * in_shape[1] * in_shape[2]
    n_out = int(np.prod(out_shape))
    return SpatialPlan(
        index=index, name=name, kind=kind, in_features=n_in, out_features=n_out,
        in_type=in_q, out_type=in_q, block=(1, 1), w_bits=0, kept_blocks=(), rows=(),
        used_inputs=(), in_width=in_width, acc_width=acc_width, shift=shift,
        round_const=(1 << (shift - 1)) if shift > 0 else 0, q_width=in_q.bits + 1,
        clamp_hi=None, clamp_lo=None, relu=False, blocks={}, block_multipliers=0,
        dense_multipliers=0, weight_bits=0, dense_weight_bits=0, in_shape=in_shape,
        out_shape=tuple(out_shape), kernel=kernel, stride=kernel, padding=(0, 0))
