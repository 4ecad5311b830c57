"""The reference integer arithmetic: the one definition every other part is checked against.

Contract (DESIGN.md, "Numerics"):

* activations and weights are integers with power-of-two scales (``QType.frac``);
* a dense layer computes the exact integer ``acc = W @ x + b`` (bias at accumulator scale);
* requantize: ``y = (acc + (1 << (s-1))) >> s`` (arithmetic shift, i.e. floor; nothing added
  when ``s == 0``), then ReLU if fused, then saturate to the output type;
* per-feature input widths (the network's optional ``input_bits``): before the first layer,
  feature ``i`` keeps only its low ``input_bits[i]`` bits with WRAP semantics, the input
  type's signedness and frac unchanged (:func:`wrap_inputs`): unsigned ``x & (2**b - 1)``,
  signed the low ``b`` bits sign-extended, ``b == 0`` the constant 0 (the feature is dropped).
  Inputs are still given in the network's input type; the wrap is part of the network.

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


def term_range(w: int, q: QType, x_range: tuple[int, int] | None = None) -> tuple[int, int]:
    """Range of ``w * x`` for ``x`` of type ``q`` (or in ``x_range`` when given)."""
    x_lo, x_hi = (q.lo, q.hi) if x_range is None else x_range
    a, b = w * x_lo, w * x_hi
    return min(a, b), max(a, b)


def wrapped_range(q: QType, bits: int) -> tuple[int, int]:
    """The values a feature of type ``q`` can take after keeping its low ``bits`` bits
    (:func:`wrap_inputs`): ``[0, 2**b - 1]`` unsigned, ``[-2**(b-1), 2**(b-1) - 1]`` signed,
    ``[0, 0]`` for ``b == 0``; ``b == q.bits`` is the whole type."""
    if not 0 <= bits <= q.bits:
        raise ValueError(f"an input width of {bits} bits is outside [0, {q.bits}]")
    if bits == 0:
        return 0, 0
    return QType(bits, q.frac, q.signed).lo, QType(bits, q.frac, q.signed).hi


def input_ranges(q: QType, bits: Sequence[int] | None, count: int) -> tuple[tuple[int, int], ...]:
    """Every feature's value range: ``q``'s whole range, or per feature its kept width's."""
    if bits is None:
        return ((q.lo, q.hi),) * count
    return tuple(wrapped_range(q, int(b)) for b in bits)


def wrap_inputs(x: np.ndarray, q: QType, bits: Sequence[int]) -> np.ndarray:
    """Feature ``i`` of a batch ``x`` ``[N, in]`` of type ``q`` keeps its low ``bits[i]`` bits
    (WRAP): unsigned ``x & (2**b - 1)``; signed the low ``b`` bits sign-extended (two's
    complement); ``b == 0`` gives 0 (the feature is dropped). Type and frac are unchanged."""
    x = np.asarray(x, dtype=np.int64)
    b = np.asarray(bits, dtype=np.int64)
    if b.shape != (x.shape[1],):
        raise ValueError(f"{len(b)} input widths for {x.shape[1]} features")
    if np.any(b < 0) or np.any(b > q.bits):
        raise ValueError(f"input widths must lie in [0, {q.bits}]")
    low = x & ((np.int64(1) << b) - 1)
    if not q.signed:
        return low
    sign = np.where(b > 0, np.int64(1) << np.maximum(b - 1, 0), 0)
    return np.where(low & sign, low - (sign << 1), low)


def kept_bits(x: np.ndarray, q: QType) -> tuple[int, ...]:
    """Per feature of a batch ``x`` ``[N, in]`` of type ``q``: the fewest bits whose wrap
    (:func:`wrap_inputs`) leaves every value of ``x`` unchanged; 0 for a feature that is
    always 0 (dropped). Unsigned: the largest value's bit length; signed: the narrowest
    two's-complement width holding the feature's minimum and maximum."""
    x = np.asarray(x, dtype=np.int64)
    out = []
    for col in x.T:
        lo, hi = int(col.min(initial=0)), int(col.max(initial=0))
        if lo == hi == 0:
            out.append(0)
        elif q.signed:
            out.append(min(q.bits, signed_width(lo, hi)))
        else:
            out.append(min(q.bits, hi.bit_length()))
    return tuple(out)


def sum_range(coeffs: Iterable[int], q: QType, const: int = 0,
              ranges: Sequence[tuple[int, int]] | None = None) -> tuple[int, int]:
    """A range that holds ``sum(c_j * x_j) + const`` *and every partial sum of it*, for
    inputs of type ``q`` (or ``x_j`` in ``ranges[j]`` when given: per-feature widths).

    Each term's range is widened to include zero, so any adder-tree order stays in range:
    hardware sized by this never wraps, not even in an intermediate node.
    """
    lo = min(const, 0)
    hi = max(const, 0)
    for j, c in enumerate(coeffs):
        t_lo, t_hi = term_range(int(c), q, None if ranges is None else ranges[j])
        lo += min(t_lo, 0)
        hi += max(t_hi, 0)
    return lo, hi


def value_range(coeffs: Iterable[int], q: QType, const: int = 0,
                ranges: Sequence[tuple[int, int]] | None = None) -> tuple[int, int]:
    """The exact range of ``sum(c_j * x_j) + const`` over independent inputs of type ``q``
    (or in ``ranges[j]``) (tighter than :func:`sum_range`; decides whether saturation logic
    is needed at all)."""
    lo = hi = const
    for j, c in enumerate(coeffs):
        t_lo, t_hi = term_range(int(c), q, None if ranges is None else ranges[j])
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
    if net.input_bits is not None:
        h = wrap_inputs(h, net.input, net.input_bits)
    outs = []
    for i, layer in enumerate(net.layers):
        h = layer.execute(h, net.layer_input(i))
        outs.append(h)
    return outs


def forward(net: "Network", x: np.ndarray) -> np.ndarray:
    """The network's integer output ``[N, out]`` — the golden model for RTL and C simulation."""
    return forward_all(net, x)[-1]


def output_vectors(net: "Network", x: np.ndarray) -> np.ndarray:
    """:func:`forward` as one vector per input ``[N, features]``: a network ending in a
    feature map gives it flattened in PyTorch order, as every backend streams it out."""
    return forward(net, x).reshape(len(x), -1)


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


def convert(x: np.ndarray, src: QType, dst: QType) -> np.ndarray:
    """Integers of type ``src`` as integers of type ``dst``: exact when ``dst`` is finer,
    rounded half up (like :func:`requantize`) when it is coarser; saturated to ``dst``.

    How data of one type (the digits pixels, ``DIGITS_INPUT``) reach a network whose
    compressor chose a narrower input type: the conversion is part of the input contract,
    done before the first layer, never inside the hardware."""
    x = np.asarray(x, dtype=np.int64)
    shift = src.frac - dst.frac
    if shift >= 0:
        return requantize(x, shift, False, dst)
    return np.clip(x << -shift, dst.lo, dst.hi)


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


# ------------------------------------------------------------------ feature-map primitives
# (conv2d, pooling and flatten in ``hlsgen/layers/`` execute with these and ``requantize``)


def conv_out_size(size: int, kernel: int, stride: int, padding: int) -> int:
    """Output length of a convolution along one axis (PyTorch's floor rule)."""
    return (size + 2 * padding - kernel) // stride + 1


def pad_zero(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Feature maps ``[N, C, H, W]`` surrounded by ``ph`` rows and ``pw`` columns of the
    integer 0 (the real value 0 of every activation type, signed or unsigned)."""
    x = np.asarray(x, dtype=np.int64)
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), mode="constant", constant_values=0)


def im2col(x: np.ndarray, kernel: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int]) -> np.ndarray:
    """The convolution windows of ``x`` ``[N, C, H, W]`` as ``[N, Ho, Wo, Kh*Kw*C]``.

    The window's column order is the conv weight matrix's (``hlsgen/layers/conv2d.py``):
    column ``(ky * Kw + kx) * C + c`` is channel ``c`` of the input pixel at kernel position
    ``(ky, kx)``, i.e. one pixel's channels are contiguous and pixels follow in raster order.
    """
    xp = pad_zero(x, padding[0], padding[1])
    n, c, hp, wp = xp.shape
    kh, kw = kernel
    sh, sw = stride
    ho, wo = (hp - kh) // sh + 1, (wp - kw) // sw + 1
    cols = np.empty((n, ho, wo, kh, kw, c), dtype=np.int64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, :, ky:ky + sh * (ho - 1) + 1:sh, kx:kx + sw * (wo - 1) + 1:sw]
            cols[:, :, :, ky, kx, :] = patch.transpose(0, 2, 3, 1)
    return cols.reshape(n, ho, wo, kh * kw * c)


def conv_acc(layer: Any, x: np.ndarray) -> np.ndarray:
    """Exact accumulators ``[N, O, Ho, Wo]`` of a conv layer (``layer.weight`` is its
    ``[O, Kh*Kw*C]`` matrix, ``layer.bias`` at accumulator scale) on ``x`` ``[N, C, H, W]``:
    the dense accumulator of every window."""
    cols = im2col(x, layer.kernel, layer.stride, layer.padding)
    acc = cols @ np.asarray(layer.weight, dtype=np.int64).T + np.asarray(layer.bias, np.int64)
    return acc.transpose(0, 3, 1, 2)


def pool_windows(x: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """Non-overlapping ``Kh x Kw`` windows (stride = kernel, no padding; rows and columns that
    do not fill a window are dropped, PyTorch's floor mode) of ``x`` ``[N, C, H, W]`` as
    ``[N, C, Ho, Wo, Kh*Kw]``."""
    x = np.asarray(x, dtype=np.int64)
    n, c, h, w = x.shape
    kh, kw = kernel
    ho, wo = h // kh, w // kw
    t = x[:, :, :ho * kh, :wo * kw].reshape(n, c, ho, kh, wo, kw)
    return t.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, kh * kw)


def pool_max(x: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """Max pooling: the largest integer of each window (the type is unchanged)."""
    return pool_windows(x, kernel).max(axis=-1)


def pool_sum(x: np.ndarray, kernel: tuple[int, int]) -> np.ndarray:
    """The exact integer sum of each pooling window."""
    return pool_windows(x, kernel).sum(axis=-1)


def pool_avg(x: np.ndarray, kernel: tuple[int, int], q: QType) -> np.ndarray:
    """Average pooling over power-of-two windows: the window sum requantized by
    ``log2(Kh*Kw)`` bits (round half up, the one rounding of :func:`requantize`) back to the
    input type ``q`` (an average never leaves its inputs' range: nothing saturates)."""
    size = kernel[0] * kernel[1]
    shift = size.bit_length() - 1
    if size != 1 << shift:
        raise ValueError(f"average pooling needs a power-of-two window, got {kernel}")
    return requantize(pool_sum(x, kernel), shift, False, q)
