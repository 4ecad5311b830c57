"""Per-layer widths: the input width and each hidden layer's activation width.

HGQ-style learned widths are the other lever of LUT-minimal networks besides the weights:
every adder of a layer is about as wide as the layer's input. The compressor narrows them
where the accuracy allows (``CompressConfig.widths = "auto"``), by a documented greedy rule
measured on the *training* split (the test split never chooses anything):

* **input**: the data's integers (``src``, e.g. ``DIGITS_INPUT``) are converted to a
  narrower unsigned/signed type by :func:`hlsgen.numerics.convert` (round half up,
  saturate); the narrowest width whose converted training inputs keep the dense float
  model's training accuracy within ``tol`` of the full width is taken. The fraction bits are
  the most the width allows for the data's range, never more than ``src`` has, so a width
  that holds every value (5 bits for the 0..16 digits pixels) is exact;
* **activations**: after the structure is frozen and the quantizers calibrated, each hidden
  layer in turn takes the narrowest width (from ``a_bits`` down to 2) whose fake-quantized
  model keeps its training accuracy within ``tol`` of the accuracy at the start of the
  search; each trial recalibrates every scale. The logits keep ``a_bits`` (they feed no
  adder, only the comparison);
* **weights** (``widths = "all"``, besides the two above): before ADMM, each layer in turn
  takes the narrowest weight width (from ``w_bits`` down to ``MIN_W_BITS``) whose plain
  quantization of the dense model's weights (the power-of-two scale of least squared error;
  the layers before it quantized at their chosen widths) keeps the training accuracy within
  ``tol`` of the float model's. ADMM, the projection and the artifact then use each layer's
  own width; with the cost objective a narrower layer has fewer digits to buy;
* **per-feature input widths** (``CompressConfig.input_widths = "auto"``), after the input
  type is chosen: each feature keeps the fewest bits that hold its largest converted
  *training* value (:func:`hlsgen.numerics.kept_bits`; 0 for a feature that is always 0:
  dropped), recorded in the artifact's ``input_bits``. A larger test value wraps (the
  network keeps only those low bits, ``hlsgen.numerics.wrap_inputs``), as HGQ's WRAP inputs.

Fine-tuning follows the choice, so the weights adapt to the narrower types.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from hlsgen.artifact import QType
from hlsgen.numerics import convert, frac_for_range, kept_bits

from .model import ActFakeQuant, accuracy, calibrate, linear_layers
from .projection import quantize_to_grid, weight_frac

__all__ = ["choose_act_bits", "choose_input_bits", "choose_input_widths", "choose_weight_bits",
           "input_type", "quantized_weight"]

MIN_BITS = 2
MIN_W_BITS = 3  # below it a layer is ternary / binary: every kept block unified, no dense


def input_type(src: QType, x: np.ndarray, bits: int) -> QType:
    """The ``bits``-wide type the integers ``x`` (of type ``src``) convert to: the finest
    power-of-two scale that holds their largest magnitude, at most ``src``'s."""
    top = float(np.abs(np.asarray(x, dtype=np.int64)).max(initial=0)) * 2.0 ** -src.frac
    frac = min(src.frac, frac_for_range(top, bits, src.signed))
    return QType(bits=int(bits), frac=int(frac), signed=src.signed)


def choose_input_widths(src: QType, x_train: np.ndarray, in_q: QType) -> tuple[int, ...]:
    """Per input feature, the fewest bits of ``in_q`` that hold its converted training
    values (``x_train`` of type ``src``); 0 for a feature that is always 0 (dropped)."""
    return kept_bits(convert(x_train, src, in_q), in_q)


def as_float(x: np.ndarray, q: QType) -> torch.Tensor:
    return torch.tensor(np.asarray(x, dtype=np.float64) * 2.0 ** -q.frac, dtype=torch.float32)


def choose_input_bits(model: nn.Module, x: np.ndarray, y: torch.Tensor, src: QType,
                      tol: float) -> QType:
    """The narrowest input type whose converted training inputs keep ``model``'s accuracy
    within ``tol`` of the unconverted inputs (see the module docstring)."""
    ref = accuracy(model, as_float(x, src), y)
    best = src
    for bits in range(src.bits - 1, MIN_BITS - 1, -1):
        q = input_type(src, x, bits)
        if accuracy(model, as_float(convert(x, src, q), q), y) < ref - tol:
            break
        best = q
    return best


def choose_act_bits(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, input_frac: int,
                    tol: float, percentile: float) -> list[int]:
    """Narrow each hidden layer's activation quantizer in turn (see the module docstring);
    leaves the model calibrated at the chosen widths and returns them per Linear."""
    quants: list[ActFakeQuant] = [q for _, _, q, relu in linear_layers(model)
                                  if q is not None and relu]
    calibrate(model, x, input_frac, percentile=percentile)
    ref = accuracy(model, x, y)
    for q in quants:
        keep = q.bits
        for bits in range(q.bits - 1, MIN_BITS - 1, -1):
            q.bits = bits
            calibrate(model, x, input_frac, percentile=percentile)
            if accuracy(model, x, y) < ref - tol:
                break
            keep = bits
        q.bits = keep
        calibrate(model, x, input_frac, percentile=percentile)
    return [q.bits for _, _, q, _ in linear_layers(model) if q is not None]


def quantized_weight(w: torch.Tensor, bits: int) -> torch.Tensor:
    """``w`` on the ``bits``-wide grid of the power-of-two scale with the least squared
    error (the range's scale and the three finer ones, which clip the largest weights)."""
    top = weight_frac(float(w.abs().max()), bits)
    best = None
    for frac in range(top, top + 4):
        q = quantize_to_grid(w, frac, bits)
        err = float(((q - w) ** 2).sum())
        if best is None or err < best[0]:
            best = (err, q)
    assert best is not None
    return best[1]


def choose_weight_bits(model: nn.Sequential, x: torch.Tensor, y: torch.Tensor, w_bits: int,
                       tol: float, min_bits: int = MIN_W_BITS) -> list[int]:
    """Each Linear's narrowest weight width within ``tol`` of the float training accuracy
    (see the module docstring); ``model``'s weights are left as they were."""
    linears = [lin for _, lin, _, _ in linear_layers(model)]
    saved = [lin.weight.detach().clone() for lin in linears]
    chosen: list[int] = []
    try:
        with torch.no_grad():
            ref = accuracy(model, x, y)
            for lin, w in zip(linears, saved):
                keep = w_bits
                for bits in range(w_bits - 1, min_bits - 1, -1):
                    lin.weight.copy_(quantized_weight(w, bits))
                    if accuracy(model, x, y) < ref - tol:
                        break
                    keep = bits
                # the later layers are judged with this one at its chosen width
                lin.weight.copy_(quantized_weight(w, keep))
                chosen.append(keep)
    finally:
        with torch.no_grad():
            for lin, w in zip(linears, saved):
                lin.weight.copy_(w)
    return chosen
