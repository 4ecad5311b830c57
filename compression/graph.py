"""Import a user's network into a float layer list (the compressor's IR), from ``torch.fx``
or from an ONNX file, and fold BatchNorm into the preceding conv/linear (an IR pass).

The float IR is a list of :class:`FloatOp`: ``conv2d`` (weight ``[O, C, Kh, Kw]``, bias,
stride, padding), ``linear`` (weight ``[O, I]``, bias), ``batchnorm`` (scale, shift, eps and
the running statistics), ``relu``, ``maxpool2d`` / ``avgpool2d`` (kernel), ``flatten``.
Both importers give the same list for the same network, so the compressed artifacts are
identical. Only a chain is supported (each operation reads the previous one's output);
anything else is one :class:`UnsupportedLayer` error naming the node, its type and its
place in the graph.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

__all__ = ["FloatOp", "SUPPORTED", "UnsupportedLayer", "fold_batchnorm", "from_fx", "from_onnx"]

SUPPORTED = ("Conv2d", "BatchNorm1d", "BatchNorm2d", "ReLU", "MaxPool2d", "AvgPool2d",
             "Flatten", "Linear", "Dropout (identity)")


class UnsupportedLayer(ValueError):
    """A layer or graph shape the compressor cannot map to hlsgen layers."""


@dataclass(frozen=True, eq=False)
class FloatOp:
    kind: str                   # conv2d, linear, batchnorm, relu, maxpool2d, avgpool2d, flatten
    name: str                   # where it came from (fx node / ONNX node name)
    weight: np.ndarray | None = None
    bias: np.ndarray | None = None
    attrs: dict[str, Any] = field(default_factory=dict)


def _fail(place: int, name: str, type_name: str, problem: str) -> None:
    raise UnsupportedLayer(f"graph node {place} {name!r} ({type_name}): {problem}; supported "
                           f"layers are {', '.join(SUPPORTED)} in a chain; replace or remove "
                           "it in the model")


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, (tuple, list)):
        return (int(v[0]), int(v[1]))
    return (int(v), int(v))


def _pool_kernel(place: int, name: str, tname: str, kernel: Any, stride: Any, padding: Any,
                 ceil: bool, dilation: Any = 1) -> tuple[int, int]:
    k = _pair(kernel)
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) \
        else _pair(stride)
    if s != k or _pair(padding) != (0, 0) or ceil or _pair(dilation) != (1, 1):
        _fail(place, name, tname, f"pooling needs stride = kernel {k}, no padding, no "
              f"dilation and floor mode (got stride {s}, padding {padding}, ceil {ceil})")
    if any(v & (v - 1) for v in k):
        _fail(place, name, tname, f"pooling windows must be powers of two, got {k}")
    return k


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().to(torch.float64).cpu().numpy().copy()


def _conv_op(place: int, name: str, m: nn.Conv2d) -> FloatOp:
    tname = type(m).__name__
    if m.groups != 1:
        _fail(place, name, tname, f"groups {m.groups}: only groups 1 is supported")
    if _pair(m.dilation) != (1, 1) or m.padding_mode != "zeros":
        _fail(place, name, tname, "only dilation 1 and zero padding are supported")
    if isinstance(m.padding, str):
        if m.padding != "valid":
            _fail(place, name, tname, f"padding {m.padding!r}: give the padding as integers")
        pad = (0, 0)
    else:
        pad = _pair(m.padding)
    w = _np(m.weight)
    bias = _np(m.bias) if m.bias is not None else np.zeros(w.shape[0])
    return FloatOp("conv2d", name, w, bias, {"stride": _pair(m.stride), "padding": pad,
                                              "kernel": _pair(m.kernel_size)})


def _bn_op(name: str, m: nn.Module) -> FloatOp:
    return FloatOp("batchnorm", name, _np(m.weight) if m.weight is not None else None,
                   _np(m.bias) if m.bias is not None else None,
                   {"mean": _np(m.running_mean), "var": _np(m.running_var), "eps": float(m.eps)})


def from_fx(model: nn.Module) -> list[FloatOp]:
    """Trace ``model`` with ``torch.fx`` and map its nodes to float operations."""
    from torch import fx

    try:
        gm = fx.symbolic_trace(model)
    except Exception as exc:  # noqa: BLE001 -- any tracing failure is the same problem
        raise UnsupportedLayer(f"torch.fx cannot trace {type(model).__name__} ({exc}); "
                               "write the forward as a plain chain of supported layers")
    mods = dict(gm.named_modules())
    ops: list[FloatOp] = []
    prev = None
    place = 0
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if prev is not None:
                _fail(place, node.name, "input", "the model must take exactly one input")
            prev = node
            continue
        if node.op == "output":
            if node.args[0] is not prev:
                _fail(place, node.name, "output", "the output must be the last operation")
            break
        place += 1
        label = str(node.target) if node.op == "call_module" else node.name
        tensor_args = [a for a in node.args if isinstance(a, fx.Node)]
        tensor_args += [a for a in node.kwargs.values() if isinstance(a, fx.Node)]
        if node.op == "call_module":
            m = mods[node.target]
            tname = type(m).__name__
        elif node.op == "call_function":
            tname = getattr(node.target, "__name__", str(node.target))
            m = None
        elif node.op == "call_method":
            tname = f"Tensor.{node.target}"
            m = None
        else:
            tname = node.op
            m = None
        if node.op == "get_attr":
            _fail(place, label, tname, "parameters used outside a layer are not supported")
        if len(tensor_args) != 1 or tensor_args[0] is not prev:
            _fail(place, label, tname, "the graph is not a chain (an operation reads "
                  "several tensors or not the previous result; residual adds are not "
                  "supported yet)")
        op = None
        if isinstance(m, nn.Conv2d):
            op = _conv_op(place, node.target, m)
        elif isinstance(m, nn.Linear):
            op = FloatOp("linear", node.target, _np(m.weight),
                         _np(m.bias) if m.bias is not None else np.zeros(m.out_features))
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if not m.track_running_stats or m.running_mean is None:
                _fail(place, label, tname, "BatchNorm needs running statistics to fold")
            op = _bn_op(node.target, m)
        elif isinstance(m, nn.ReLU) or (m is None and node.target in (
                torch.relu, torch.nn.functional.relu, "relu")):
            op = FloatOp("relu", node.name)
        elif isinstance(m, nn.MaxPool2d):
            op = FloatOp("maxpool2d", node.target, attrs={"kernel": _pool_kernel(
                place, node.target, tname, m.kernel_size, m.stride, m.padding, m.ceil_mode,
                m.dilation)})
        elif isinstance(m, nn.AvgPool2d):
            if m.divisor_override is not None:
                _fail(place, label, tname, "divisor_override is not supported")
            op = FloatOp("avgpool2d", node.target, attrs={"kernel": _pool_kernel(
                place, node.target, tname, m.kernel_size, m.stride, m.padding, m.ceil_mode)})
        elif isinstance(m, nn.Flatten) or (m is None and node.target in (torch.flatten,
                                                                          "flatten")):
            start = m.start_dim if m is not None else (node.args[1] if len(node.args) > 1
                                                        else node.kwargs.get("start_dim", 0))
            end = m.end_dim if m is not None else node.kwargs.get("end_dim", -1)
            if start != 1 or end != -1:
                _fail(place, label, tname, "only flattening from dimension 1 is supported")
            op = FloatOp("flatten", node.name)
        elif isinstance(m, (nn.Dropout, nn.Identity)):
            prev = node
            continue
        if op is None:
            _fail(place, label, tname, f"{tname} is not supported")
        ops.append(op)
        prev = node
    return ops


def from_onnx(path_or_model: Any) -> list[FloatOp]:
    """Map an ONNX graph (a file, bytes or an ``onnx.ModelProto``; e.g. written by
    ``torch.onnx.export``) to float operations."""
    import onnx
    from onnx import numpy_helper

    model = path_or_model
    if not isinstance(model, onnx.ModelProto):
        model = onnx.load(str(path_or_model)) if not isinstance(model, bytes) \
            else onnx.load_from_string(model)
    g = model.graph
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in g.initializer}
    for n in g.node:  # constants: Identity of an initializer, Constant nodes
        if n.op_type == "Identity" and n.input[0] in init:
            init[n.output[0]] = init[n.input[0]]
        elif n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    init[n.output[0]] = numpy_helper.to_array(a.t).astype(np.float64)
    inputs = [i.name for i in g.input if i.name not in init]
    if len(inputs) != 1:
        raise UnsupportedLayer(f"the ONNX graph has {len(inputs)} data inputs; export a "
                               "model with exactly one input")
    prev = inputs[0]
    ops: list[FloatOp] = []
    place = 0
    for n in g.node:
        if n.op_type in ("Identity", "Constant") and n.output[0] in init:
            continue
        place += 1
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}
        data = [i for i in n.input if i and i not in init]
        name = n.name or n.output[0]
        if data != [prev]:
            _fail(place, name, n.op_type, "the graph is not a chain (an operation reads "
                  "several tensors or not the previous result)")
        t = n.op_type
        if t == "Conv":
            if attrs.get("group", 1) != 1:
                _fail(place, name, t, f"group {attrs['group']}: only groups 1 is supported")
            if any(d != 1 for d in attrs.get("dilations", [1, 1])):
                _fail(place, name, t, "only dilation 1 is supported")
            pads = list(attrs.get("pads", [0, 0, 0, 0]))
            if pads[:2] != pads[2:]:
                _fail(place, name, t, f"asymmetric padding {pads} is not supported")
            w = init[n.input[1]]
            b = init[n.input[2]] if len(n.input) > 2 and n.input[2] else np.zeros(w.shape[0])
            ops.append(FloatOp("conv2d", name, w, b, {
                "stride": _pair(list(attrs.get("strides", [1, 1]))),
                "padding": _pair(pads[:2]), "kernel": (w.shape[2], w.shape[3])}))
        elif t == "Gemm":
            if attrs.get("transA", 0) or attrs.get("alpha", 1.0) != 1.0 \
                    or attrs.get("beta", 1.0) != 1.0:
                _fail(place, name, t, "only Gemm with alpha 1, beta 1 and no transA")
            w = init[n.input[1]]
            if not attrs.get("transB", 0):
                w = w.T
            b = init[n.input[2]] if len(n.input) > 2 and n.input[2] else np.zeros(w.shape[0])
            ops.append(FloatOp("linear", name, w, b))
        elif t == "BatchNormalization":
            ops.append(FloatOp("batchnorm", name, init[n.input[1]], init[n.input[2]], {
                "mean": init[n.input[3]], "var": init[n.input[4]],
                "eps": float(attrs.get("epsilon", 1e-5))}))
        elif t == "Relu":
            ops.append(FloatOp("relu", name))
        elif t in ("MaxPool", "AveragePool"):
            k = _pool_kernel(place, name, t, list(attrs["kernel_shape"]),
                             list(attrs.get("strides", [])) or None,
                             _pair(list(attrs.get("pads", [0, 0, 0, 0]))[:2])
                             if max(attrs.get("pads", [0])) == 0 else attrs["pads"],
                             bool(attrs.get("ceil_mode", 0)),
                             _pair(list(attrs.get("dilations", [1, 1]))))
            ops.append(FloatOp("maxpool2d" if t == "MaxPool" else "avgpool2d", name,
                               attrs={"kernel": k}))
        elif t == "Flatten":
            if attrs.get("axis", 1) != 1:
                _fail(place, name, t, "only flattening from axis 1 is supported")
            ops.append(FloatOp("flatten", name))
        elif t == "Dropout":
            pass
        else:
            _fail(place, name, t, f"{t} is not supported")
        prev = n.output[0]
    return ops


def fold_batchnorm(ops: Sequence[FloatOp]) -> list[FloatOp]:
    """The IR pass folding every BatchNorm into the conv/linear right before it:
    ``W' = W * g / sqrt(var + eps)`` (per output channel), ``b' = (b - mean) * g /
    sqrt(var + eps) + beta``."""
    out: list[FloatOp] = []
    for i, op in enumerate(ops):
        if op.kind != "batchnorm":
            out.append(op)
            continue
        if not out or out[-1].kind not in ("conv2d", "linear"):
            raise UnsupportedLayer(f"graph node {i + 1} {op.name!r} (BatchNorm): it must "
                                   "directly follow a Conv2d or Linear to be folded; move it")
        prev = out.pop()
        mean, var, eps = op.attrs["mean"], op.attrs["var"], op.attrs["eps"]
        gamma = op.weight if op.weight is not None else np.ones_like(mean)
        beta = op.bias if op.bias is not None else np.zeros_like(mean)
        scale = gamma / np.sqrt(var + eps)
        shape = (-1,) + (1,) * (prev.weight.ndim - 1)
        out.append(FloatOp(prev.kind, prev.name, prev.weight * scale.reshape(shape),
                           (prev.bias - mean) * scale + beta, dict(prev.attrs)))
    return out


def describe(ops: Sequence[FloatOp]) -> str:
    return " -> ".join(op.kind for op in ops)

