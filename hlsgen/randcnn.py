"""Random micro-structured CNNs (conv2d, pooling, flatten, dense), for property tests."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .artifact import DenseLayer, Network, QType
from .blocks import input_width
from .layers import AvgPool2dLayer, Conv2dLayer, FlattenLayer, MaxPool2dLayer
from .numerics import conv_out_size
from .randnet import random_matrix


def _scale(rng: np.random.Generator, n_in: int, w_bits: int, in_q: QType, a_bits: int,
           signed: bool, n_out: int) -> tuple[np.ndarray, int, QType]:
    w_max = (1 << (w_bits - 1)) - 1
    span = max(1, int(np.sqrt(n_in)) * w_max * (1 << (input_width(in_q) - 1)))
    bias = rng.integers(-span, span + 1, size=n_out).astype(np.int64)
    w_frac = int(rng.integers(0, w_bits))
    shift = max(0, int(np.ceil(np.log2(span))) - (a_bits - 1) + int(rng.integers(-2, 3)))
    out_q = QType(a_bits, max(-32, min(32, in_q.frac + w_frac - shift)), signed=signed)
    return bias, w_frac, out_q


def random_conv(rng: np.random.Generator, name: str, chw: tuple[int, int, int], out_c: int,
                kernel: tuple[int, int], stride: tuple[int, int], padding: tuple[int, int],
                block: tuple[int, int], in_q: QType, w_bits: int = 8, a_bits: int = 8,
                relu: bool = True, kind_probs: tuple[float, float, float] = (0.4, 0.4, 0.2)
                ) -> Conv2dLayer:
    window = kernel[0] * kernel[1] * chw[0]
    kinds, weight = random_matrix(rng, out_c, window, block, w_bits, kind_probs)
    bias, w_frac, out_q = _scale(rng, window, w_bits, in_q, a_bits, not relu, out_c)
    return Conv2dLayer(name=name, in_chw=chw, out_channels=out_c, kernel=kernel, stride=stride,
                       padding=padding, block=block, kinds=kinds, weight=weight, bias=bias,
                       w_bits=w_bits, w_frac=w_frac, output=out_q, relu=relu)


def random_cnn(rng: np.random.Generator, in_chw: tuple[int, int, int],
               convs: Sequence[dict], pool: tuple[str, int] | None = None,
               dense: Sequence[int] = (), w_bits: int = 8, a_bits: int = 8,
               input_signed: bool = False, name: str = "random_cnn") -> Network:
    """Convs (each a dict of ``out``, ``kernel``, ``stride``, ``padding``, ``block``), an
    optional pooling ``("max"|"avg", k)``, then (when ``dense`` lists sizes) a flatten and
    dense layers; the last layer has no ReLU and signed outputs."""
    in_q = QType(a_bits, 0, input_signed)
    q = in_q
    chw = tuple(in_chw)
    layers: list = []
    last_conv = not dense and pool is None
    for i, c in enumerate(convs):
        is_last = last_conv and i == len(convs) - 1
        k, s, p = (tuple(c.get(key, d)) if isinstance(c.get(key, d), (tuple, list))
                   else (c.get(key, d), c.get(key, d))
                   for key, d in (("kernel", 3), ("stride", 1), ("padding", 0)))
        layer = random_conv(rng, f"conv{i}", chw, c["out"], k, s, p, tuple(c["block"]), q,
                            w_bits, a_bits, relu=not is_last)
        layers.append(layer)
        chw, q = layer.out_shape, layer.output
    if pool is not None:
        cls = MaxPool2dLayer if pool[0] == "max" else AvgPool2dLayer
        layers.append(cls(name="pool", in_chw=chw, kernel=(pool[1], pool[1]), output=q))
        chw = layers[-1].out_shape
    if dense:
        layers.append(FlattenLayer(name="flatten", in_chw=chw, output=q))
        n_in = int(np.prod(chw))
        for j, n_out in enumerate(dense):
            last = j == len(dense) - 1
            kinds, weight = random_matrix(rng, n_out, n_in, (1, 4), w_bits, (0.4, 0.4, 0.2))
            bias, w_frac, out_q = _scale(rng, n_in, w_bits, q, a_bits, last, n_out)
            layers.append(DenseLayer(name=f"fc{j}", in_features=n_in, out_features=n_out,
                                     block=(1, 4), kinds=kinds, weight=weight, bias=bias,
                                     w_bits=w_bits, w_frac=w_frac, output=out_q,
                                     relu=not last))
            n_in, q = n_out, out_q
    return Network(name=name, input_features=int(np.prod(in_chw)), input=in_q,
                   layers=tuple(layers), meta={"source": "random_cnn"})


__all__ = ["random_cnn", "random_conv", "random_matrix", "conv_out_size"]
