"""The IR: a network is an input type and shape plus a list of typed layers, each layer
taking the shape and type the previous one produces. IR passes (BatchNorm folding, ...)
rewrite this list before compression or generation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .fixedpoint import QType
from .layers import Layer, Shape
from .validation import check_int, check_name, check_qtype, fail

MAX_INPUT_FEATURES = 1 << 16


@dataclass(frozen=True, eq=False)
class Network:
    """A compressed network: an input type and a list of typed layers.

    ``input_bits`` (optional): one width per input feature, each in ``[0, input.bits]``;
    before the first layer feature ``i`` keeps only its low ``input_bits[i]`` bits (WRAP,
    ``hlsgen.numerics.wrap_inputs``), 0 drops it. None: every feature at ``input.bits``."""

    name: str
    input_features: int
    input: QType
    layers: tuple[Layer, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)
    input_bits: tuple[int, ...] | None = None

    @property
    def input_shape(self) -> Shape:
        return (self.input_features,)

    @property
    def output(self) -> QType:
        return self.layers[-1].output

    @property
    def output_features(self) -> int:
        """Features of the output (a feature map's ``C*H*W``)."""
        shape = self.layers[-1].out_shape
        n = 1
        for s in shape:
            n *= s
        return n

    @property
    def output_shape(self) -> Shape:
        """The tensor shape of the output: ``(features,)`` or a feature map ``(C, H, W)``."""
        return self.layers[-1].out_shape

    @property
    def shapes(self) -> tuple[Shape, ...]:
        """The shape entering every layer, then the output's: a flat vector is
        ``(features,)``, a feature map ``(C, H, W)`` (``hlsgen/layers/spatial.py``)."""
        return tuple(self.layer_input_shape(i) for i in range(len(self.layers))) + \
            (self.output_shape,)

    def layer_input(self, index: int) -> QType:
        """The activation type entering layer ``index``."""
        return self.input if index == 0 else self.layers[index - 1].output

    def layer_input_shape(self, index: int) -> Shape:
        """The tensor shape entering layer ``index``."""
        return self.input_shape if index == 0 else self.layers[index - 1].out_shape


def validate(net: Network) -> None:
    """Check every invariant the generator relies on; raise ArtifactError naming the first break."""
    check_name("network", net.name)
    if not net.layers:
        fail(net.name, "the network has no layers")
    check_qtype("input", net.input)
    check_int("input.features", net.input_features, 1, MAX_INPUT_FEATURES)
    for i, layer in enumerate(net.layers):
        layer.validate(i, net.layer_input_shape(i), net.layer_input(i))
    if net.input_bits is not None:
        validate_input_bits(net.input_bits, net.input_features, net.input.bits,
                            net.layers[0].kind)


def validate_input_bits(bits: Any, features: int, type_bits: int, first_kind: str) -> None:
    """``input_bits``: one integer per input feature in ``[0, type_bits]``, before a dense
    first layer (feature-map networks keep one input width)."""
    fix = ("give one width per input feature, or drop input_bits to keep every feature at "
           "input.bits")
    if first_kind != "dense":
        fail("network.input_bits", f"input_bits needs a dense first layer (layer 0 is "
             f"{first_kind})", "drop input_bits: a feature-map network keeps one input width")
    if not isinstance(bits, (list, tuple)):
        fail("network.input_bits", f"expected a list of integers, got {type(bits).__name__}",
             fix)
    if len(bits) != features:
        fail("network.input_bits", f"{len(bits)} widths for {features} input features", fix)
    for i, b in enumerate(bits):
        if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b <= type_bits:
            fail(f"network.input_bits[{i}]", f"{b!r} is not an integer in [0, {type_bits}] "
                 "(the input type's bits)", "each width lies between 0 (dropped) and "
                 "input.bits")
