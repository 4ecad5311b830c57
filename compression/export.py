"""Turn a frozen, calibrated torch MLP into an :class:`hlsgen.artifact.Network`.

Each ``Linear`` must carry the :class:`~compression.admm.MicroStructure` parametrization
(its block kinds, grid ``w_frac`` and ``w_bits``) and be followed by a calibrated
:class:`~compression.model.ActFakeQuant` (the output type); see
:func:`compression.model.calibrate`. Weights become the integers ``round(W * 2**w_frac)``
(exact: the parametrization keeps them on the grid), the bias ``round(b * 2**(in_frac +
w_frac))`` (accumulator scale), hidden outputs unsigned ``a_bits`` with ReLU fused, logits
signed ``a_bits``.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from hlsgen.artifact import DenseLayer, Network, QType, validate
from hlsgen.datasets import DIGITS_INPUT

from .admm import demote_zero_blocks
from .model import _weight_param, layer_fracs, linear_layers

__all__ = ["export_network", "json_safe"]


def json_safe(obj: Any) -> Any:
    """``obj`` with tuples as lists, numpy/torch scalars as Python numbers, no NaN/inf."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        return json_safe(obj.item())
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"metadata holds a non-finite number {obj!r}")
        return obj
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    raise TypeError(f"metadata value {obj!r} of type {type(obj).__name__} is not JSON-ready")


@torch.no_grad()
def export_network(model: nn.Sequential, input_type: QType = DIGITS_INPUT,
                   name: str = "digits_mlp", meta: Mapping[str, Any] | None = None) -> Network:
    """The integer :class:`Network` the fine-tuned, fake-quantized ``model`` computes."""
    fracs = layer_fracs(model)
    if fracs and fracs[0]["in_frac"] != input_type.frac:
        raise ValueError(f"the model was calibrated for input frac {fracs[0]['in_frac']}, "
                         f"not {input_type.frac}")
    layers = []
    in_features = None
    entries = linear_layers(model)
    for n, ((idx, lin, quant, relu), fr) in enumerate(zip(entries, fracs)):
        param = _weight_param(lin)
        assert param is not None and quant is not None
        if param.w_bits is None:
            raise ValueError(f"layer {idx}: the weights have no quantization grid (w_bits)")
        w_frac, w_bits = fr["w_frac"], int(param.w_bits)
        w = lin.weight.detach().double()
        k = torch.round(w * 2.0 ** w_frac)
        if not torch.equal(k * 2.0 ** -w_frac, w):
            raise ValueError(f"layer {idx}: weights are not on their 2**-{w_frac} grid")
        weight = k.to(torch.int64).numpy()
        kinds = demote_zero_blocks(lin.weight.detach(), param.kinds.numpy().astype(np.uint8),
                                    param.block)
        acc_frac = fr["in_frac"] + w_frac
        bias = np.floor(lin.bias.detach().double().numpy() * 2.0 ** acc_frac + 0.5).astype(np.int64)
        last = n == len(entries) - 1
        if relu == last:
            raise ValueError(f"layer {idx}: hidden layers need a ReLU and the last layer none")
        out = QType(bits=quant.bits, frac=fr["out_frac"], signed=quant.signed)
        if in_features is None:
            in_features = lin.in_features
        layers.append(DenseLayer(
            name=f"fc{n}", in_features=lin.in_features, out_features=lin.out_features,
            block=tuple(param.block), kinds=kinds, weight=weight, bias=bias, w_bits=w_bits,
            w_frac=w_frac, output=out, relu=relu))
    if not layers:
        raise ValueError("the model has no Linear layer")
    net = Network(name=name, input_features=int(in_features), input=input_type,
                  layers=tuple(layers), meta=json_safe(dict(meta or {})))
    validate(net)
    return net
