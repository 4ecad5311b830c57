"""The 2-D convolution with micro-structured integer weights (groups 1, zero padding).

Geometry: the input map ``(channels, in_height, in_width)``, ``out_channels``, ``kernel``
``[Kh, Kw]``, ``stride`` ``[Sh, Sw]`` and ``padding`` ``[Ph, Pw]`` (each pair may be one
integer for both); the output map is ``(out_channels, Ho, Wo)`` with
``Ho = (H + 2 Ph - Kh) // Sh + 1`` (likewise ``Wo``). Padding is the integer 0 of the input
type (the real value 0).

**The weight matrix.** PyTorch's weight ``[O, C, Kh, Kw]`` is stored as the matrix
``[O, Kh*Kw*C]`` whose column ``(ky * Kw + kx) * C + c`` holds ``w[o, c, ky, kx]``
(``weight.permute(0, 2, 3, 1).reshape(O, -1)``): kernel position major, input channel minor.
A window of the input is the same vector (:func:`hlsgen.numerics.im2col`): the ``Kh*Kw``
input pixels in raster order, each with its ``C`` channels contiguous, exactly as the
pixels arrive on the stream (one pixel, all channels, per beat). This matrix is stored,
validated and planned like a dense layer's (``dense.py``: ``block``, ``block_kinds``,
``unified``, ``dense``, ``bias`` at accumulator scale), so pruning, unification, the block
ROMs and the shared adder graph apply unchanged; the graph is evaluated once per output
pixel on its window.

**Block shapes.** A block ``(br, bc)`` covers ``br`` output channels and ``bc`` consecutive
window columns. With ``bc`` dividing ``C`` a block is ``bc`` input channels at one kernel
position: contiguous inputs of one pixel (the recommended shape, e.g. ``(1, C)``: one
unified block is one kernel tap of one output channel over all input channels). With
``bc = k*C`` a block spans ``k`` consecutive kernel positions of a row; ``bc = Kh*Kw*C`` is a
whole kernel. Other widths are legal and simply straddle pixels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..fixedpoint import QType
from ..layerplan import LayerPlan
from ..numerics import conv_acc, conv_out_size, layer_shift, requantize
from ..validation import check_int, check_name, fail, get
from .base import LayerKind, Shape
from .dense import MAX_FEATURES, DenseLayer
from .spatial import (MAX_CHANNELS, MAX_KERNEL, SpatialPlan, as_maps, check_chain, map_fields,
                      pair)

GEOMETRY_FIX = "fix the layer's geometry or re-export the model"


@dataclass(frozen=True, eq=False)
class Conv2dLayer(LayerKind):
    """``y = requant(conv2d(x, W) + b)``, ReLU fused, with the weight as its matrix."""

    kind: ClassVar[str] = "conv2d"

    name: str
    in_chw: tuple[int, int, int]
    out_channels: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]
    block: tuple[int, int]
    kinds: np.ndarray        # uint8 block-kind map of the [O, Kh*Kw*C] matrix
    weight: np.ndarray       # int64 [O, Kh*Kw*C], column (ky*Kw + kx)*C + c
    bias: np.ndarray         # int64 [O], at accumulator scale
    w_bits: int
    w_frac: int
    output: QType
    relu: bool
    type: str = field(default="conv2d", init=False)

    # ------------------------------------------------------------------------ geometry

    @property
    def window(self) -> int:
        """Columns of the weight matrix: ``Kh*Kw*C``."""
        return self.kernel[0] * self.kernel[1] * self.in_chw[0]

    @property
    def in_features(self) -> int:   # the matrix's, as for a dense layer
        return self.window

    @property
    def out_features(self) -> int:
        return self.out_channels

    @property
    def out_hw(self) -> tuple[int, int]:
        _, h, w = self.in_chw
        return (conv_out_size(h, self.kernel[0], self.stride[0], self.padding[0]),
                conv_out_size(w, self.kernel[1], self.stride[1], self.padding[1]))

    @property
    def in_shape(self) -> Shape:
        return tuple(self.in_chw)

    @property
    def out_shape(self) -> Shape:
        return (self.out_channels, *self.out_hw)

    @property
    def matrix(self) -> DenseLayer:
        """The weight matrix as a dense layer (what is evaluated on every window)."""
        return DenseLayer(name=self.name, in_features=self.window,
                          out_features=self.out_channels, block=self.block, kinds=self.kinds,
                          weight=self.weight, bias=self.bias, w_bits=self.w_bits,
                          w_frac=self.w_frac, output=self.output, relu=self.relu)

    @staticmethod
    def matrix_from_weight(w: np.ndarray) -> np.ndarray:
        """PyTorch's ``[O, C, Kh, Kw]`` weight as the layer's ``[O, Kh*Kw*C]`` matrix."""
        w = np.asarray(w)
        return w.transpose(0, 2, 3, 1).reshape(w.shape[0], -1)

    def kernel_weight(self) -> np.ndarray:
        """The weight as PyTorch's ``[O, C, Kh, Kw]`` (inverse of :meth:`matrix_from_weight`)."""
        c = self.in_chw[0]
        kh, kw = self.kernel
        return self.weight.reshape(self.out_channels, kh, kw, c).transpose(0, 3, 1, 2)

    # ---------------------------------------------------------------------- validation

    def validate(self, index: int, in_shape: Shape, in_q: QType) -> None:
        where = f"layer {index} ({self.name!r})"
        check_name(f"layer {index}", self.name)
        check_chain(where, "channels", in_shape, self.in_chw)
        _check_geometry(where, self.in_chw, self.kernel, self.stride, self.padding)
        check_int(f"{where}.out_channels", self.out_channels, 1, MAX_CHANNELS)
        if self.window > MAX_FEATURES:
            fail(where, f"a window of {self.window} inputs is too large", GEOMETRY_FIX)
        self.matrix.validate(index, (self.window,), in_q)

    # ---------------------------------------------------------------------------- JSON

    def to_json(self) -> dict[str, Any]:
        body = self.matrix.to_json()
        for key in ("type", "name", "in_features", "out_features"):
            body.pop(key)
        c, h, w = self.in_chw
        return {"type": "conv2d", "name": self.name, "channels": c, "in_height": h,
                "in_width": w, "out_channels": self.out_channels, "kernel": list(self.kernel),
                "stride": list(self.stride), "padding": list(self.padding), **body}

    @classmethod
    def from_json(cls, obj: Any, index: int, in_shape: Shape) -> "Conv2dLayer":
        where = f"layer {index}"
        name = get(obj, "name", str, where)
        where = f"layer {index} ({name!r})"
        chw = map_fields(obj, where)
        check_chain(where, "channels", in_shape, chw)
        kernel = pair(obj, "kernel", where, 1, MAX_KERNEL)
        stride = pair(obj, "stride", where, 1, MAX_KERNEL)
        padding = pair(obj, "padding", where, 0, MAX_KERNEL - 1)
        _check_geometry(where, chw, kernel, stride, padding)
        out_c = check_int(f"{where}.out_channels", get(obj, "out_channels", int, where), 1,
                          MAX_CHANNELS)
        window = kernel[0] * kernel[1] * chw[0]
        if window > MAX_FEATURES:
            fail(where, f"a window of {window} inputs is too large", GEOMETRY_FIX)
        mat = DenseLayer.from_json({**obj, "type": "dense", "in_features": window,
                                    "out_features": out_c}, index, (window,))
        return cls(name=name, in_chw=chw, out_channels=out_c, kernel=kernel, stride=stride,
                   padding=padding, block=mat.block, kinds=mat.kinds, weight=mat.weight,
                   bias=mat.bias, w_bits=mat.w_bits, w_frac=mat.w_frac, output=mat.output,
                   relu=mat.relu)

    # ----------------------------------------------------------------------- execution

    def execute(self, x: np.ndarray, in_q: QType) -> np.ndarray:
        acc = conv_acc(self, as_maps(x, self.in_chw))
        return requantize(acc, layer_shift(in_q, self), self.relu, self.output)

    # ---------------------------------------------------------------------------- plan

    def plan(self, index: int, in_q: QType) -> LayerPlan:
        lp = self.matrix.plan(index, in_q)
        values = {f.name: getattr(lp, f.name) for f in dataclasses.fields(lp)}
        values["kind"] = self.kind
        return SpatialPlan(**values, in_shape=self.in_chw, out_shape=tuple(self.out_shape),
                           kernel=self.kernel, stride=self.stride, padding=self.padding)


def _check_geometry(where: str, chw: tuple[int, int, int], kernel: tuple[int, int],
                    stride: tuple[int, int], padding: tuple[int, int]) -> None:
    c, h, w = chw
    for axis, size, k, s, p in (("height", h, kernel[0], stride[0], padding[0]),
                                ("width", w, kernel[1], stride[1], padding[1])):
        if not 1 <= k <= MAX_KERNEL or s < 1:
            fail(f"{where}.kernel", f"kernel {kernel} / stride {stride} out of range",
                 GEOMETRY_FIX)
        if p >= k:
            fail(f"{where}.padding", f"padding {p} must be smaller than the kernel {k} along "
                 f"the {axis}", GEOMETRY_FIX)
        if size + 2 * p < k:
            fail(f"{where}.kernel", f"the {axis} {size} plus padding {2 * p} is smaller than "
                 f"the kernel {k}", GEOMETRY_FIX)
