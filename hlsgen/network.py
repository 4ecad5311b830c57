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
    """A compressed network: an input type and a list of typed layers."""

    name: str
    input_features: int
    input: QType
    layers: tuple[Layer, ...]
    meta: Mapping[str, Any] = field(default_factory=dict)

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
