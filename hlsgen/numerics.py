"""The reference integer arithmetic: the one definition every other part is checked against.

Contract (DESIGN.md, "Numerics"):

* activations and weights are integers with power-of-two scales (``QType.frac``);
* a dense layer computes the exact integer ``acc = W @ x + b`` (bias at accumulator scale);
* requantize: ``y = (acc + (1 << (s-1))) >> s`` (arithmetic shift, i.e. floor; nothing added
  when ``s == 0``), then ReLU if fused, then saturate to the output type.

The same module answers range questions (how wide must a sum be so it never wraps), so the
plan derives hardware widths from the very arithmetic it must reproduce.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

from .fixedpoint import QType

if TYPE_CHECKING:  # the IR imports this module, never the reverse at run time
    from .network import Network

MAX_ACC_BITS = 62  # the reference keeps accumulators in int64; wider designs are refused


class WidthError(ValueError):
    """A requested configuration would need accumulators wider than the tools support."""


def signed_width(lo: int, hi: int) -> int:
    """Bits of the smallest two's-complement type holding every integer in ``[lo, hi]``."""
    lo, hi = min(lo, 0), max(hi, 0)
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def term_range(w: int, q: QType) -> tuple[int, int]:
    """Range of ``w * x`` for ``x`` of type ``q``."""
    a, b = w * q.lo, w * q.hi
    return min(a, b), max(a, b)


def sum_range(coeffs: Iterable[int], q: QType, const: int = 0) -> tuple[int, int]:
    """A range that holds ``sum(c_j * x_j) + const`` *and every partial sum of it*.

    Each term's range is widened to include zero, so any adder-tree order stays in range:
    hardware sized by this never wraps, not even in an intermediate node.
    """
    lo = min(const, 0)
    hi = max(const, 0)
    for c in coeffs:
        t_lo, t_hi = term_range(int(c), q)
        lo += min(t_lo, 0)
        hi += max(t_hi, 0)
    return lo, hi


def value_range(coeffs: Iterable[int], q: QType, const: int = 0) -> tuple[int, int]:
    """The exact range of ``sum(c_j * x_j) + const`` over independent inputs of type ``q``
    (tighter than :func:`sum_range`; decides whether saturation logic is needed at all)."""
    lo = hi = const
    for c in coeffs:
        t_lo, t_hi = term_range(int(c), q)
        lo += t_lo
        hi += t_hi
    return lo, hi


def check_acc_width(bits: int, where: str) -> int:
    """Refuse accumulators the reference cannot hold exactly."""
    if bits > MAX_ACC_BITS:
        raise WidthError(f"{where}: the accumulator needs {bits} bits, more than the "
                         f"{MAX_ACC_BITS} the reference model supports; lower w_bits or a_bits, "
                         "or split the layer")
    return bits


def requantize(acc: np.ndarray, shift: int, relu: bool, out: QType) -> np.ndarray:
    """Round half up by ``shift`` bits, apply ReLU if fused, saturate to ``out``."""
    acc = np.asarray(acc, dtype=np.int64)
    if shift >= MAX_ACC_BITS:
        raise WidthError(f"a requantize shift of {shift} bits needs a rounding constant wider "
                         f"than the {MAX_ACC_BITS}-bit accumulators supported; check the fracs")
    if shift > 0:
        y = (acc + (1 << (shift - 1))) >> shift
    else:
        y = acc.copy()
    if relu:
        y = np.maximum(y, 0)
    return np.clip(y, out.lo, out.hi)


def layer_shift(in_q: QType, layer: Any) -> int:
    """The requantize shift of a weighted layer: accumulator frac minus output frac."""
    return in_q.frac + layer.w_frac - layer.output.frac


def dense_acc(layer: Any, x: np.ndarray) -> np.ndarray:
    """Exact accumulator ``x @ W.T + b`` for a batch ``x`` of shape ``[N, in]``."""
    x = np.asarray(x, dtype=np.int64)
    return x @ layer.weight.T + layer.bias


def check_input(net: "Network", x: np.ndarray) -> np.ndarray:
    """Validate a batch of integer input vectors against the network's input type."""
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != net.input_features:
        raise ValueError(f"inputs must have shape [N, {net.input_features}], got {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise ValueError("inputs must be integers; quantize them with numerics.quantize first")
    if x.size and (x.min() < net.input.lo or x.max() > net.input.hi):
        raise ValueError(f"inputs must lie in [{net.input.lo}, {net.input.hi}] "
                         f"({net.input.bits}-bit {'signed' if net.input.signed else 'unsigned'})")
    return x.astype(np.int64)


def forward_all(net: "Network", x: np.ndarray) -> list[np.ndarray]:
    """Every layer's integer output for a batch of integer inputs ``[N, in]``; each layer
    kind executes itself from this module's primitives."""
    h = check_input(net, x)
    outs = []
    for i, layer in enumerate(net.layers):
        h = layer.execute(h, net.layer_input(i))
        outs.append(h)
    return outs


def forward(net: "Network", x: np.ndarray) -> np.ndarray:
    """The network's integer output ``[N, out]`` — the golden model for RTL and C simulation."""
    return forward_all(net, x)[-1]


def predict(outputs: np.ndarray) -> np.ndarray:
    """Class index per output vector (first maximum wins, identically for every backend)."""
    return np.argmax(np.asarray(outputs), axis=1)


def quantize(x: np.ndarray, q: QType) -> np.ndarray:
    """Float values to integers of type ``q``: round half up, saturate."""
    x = np.asarray(x, dtype=np.float64)
    if np.any(np.isnan(x)):
        raise ValueError("cannot quantize NaN values; clean the inputs first")
    scaled = np.floor(x * (2.0 ** q.frac) + 0.5)
    return np.clip(scaled, q.lo, q.hi).astype(np.int64)


def dequantize(v: np.ndarray, frac: int) -> np.ndarray:
    """Integers with ``frac`` fractional bits back to floats."""
    return np.asarray(v, dtype=np.float64) * (2.0 ** -frac)


def frac_for_range(max_abs: float, bits: int, signed: bool) -> int:
    """The largest ``frac`` such that ``max_abs`` still fits ``bits`` (power-of-two scale)."""
    limit = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
    if max_abs <= 0:
        return bits - 1
    frac = int(np.floor(np.log2(limit / max_abs)))
    return max(-32, min(32, frac))


def pack(values: Sequence[int], width: int) -> int:
    """Pack integers into one word, element 0 in the least significant bits (two's complement)."""
    word = 0
    mask = (1 << width) - 1
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack(word: int, count: int, width: int, signed: bool) -> list[int]:
    """Inverse of :func:`pack`."""
    mask = (1 << width) - 1
    out = []
    for i in range(count):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out
